//! The Redis link of one instance: redis-rs connections that come back on their own, and the
//! driver socketioxide-redis publishes and subscribes through.
//!
//! One Redis or a Redis Cluster ([`Target`]); either way the link:
//! - speaks RESP3 and sets TCP_NODELAY;
//! - reconnects on its own (redis-rs' `ConnectionManager` for one Redis, its cluster connection for
//!   a cluster, 50 ms doubling to 500 ms between attempts), and re-subscribes the shard channels
//!   after a reconnect (redis-rs' automatic resubscription);
//! - pings Redis every [`PING_EVERY`]: an idle `ConnectionManager` stops retrying after its
//!   retries run out and only tries again on the next command, and the ping is that command. The
//!   ping also decides the link's state ([`LinkDriver::state`]);
//! - after every reconnect, checks that this connection really is subscribed to every channel
//!   the adapter asked for (redis-rs ignores errors of its resubscription pipeline) and repairs it
//!   (`CLIENT INFO`'s `ssub` count for one Redis; `SSUBSCRIBE` again on a cluster);
//! - fails a publish or a command at once while the link is down and after a timeout otherwise,
//!   so that callers fall back (local delivery, the outbox) instead of stalling.
//!
//! Pub/sub messages reach the adapter through one router task, in order, waiting (not dropping)
//! when an adapter stream is full.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use gridcast_shared::RedisLink;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use redis::{
    Cmd, FromRedisValue, IntoConnectionInfo, Pipeline, ProtocolVersion, PushInfo, PushKind,
    RedisFuture, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClientBuilder,
    cluster_async::ClusterConnection,
    cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr},
    io::tcp::TcpSettings,
};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

use crate::{Error, redis::redact};

/// How often the link pings Redis.
pub const PING_EVERY: Duration = Duration::from_millis(250);

/// How long a ping, a registry or presence command, or an adapter command may wait for Redis.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// How long subscribing, unsubscribing and counting servers may take (the adapter's commands;
/// unsubscribing runs on shutdown, which a dead Redis must not hold up).
const ADAPTER_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the instances' Redis is.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// One Redis server (`redis://host:port[/db]`).
    Single(String),
    /// Seed nodes of a Redis Cluster.
    Cluster(Vec<String>),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Single(url) => f.write_str(&redact(url)),
            Target::Cluster(urls) => {
                let urls: Vec<String> = urls.iter().map(|u| redact(u)).collect();
                write!(f, "cluster {}", urls.join(","))
            }
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A Redis failure seen by the link.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Redis answered with an error, or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The link is down: the command was not sent.
    #[error("redis: the link is down (reconnecting)")]
    Down,
    /// No answer in time.
    #[error("redis: no answer within {0:?}")]
    Timeout(Duration),
    /// An answer of an unexpected shape.
    #[error("redis: unexpected answer: {0}")]
    Reply(String),
}

/// A connection to one Redis or to a cluster, shared by clones (both multiplex).
#[derive(Clone)]
pub enum Conn {
    /// One Redis.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Opens a connection to `target`: RESP3, TCP_NODELAY, reconnecting; answers waited for up to
/// `response_timeout`; pushes (pub/sub messages, disconnections) to `push`, and subscriptions
/// restored after a reconnect, when given.
pub async fn open(
    target: &Target,
    response_timeout: Duration,
    push: Option<mpsc::UnboundedSender<PushInfo>>,
) -> Result<Conn, Error> {
    let connect_err = |reason: String| Error::RedisConnect {
        target: target.to_string(),
        reason,
    };
    let tcp = TcpSettings::default().set_nodelay(true);
    let opening = async {
        match target {
            Target::Single(url) => {
                let info = url.as_str().into_connection_info()?;
                let settings = info
                    .redis_settings()
                    .clone()
                    .set_protocol(ProtocolVersion::RESP3);
                let info = info.set_redis_settings(settings).set_tcp_settings(tcp);
                let client = redis::Client::open(info)?;
                let mut config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(3)))
                    .set_response_timeout(Some(response_timeout))
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500))
                    .set_exponent_base(2.0);
                if let Some(push) = push {
                    config = config.set_push_sender(push).set_automatic_resubscription();
                }
                Ok::<_, redis::RedisError>(Conn::Single(
                    ConnectionManager::new_with_config(client, config).await?,
                ))
            }
            Target::Cluster(urls) => {
                let mut builder = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .use_protocol(ProtocolVersion::RESP3)
                    .tcp_settings(tcp)
                    .connection_timeout(Duration::from_secs(3))
                    .response_timeout(response_timeout)
                    .min_retry_wait(50)
                    .max_retry_wait(500);
                if let Some(push) = push {
                    builder = builder.push_sender(push);
                }
                let client = builder.build()?;
                Ok(Conn::Cluster(client.get_async_connection().await?))
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(5), opening).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(connect_err(e.to_string())),
        Err(_) => Err(connect_err("no answer within 5s".into())),
    }
}

/// `request`'s answer, or [`LinkError::Timeout`] after `timeout`.
async fn within<T>(
    timeout: Duration,
    request: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, LinkError> {
    match tokio::time::timeout(timeout, request).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(LinkError::Timeout(timeout)),
    }
}

/// Runs `cmd` on `conn`, waiting up to `timeout`.
pub async fn query<T: FromRedisValue>(
    conn: &Conn,
    cmd: &Cmd,
    timeout: Duration,
) -> Result<T, LinkError> {
    let mut conn = conn.clone();
    within(timeout, cmd.query_async(&mut conn)).await
}

/// Opens the connection that holds a cluster's subscriptions (pushes go to `push`).
async fn open_subscriber(
    target: &Target,
    response_timeout: Duration,
    push: mpsc::UnboundedSender<PushInfo>,
) -> Result<ClusterConnection, Error> {
    match open(target, response_timeout, Some(push)).await? {
        Conn::Cluster(conn) => Ok(conn),
        Conn::Single(_) => unreachable!("a cluster target opens a cluster connection"),
    }
}

type Handlers = HashMap<String, mpsc::Sender<ChanItem>>;

/// What clones of one link share.
struct Shared {
    target: Target,
    conn: Conn,
    /// Keys whose nodes must answer for the link to be up (on a cluster; one Redis is pinged).
    probe_keys: Vec<String>,
    /// On a cluster, the connection holding the subscriptions (pub/sub apart from commands: a
    /// failover can leave it stuck or unsubscribed, and then it is replaced).
    subscriber: Mutex<Option<ClusterConnection>>,
    /// Where pushes go (for a replacement subscriber connection).
    push: mpsc::UnboundedSender<PushInfo>,
    up: AtomicBool,
    handlers: RwLock<Handlers>,
    publish_timeout: Duration,
    publish_latency: Histogram,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// socketioxide-redis driver, and the connection the registry, presence, sessions and history
/// commands use.
#[derive(Clone)]
pub struct LinkDriver(Arc<Shared>);

impl fmt::Debug for LinkDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkDriver")
            .field("target", &self.0.target)
            .field("publish_timeout", &self.0.publish_timeout)
            .finish()
    }
}

/// Connects to `target` and returns the link of the instances using key prefix `prefix`.
///
/// Fails with a clear error, within a few seconds, when Redis cannot be reached; after that first
/// connection the link reconnects on its own.
pub async fn connect(
    target: &Target,
    publish_timeout: Duration,
    prefix: &str,
) -> Result<LinkDriver, Error> {
    let (push_tx, push_rx) = mpsc::unbounded_channel();
    let response_timeout = COMMAND_TIMEOUT.max(publish_timeout);
    let (conn, subscriber) = match target {
        Target::Single(_) => (
            open(target, response_timeout, Some(push_tx.clone())).await?,
            None,
        ),
        Target::Cluster(_) => (
            open(target, response_timeout, None).await?,
            Some(open_subscriber(target, response_timeout, push_tx.clone()).await?),
        ),
    };
    let link = LinkDriver(Arc::new(Shared {
        target: target.clone(),
        conn,
        subscriber: Mutex::new(subscriber),
        push: push_tx,
        // The nodes every broadcast and heartbeat needs.
        probe_keys: vec![
            super::history::key(prefix),
            super::registry::set_key(prefix),
        ],
        up: AtomicBool::new(true),
        handlers: RwLock::default(),
        publish_timeout,
        // 100 µs to ~3.3 s.
        publish_latency: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
        tasks: Mutex::default(),
    }));
    let route = tokio::spawn(route(Arc::downgrade(&link.0), push_rx));
    let watch = tokio::spawn(watch(Arc::downgrade(&link.0)));
    link.0
        .tasks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend([route, watch]);
    Ok(link)
}

/// Hands pub/sub messages to the adapter's streams, in order; marks the link down when a
/// connection drops.
async fn route(link: std::sync::Weak<Shared>, mut pushes: mpsc::UnboundedReceiver<PushInfo>) {
    while let Some(push) = pushes.recv().await {
        let Some(link) = link.upgrade() else { return };
        match push.kind {
            PushKind::Disconnection if link.up.swap(false, Ordering::SeqCst) => {
                tracing::warn!(redis = %link.target, "redis link lost, reconnecting");
            }
            PushKind::Message | PushKind::SMessage => {
                let mut data = push.data.into_iter();
                let (Some(chan), Some(payload)) = (data.next(), data.next()) else {
                    continue;
                };
                let (Ok(chan), Ok(payload)) = (
                    String::from_redis_value(chan),
                    Vec::<u8>::from_redis_value(payload),
                ) else {
                    tracing::warn!(redis = %link.target, "unreadable pub/sub message skipped");
                    continue;
                };
                let handler = link
                    .handlers
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&chan)
                    .cloned();
                if let Some(handler) = handler {
                    // Waits while the adapter's stream is full: later messages queue behind.
                    let _ = handler.send((chan, payload)).await;
                }
            }
            _ => {}
        }
    }
}

/// How many pings apart the subscriptions are checked while the link is up (a cluster failover
/// can move a channel's slot without the probe keys' nodes ever failing).
const CHECK_EVERY_PINGS: u64 = 8;

/// Pings Redis every [`PING_EVERY`]; on the way back up, checks and repairs the subscriptions
/// before the link counts as up again, and checks them every [`CHECK_EVERY_PINGS`] pings.
async fn watch(link: std::sync::Weak<Shared>) {
    let mut pings = 0u64;
    loop {
        let Some(shared) = link.upgrade() else { return };
        let ping = probe(&shared).await;
        let was_up = shared.up.load(Ordering::SeqCst);
        let driver = LinkDriver(shared.clone());
        pings += 1;
        match ping {
            Ok(()) if !was_up => match driver.repair_subscriptions().await {
                Ok(()) => {
                    shared.up.store(true, Ordering::SeqCst);
                    tracing::info!(redis = %shared.target, "redis link back");
                }
                Err(e) => {
                    tracing::warn!(redis = %shared.target, "redis answers, but re-subscribing failed, retrying: {e}")
                }
            },
            Ok(()) if pings.is_multiple_of(CHECK_EVERY_PINGS) => {
                if let Err(e) = driver.repair_subscriptions().await {
                    tracing::warn!(redis = %shared.target, "checking the subscriptions failed, retrying: {e}")
                }
            }
            Ok(()) => {}
            Err(e) => {
                if shared.up.swap(false, Ordering::SeqCst) {
                    tracing::warn!(redis = %shared.target, "redis link lost, reconnecting: {e}");
                }
            }
        }
        drop((driver, shared));
        tokio::time::sleep(PING_EVERY).await;
    }
}

/// Whether Redis answers: a `PING` to one Redis. On a cluster, an `EXISTS` of each probe key, so
/// that the nodes serving those slots answer (a `PING` goes to every primary the connection
/// knows, a failed one included, until a keyed command makes it read the new slot map).
async fn probe(shared: &Shared) -> Result<(), LinkError> {
    match shared.conn {
        Conn::Single(_) => query::<Value>(&shared.conn, &redis::cmd("PING"), COMMAND_TIMEOUT)
            .await
            .map(drop),
        Conn::Cluster(_) => {
            let probes = shared.probe_keys.iter().map(|key| {
                let cmd = redis::cmd("EXISTS").arg(key).clone();
                async move { query::<Value>(&shared.conn, &cmd, COMMAND_TIMEOUT).await }
            });
            for result in futures_util::future::join_all(probes).await {
                result?;
            }
            Ok(())
        }
    }
}

/// Runs `cmd` on the master serving `key`'s slot.
async fn on_master_of<T: FromRedisValue>(
    conn: &ClusterConnection,
    key: &str,
    cmd: redis::Cmd,
    timeout: Duration,
) -> Result<T, LinkError> {
    let mut conn = conn.clone();
    let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(
        key,
        SlotAddr::Master,
    )));
    let value = within(timeout, conn.route_command(cmd, route)).await?;
    T::from_redis_value(value).map_err(|e| LinkError::Reply(format!("{e}")))
}

/// The value of `field` in a `CLIENT INFO` line.
fn client_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.split_whitespace()
        .find_map(|f| f.strip_prefix(field)?.strip_prefix('='))
}

/// The `ssub` count of a `CLIENT INFO` line.
fn shard_subscriptions(info: &str) -> Option<usize> {
    client_field(info, "ssub").and_then(|n| n.parse().ok())
}

impl LinkDriver {
    /// Whether the connection to Redis is up right now.
    pub fn state(&self) -> RedisLink {
        if self.0.up.load(Ordering::SeqCst) {
            RedisLink::Up
        } else {
            RedisLink::Reconnecting
        }
    }

    /// Where the link goes.
    pub fn target(&self) -> &Target {
        &self.0.target
    }

    /// Runs `cmd`: at once an error while the link is down, after [`COMMAND_TIMEOUT`] without an
    /// answer otherwise, so an HTTP request or a handler never waits on a dead Redis.
    pub async fn command<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, LinkError> {
        self.command_within(cmd, COMMAND_TIMEOUT).await
    }

    /// [`LinkDriver::command`] with another timeout.
    pub async fn command_within<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        timeout: Duration,
    ) -> Result<T, LinkError> {
        if !self.0.up.load(Ordering::SeqCst) {
            return Err(LinkError::Down);
        }
        query(&self.0.conn, cmd, timeout).await
    }

    /// Runs `pipe` like [`LinkDriver::command`] runs a command.
    pub async fn pipeline<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, LinkError> {
        if !self.0.up.load(Ordering::SeqCst) {
            return Err(LinkError::Down);
        }
        let mut conn = self.0.conn.clone();
        within(COMMAND_TIMEOUT, pipe.query_async(&mut conn)).await
    }

    /// Makes sure this connection is subscribed to every channel the adapter asked for.
    async fn repair_subscriptions(&self) -> Result<(), LinkError> {
        let channels: Vec<String> = self
            .0
            .handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        if channels.is_empty() {
            return Ok(());
        }
        let missing: Vec<String> = match &self.0.conn {
            Conn::Single(_) => {
                let info: String = query(
                    &self.0.conn,
                    redis::cmd("CLIENT").arg("INFO"),
                    COMMAND_TIMEOUT,
                )
                .await?;
                let subscribed = shard_subscriptions(&info).ok_or_else(|| {
                    LinkError::Reply(format!("no ssub count in CLIENT INFO: {info}"))
                })?;
                if subscribed < channels.len() {
                    channels.clone()
                } else {
                    Vec::new()
                }
            }
            Conn::Cluster(_) => {
                // Checked on the subscriber connection; if it cannot tell (stuck after a
                // failover) or lacks a channel, it is replaced by a fresh one.
                match self.cluster_missing(&channels).await {
                    Ok(missing) if missing.is_empty() => Vec::new(),
                    Ok(_) | Err(_) => return self.replace_subscriber(&channels).await,
                }
            }
        };
        if !missing.is_empty() {
            for chan in &missing {
                self.ssubscribe(chan).await?;
            }
            tracing::warn!(redis = %self.0.target, channels = missing.len(), "subscriptions were missing after a reconnect: subscribed again");
        }
        Ok(())
    }

    fn subscriber(&self) -> Option<ClusterConnection> {
        self.0
            .subscriber
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The channels the subscriber connection lacks, asking the node serving each channel's slot
    /// (`CLIENT INFO` describes the asking connection: its `ssub` count, grouped by node).
    async fn cluster_missing(&self, channels: &[String]) -> Result<Vec<String>, LinkError> {
        let conn = self.subscriber().ok_or(LinkError::Down)?;
        let mut by_node: HashMap<String, (usize, Vec<String>)> = HashMap::new();
        for chan in channels {
            let info: String = on_master_of(
                &conn,
                chan,
                redis::cmd("CLIENT").arg("INFO").clone(),
                COMMAND_TIMEOUT,
            )
            .await?;
            let (Some(node), Some(subscribed)) =
                (client_field(&info, "laddr"), shard_subscriptions(&info))
            else {
                return Err(LinkError::Reply(format!("CLIENT INFO: {info}")));
            };
            let entry = by_node.entry(node.to_owned()).or_default();
            entry.0 = subscribed;
            entry.1.push(chan.clone());
        }
        Ok(by_node
            .into_values()
            .filter(|(subscribed, chans)| *subscribed < chans.len())
            .flat_map(|(_, chans)| chans)
            .collect())
    }

    /// Opens a new subscriber connection, subscribes it to `channels`, and drops the old one.
    async fn replace_subscriber(&self, channels: &[String]) -> Result<(), LinkError> {
        let mut fresh = open_subscriber(
            &self.0.target,
            COMMAND_TIMEOUT.max(self.0.publish_timeout),
            self.0.push.clone(),
        )
        .await
        .map_err(|e| LinkError::Reply(e.to_string()))?;
        // One channel per command: each may live in another slot.
        for chan in channels {
            within(ADAPTER_COMMAND_TIMEOUT, fresh.ssubscribe(chan)).await?;
        }
        *self.0.subscriber.lock().unwrap_or_else(|p| p.into_inner()) = Some(fresh);
        tracing::warn!(redis = %self.0.target, channels = channels.len(), "subscriptions were missing after a reconnect: re-subscribed on a new connection");
        Ok(())
    }

    async fn ssubscribe(&self, chan: &str) -> Result<(), LinkError> {
        match &self.0.conn {
            // A raw SSUBSCRIBE of one channel is answered by one confirmation, which the
            // connection takes as the reply and records for its automatic resubscription.
            Conn::Single(_) => query::<Value>(
                &self.0.conn,
                redis::cmd("SSUBSCRIBE").arg(chan),
                ADAPTER_COMMAND_TIMEOUT,
            )
            .await
            .map(drop),
            Conn::Cluster(_) => {
                let mut conn = self.subscriber().ok_or(LinkError::Down)?;
                within(ADAPTER_COMMAND_TIMEOUT, conn.ssubscribe(chan)).await
            }
        }
    }

    /// Opens another connection to the same Redis, without pub/sub, whose answers may take up to
    /// `response_timeout` (for blocking reads, which would hold up everything else on a shared
    /// connection).
    pub async fn open_another(&self, response_timeout: Duration) -> Result<Conn, Error> {
        open(&self.0.target, response_timeout, None).await
    }

    /// The instance registry of the cluster with key prefix `prefix`, over this link.
    pub fn registry(&self, prefix: &str) -> super::Registry {
        super::Registry::new(self.clone(), prefix)
    }

    /// The presence store of the cluster with key prefix `prefix`, over this link.
    pub fn presence(&self, prefix: &str) -> super::Presence {
        super::Presence::new(self.clone(), prefix, self.registry(prefix))
    }

    /// The history of the cluster with key prefix `prefix`, kept to about `max_len` entries;
    /// opens the connection its live reads block on.
    pub async fn history(&self, prefix: &str, max_len: u64) -> Result<super::History, Error> {
        super::History::connect(self.clone(), prefix, max_len).await
    }

    /// The session store of the cluster with key prefix `prefix`, sessions living `ttl`.
    pub fn sessions(&self, prefix: &str, ttl: std::time::Duration) -> super::Sessions {
        super::Sessions::new(self.clone(), prefix, ttl)
    }

    /// How long publishes to Redis take (seconds), failures included.
    pub fn publish_latency(&self) -> &Histogram {
        &self.0.publish_latency
    }

    /// Stops pinging and routing (used on shutdown); the connections close when the last clone
    /// is dropped.
    pub async fn quit(&self) {
        for task in self
            .0
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.0.up.store(false, Ordering::SeqCst);
    }
}

impl Driver for LinkDriver {
    type Error = LinkError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        let started = std::time::Instant::now();
        let published = self
            .command_within::<Value>(
                redis::cmd("SPUBLISH").arg(chan).arg(val),
                self.0.publish_timeout,
            )
            .await;
        self.0
            .publish_latency
            .observe(started.elapsed().as_secs_f64());
        published.map(drop)
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        self.0
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(chan.clone(), tx);
        if let Err(e) = self.ssubscribe(&chan).await {
            self.0
                .handlers
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&chan);
            return Err(e);
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.0
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&chan);
        match &self.0.conn {
            Conn::Single(_) => self
                .command_within::<Value>(
                    redis::cmd("SUNSUBSCRIBE").arg(&chan),
                    ADAPTER_COMMAND_TIMEOUT,
                )
                .await
                .map(drop),
            Conn::Cluster(_) => {
                let mut conn = self.subscriber().ok_or(LinkError::Down)?;
                within(ADAPTER_COMMAND_TIMEOUT, conn.sunsubscribe(&chan)).await
            }
        }
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        // Sharded subscribers, counted by the node serving the channel's slot.
        let cmd = redis::cmd("PUBSUB").arg("SHARDNUMSUB").arg(chan).clone();
        let counts: HashMap<String, u16> = match &self.0.conn {
            Conn::Single(_) => self.command_within(&cmd, ADAPTER_COMMAND_TIMEOUT).await?,
            Conn::Cluster(conn) => {
                if !self.0.up.load(Ordering::SeqCst) {
                    return Err(LinkError::Down);
                }
                on_master_of(conn, chan, cmd, ADAPTER_COMMAND_TIMEOUT).await?
            }
        };
        Ok(counts.get(chan).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_shard_subscription_count() {
        let info = "id=3 addr=127.0.0.1:5 laddr=127.0.0.1:6 fd=8 name= age=0 idle=0 flags=P db=0 sub=0 psub=0 ssub=3 multi=-1";
        assert_eq!(super::shard_subscriptions(info), Some(3));
        assert_eq!(super::shard_subscriptions("id=3 sub=0"), None);
        assert_eq!(
            super::client_field(info, "laddr"),
            Some("127.0.0.1:6"),
            "the node's address"
        );
        assert_eq!(super::client_field(info, "addr"), Some("127.0.0.1:5"));
    }

    #[test]
    fn targets_hide_passwords() {
        let single = super::Target::Single("redis://u:secret@h:1".into());
        assert_eq!(single.to_string(), "redis://***@h:1");
        let cluster = super::Target::Cluster(vec!["redis://:pw@a:1".into(), "redis://b:2".into()]);
        assert_eq!(cluster.to_string(), "cluster redis://***@a:1,redis://b:2");
    }
}
