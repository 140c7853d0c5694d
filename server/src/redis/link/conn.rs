//! Connections: where Redis is ([`Target`]), how a connection is opened (RESP3, TCP_NODELAY,
//! reconnecting with capped backoff) and how a command is bounded in time. Nothing here knows the
//! link's state; [`super::state`] decides whether a command is sent at all. The connections to
//! one Redis, found at a fixed address or through Sentinel, are slots the link can replace
//! ([`super::slots`]); a cluster's are redis-rs' cluster connections.

use std::{fmt, time::Duration};

use redis::{
    Cmd, FromRedisValue, Pipeline, ProtocolVersion, PushInfo, RedisFuture, Value,
    aio::{ConnectionLike, ConnectionManagerConfig},
    cluster::ClusterClientBuilder,
    cluster_async::ClusterConnection,
    cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr},
    io::tcp::TcpSettings,
};
use tokio::sync::mpsc;

use super::{
    sentinel::Sentinel,
    slots::{Fixed, SlotConn},
};
use crate::error::Error;

/// How long a ping, a registry or presence command, or an adapter command may wait for Redis.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// How long subscribing, unsubscribing and counting servers may take (the adapter's commands;
/// unsubscribing runs on shutdown, which a dead Redis must not hold up).
pub(super) const ADAPTER_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the instances' Redis is.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// One Redis server (`redis://host:port[/db]`).
    Single(String),
    /// Seed nodes of a Redis Cluster.
    Cluster(Vec<String>),
    /// One Redis whose master is found through Redis Sentinel.
    Sentinel {
        /// The master's name in the sentinels' configuration (`sentinel monitor <name> ...`).
        master: String,
        /// The sentinels' URLs (`redis://host:port`).
        sentinels: Vec<String>,
    },
}

impl Target {
    /// A Sentinel target from `<master name>@host:port,host:port` (each sentinel may also be
    /// given as a `redis://` URL).
    pub(crate) fn sentinel(spec: &str) -> Result<Self, String> {
        let usage = "expected <master name>@host:port[,host:port...]";
        let (master, hosts) = spec
            .split_once('@')
            .ok_or_else(|| format!("{spec:?}: {usage}"))?;
        let sentinels: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| match h.contains("://") {
                true => h.to_owned(),
                false => format!("redis://{h}"),
            })
            .collect();
        if master.is_empty() || sentinels.is_empty() {
            return Err(format!("{spec:?}: {usage}"));
        }
        Ok(Target::Sentinel {
            master: master.to_owned(),
            sentinels,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Single(url) => f.write_str(&redact(url)),
            Target::Cluster(urls) => {
                let urls: Vec<String> = urls.iter().map(|u| redact(u)).collect();
                write!(f, "cluster {}", urls.join(","))
            }
            Target::Sentinel { master, sentinels } => {
                let urls: Vec<String> = sentinels.iter().map(|u| redact(u)).collect();
                write!(f, "sentinel {master}@{}", urls.join(","))
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
pub(crate) enum LinkError {
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

impl LinkError {
    /// Whether no answer came in time: ours ([`LinkError::Timeout`]) or the connection's own
    /// response timeout, whichever fired first.
    pub(crate) fn is_timeout(&self) -> bool {
        match self {
            LinkError::Timeout(_) => true,
            LinkError::Redis(e) => e.is_timeout(),
            LinkError::Down | LinkError::Reply(_) => false,
        }
    }
}

/// A connection to one Redis or to a cluster, shared by clones (both multiplex).
#[derive(Clone)]
pub(crate) enum Conn {
    /// One Redis.
    Single(SlotConn),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
    /// The master named by the sentinels, whichever server that is now.
    Sentinel(SlotConn),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
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
            Conn::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

/// Opens a connection to the cluster of seed nodes `urls` (named `target` in errors): RESP3,
/// TCP_NODELAY, reconnecting; answers waited for up to `response_timeout`; pushes (pub/sub
/// messages, disconnections) to `push`, and subscriptions restored after a reconnect, when given.
pub(super) async fn open_cluster(
    target: &Target,
    urls: &[String],
    response_timeout: Duration,
    push: Option<mpsc::UnboundedSender<PushInfo>>,
) -> Result<ClusterConnection, Error> {
    let connect_err = |reason: String| Error::RedisConnect {
        target: target.to_string(),
        reason,
    };
    let tcp = TcpSettings::default().set_nodelay(true);
    let opening = async {
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
        builder.build()?.get_async_connection().await
    };
    match tokio::time::timeout(Duration::from_secs(5), opening).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(connect_err(e.to_string())),
        Err(_) => Err(connect_err("no answer within 5s".into())),
    }
}

/// The settings of every `ConnectionManager` of the link: answers waited for up to
/// `response_timeout`, reconnecting 50 ms doubling to 500 ms apart; pushes to `push`, and
/// subscriptions restored after a reconnect, when given.
pub(super) fn manager_config(
    response_timeout: Duration,
    push: Option<mpsc::UnboundedSender<PushInfo>>,
) -> ConnectionManagerConfig {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(response_timeout))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500))
        .set_exponent_base(2.0)
        .set_pipeline_buffer_size(super::slots::QUEUE);
    match push {
        Some(push) => config.set_push_sender(push).set_automatic_resubscription(),
        None => config,
    }
}

/// `request`'s answer, or [`LinkError::Timeout`] after `timeout`.
pub(super) async fn within<T>(
    timeout: Duration,
    request: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, LinkError> {
    match tokio::time::timeout(timeout, request).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(LinkError::Timeout(timeout)),
    }
}

/// Runs `cmd` on `conn`, waiting up to `timeout`.
pub(crate) async fn query<T: FromRedisValue>(
    conn: &Conn,
    cmd: &Cmd,
    timeout: Duration,
) -> Result<T, LinkError> {
    let mut conn = conn.clone();
    within(timeout, cmd.query_async(&mut conn)).await
}

/// [`query`], dropping `place` once `cmd` is queued on the connection behind every command
/// queued before it (see [`SlotConn::command_placed`]; on a cluster, after the first poll).
pub(crate) async fn query_placed<T: FromRedisValue, P>(
    conn: &Conn,
    cmd: &Cmd,
    timeout: Duration,
    place: P,
) -> Result<T, LinkError> {
    let value = match conn {
        Conn::Single(slot) | Conn::Sentinel(slot) => {
            within(timeout, slot.command_placed(cmd, place)).await?
        }
        Conn::Cluster(cluster) => {
            let mut cluster = cluster.clone();
            let sent = cluster.req_packed_command(cmd);
            within(timeout, super::slots::after_first_poll(sent, place)).await?
        }
    };
    // As `Cmd::query_async` does: an error answer is an error.
    T::from_redis_value(value.extract_error()?).map_err(|e| LinkError::Reply(format!("{e}")))
}

/// Runs `cmd` on the master serving `key`'s slot.
pub(super) async fn on_master_of<T: FromRedisValue>(
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

/// Where a link opens its connections: one Redis at a fixed address, the master the sentinels
/// name, or a cluster.
#[derive(Clone, Copy)]
pub(super) struct Opens<'a> {
    pub(super) target: &'a Target,
    pub(super) fixed: Option<&'a Fixed>,
    pub(super) sentinel: Option<&'a Sentinel>,
}

impl Opens<'_> {
    /// Opens a connection whose answers may take up to `response_timeout`, with pushes (and
    /// subscriptions restored after a reconnect) sent to `push` when given; to one Redis, a slot
    /// the link can replace ([`super::slots`]).
    pub(super) async fn open(
        self,
        response_timeout: Duration,
        push: Option<mpsc::UnboundedSender<PushInfo>>,
    ) -> Result<Conn, Error> {
        let config = manager_config(response_timeout, push.clone());
        let opened = match (self.fixed, self.sentinel, self.target) {
            (Some(fixed), _, _) => fixed.open(config).await.map(Conn::Single),
            (None, Some(sentinel), _) => sentinel.open(config).await.map(Conn::Sentinel),
            (None, None, Target::Cluster(urls)) => {
                let conn = open_cluster(self.target, urls, response_timeout, push).await?;
                return Ok(Conn::Cluster(conn));
            }
            (None, None, _) => unreachable!("one Redis is opened through its slots"),
        };
        opened.map_err(|e| Error::RedisConnect {
            target: self.target.to_string(),
            reason: e.to_string(),
        })
    }
}

/// Removes the password from a Redis URL, for logs and errors.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn targets_hide_passwords() {
        let single = super::Target::Single("redis://u:secret@h:1".into());
        assert_eq!(single.to_string(), "redis://***@h:1");
        let cluster = super::Target::Cluster(vec!["redis://:pw@a:1".into(), "redis://b:2".into()]);
        assert_eq!(cluster.to_string(), "cluster redis://***@a:1,redis://b:2");
        let sentinel = super::Target::sentinel("main@h:26379, redis://:pw@k:26380").unwrap();
        assert_eq!(
            sentinel.to_string(),
            "sentinel main@redis://h:26379,redis://***@k:26380"
        );
    }

    #[test]
    fn sentinel_targets_name_a_master_and_sentinels() {
        let target = super::Target::sentinel("mymaster@127.0.0.1:26379,127.0.0.1:26380").unwrap();
        assert_eq!(
            target,
            super::Target::Sentinel {
                master: "mymaster".into(),
                sentinels: vec![
                    "redis://127.0.0.1:26379".into(),
                    "redis://127.0.0.1:26380".into()
                ],
            }
        );
        for bad in ["127.0.0.1:26379", "@h:1", "m@", "m@,"] {
            assert!(super::Target::sentinel(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(super::redact("redis://user:pw@h:1/0"), "redis://***@h:1/0");
        assert_eq!(super::redact("redis://h:1"), "redis://h:1");
    }
}
