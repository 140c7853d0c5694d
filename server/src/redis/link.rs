//! The Redis link of one instance: a reconnecting driver for socketioxide-redis.
//!
//! socketioxide-redis publishes a broadcast before delivering it locally and awaits the publish, so a
//! stalled Redis stalls every broadcast, local ones included. This driver therefore:
//! - reconnects forever with capped exponential backoff, and re-subscribes every channel after a
//!   reconnect (fred's `manage_subscriptions`);
//! - fails a publish at once while disconnected (`fail_fast`) and after `publish_timeout` otherwise,
//!   so that the caller can fall back to local delivery (see [`crate::socket`]);
//! - sets TCP_NODELAY on the Redis connection.

use std::{fmt, time::Duration};

use fred::{
    clients::SubscriberClient,
    interfaces::{ClientLike, EventInterface, PubsubInterface},
    prelude::{Builder, Config, Options, ReconnectPolicy, TcpConfig},
    types::RespVersion,
};
use socketioxide_redis::drivers::{
    ChanItem, Driver, MessageStream,
    fred::{FredDriver, FredError},
};

use gridcast_shared::RedisLink;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::{Error, redis::redact};

/// A Redis failure seen by the adapter.
#[derive(Debug)]
pub struct LinkError(pub(super) fred::error::Error);

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis: {}", self.0)
    }
}

impl std::error::Error for LinkError {}

impl From<FredError> for LinkError {
    fn from(e: FredError) -> Self {
        // FredError only wraps the fred error and exposes it through Display.
        Self(fred::error::Error::new(
            fred::error::ErrorKind::Unknown,
            e.to_string(),
        ))
    }
}

/// socketioxide-redis driver over a reconnecting fred subscriber client.
#[derive(Clone)]
pub struct LinkDriver {
    url: String,
    inner: FredDriver,
    client: SubscriberClient,
    publish: Options,
    publish_latency: Histogram,
}

impl fmt::Debug for LinkDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkDriver")
            .field("publish", &self.publish)
            .finish()
    }
}

/// Connects to `url` and returns a driver for one instance's adapter.
///
/// Fails with a clear error, within a few seconds, when Redis cannot be reached or does not speak
/// RESP3; after that first connection the link reconnects on its own.
pub async fn connect(url: &str, publish_timeout: Duration) -> Result<LinkDriver, Error> {
    let connect_err = |reason: String| Error::RedisConnect {
        url: redact(url),
        reason,
    };
    let mut config = Config::from_url(url).map_err(|e| connect_err(e.to_string()))?;
    // fred ignores the `protocol` query parameter; socketioxide-redis needs RESP3 push messages.
    config.version = RespVersion::RESP3;
    config.fail_fast = true;
    let client = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(3);
            c.internal_command_timeout = Duration::from_secs(3);
            c.tcp = TcpConfig {
                nodelay: Some(true),
                ..Default::default()
            };
        })
        .with_performance_config(|p| {
            // Pub/sub messages pass through a broadcast channel before the adapter's stream; the
            // default of 32 lags (and drops) under a burst of broadcasts.
            p.broadcast_channel_capacity = 16 * 1024;
        })
        // Unlimited attempts, 50 ms doubling up to 500 ms: cross-instance delivery resumes within
        // about half a second of Redis coming back, however long it was away.
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 500, 2))
        .build_subscriber_client()
        .map_err(|e| connect_err(e.to_string()))?;
    let inner = tokio::time::timeout(Duration::from_secs(5), FredDriver::new(client.clone()))
        .await
        .map_err(|_| connect_err("no answer within 5s".into()))?
        .map_err(|e| connect_err(e.to_string()))?;
    tokio::spawn(resubscribe_on_reconnect(client.clone()));
    Ok(LinkDriver {
        url: url.to_owned(),
        inner,
        client,
        // 100 µs to ~3.3 s.
        publish_latency: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
        publish: Options {
            timeout: Some(publish_timeout),
            fail_fast: true,
            max_attempts: Some(1),
            ..Default::default()
        },
    })
}

/// Re-subscribes the adapter's shard channels after every reconnect.
///
/// fred's own `manage_subscriptions` cannot be used: its `resubscribe_all` first sends `SUBSCRIBE`
/// with the (empty) list of plain channels, which Redis answers with an error, and it returns
/// before re-subscribing the shard channels socketioxide-redis uses. Subscribed after the first
/// connection, this loop only sees reconnects.
async fn resubscribe_on_reconnect(client: SubscriberClient) {
    let mut reconnects = client.reconnect_rx();
    loop {
        match reconnects.recv().await {
            Ok(server) => {
                let channels: Vec<String> = client
                    .tracked_shard_channels()
                    .into_iter()
                    .map(|c| c.to_string())
                    .collect();
                match client.ssubscribe(channels.clone()).await {
                    Ok(()) => {
                        tracing::info!(%server, channels = channels.len(), "redis link back, re-subscribed")
                    }
                    Err(e) => {
                        tracing::error!(%server, "redis link back, but re-subscribing failed: {e}")
                    }
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

impl LinkDriver {
    /// Whether the connection to Redis is up right now.
    pub fn state(&self) -> RedisLink {
        if self.client.is_connected() {
            RedisLink::Up
        } else {
            RedisLink::Reconnecting
        }
    }

    /// The instance registry of the cluster with channel prefix `prefix`, over this link.
    pub fn registry(&self, prefix: &str) -> super::Registry {
        super::Registry::new(self.client.clone(), prefix)
    }

    /// The presence store of the cluster with channel prefix `prefix`, over this link.
    pub fn presence(&self, prefix: &str) -> super::Presence {
        super::Presence::new(self.client.clone(), prefix, self.registry(prefix))
    }

    /// The history of the cluster with channel prefix `prefix`, kept to about `max_len` entries;
    /// opens the connection its live reads block on.
    pub async fn history(&self, prefix: &str, max_len: u64) -> Result<super::History, Error> {
        super::History::connect(self.client.clone(), &self.url, prefix, max_len)
            .await
            .map_err(|reason| Error::RedisConnect {
                url: redact(&self.url),
                reason: format!("history reader: {reason}"),
            })
    }

    /// The session store of the cluster with channel prefix `prefix`, sessions living `ttl`.
    pub fn sessions(&self, prefix: &str, ttl: std::time::Duration) -> super::Sessions {
        super::Sessions::new(self.client.clone(), prefix, ttl)
    }

    /// How long publishes to Redis take (seconds), failures included.
    pub fn publish_latency(&self) -> &Histogram {
        &self.publish_latency
    }

    /// Closes the connection (used on shutdown).
    pub async fn quit(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.quit()).await;
    }
}

/// How long an adapter command other than a publish may wait for Redis (fred queues commands
/// while it reconnects, for ever by default).
const ADAPTER_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

async fn bounded<T>(
    command: impl std::future::Future<Output = Result<T, FredError>>,
) -> Result<T, LinkError> {
    match tokio::time::timeout(ADAPTER_COMMAND_TIMEOUT, command).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(LinkError(fred::error::Error::new(
            fred::error::ErrorKind::Timeout,
            format!("no answer from Redis within {ADAPTER_COMMAND_TIMEOUT:?}"),
        ))),
    }
}

impl Driver for LinkDriver {
    type Error = LinkError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        let started = std::time::Instant::now();
        let published = self
            .client
            .with_options(&self.publish)
            .spublish::<u16, _, _>(chan, val)
            .await;
        self.publish_latency
            .observe(started.elapsed().as_secs_f64());
        published.map(drop).map_err(LinkError)
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        Ok(self.inner.subscribe(chan, size).await?)
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        // Called when the server closes: a dead Redis must not hold up the shutdown.
        bounded(self.inner.unsubscribe(chan)).await
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        bounded(self.inner.num_serv(chan)).await
    }
}
