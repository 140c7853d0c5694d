//! The Redis link of one instance: redis-rs connections that come back on their own, and the
//! driver socketioxide-redis publishes and subscribes through.
//!
//! One Redis, a Redis Cluster, or one Redis whose master Redis Sentinel names ([`Target`]); either
//! way the link:
//! - speaks RESP3 and sets TCP_NODELAY;
//! - reconnects on its own (redis-rs' `ConnectionManager` for one Redis, its cluster connection for
//!   a cluster, 50 ms doubling to 500 ms between attempts), and re-subscribes the shard channels
//!   after a reconnect (redis-rs' automatic resubscription); with Sentinel, moves every
//!   connection to the new master after a failover ([`sentinel`]);
//! - pings Redis every [`PING_EVERY`](health::PING_EVERY): an idle `ConnectionManager` stops retrying after its
//!   retries run out and only tries again on the next command, and the ping is that command. The
//!   ping on a connection of its own decides the link's state ([`LinkDriver::state`]); on the
//!   command connection a slow answer only means a deep queue (see `Shared::probe`);
//! - after every reconnect, checks that this connection really is subscribed to every channel
//!   the adapter asked for (redis-rs ignores errors of its resubscription pipeline) and repairs it
//!   (`CLIENT INFO`'s `ssub` count for one Redis; `SSUBSCRIBE` again on a cluster);
//! - fails a publish or a command at once while the link is down and after a timeout otherwise,
//!   so that callers fall back (local delivery, the outbox) instead of stalling.
//!
//! Pub/sub messages reach the adapter through one router task, in order, waiting (not dropping)
//! when an adapter stream is full.

mod conn;
mod driver;
mod health;
mod sentinel;
mod slots;
mod state;
mod subscriptions;

use std::{
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicU64},
    },
    time::Duration,
};

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use tokio::sync::mpsc;

pub(crate) use conn::{COMMAND_TIMEOUT, Conn, LinkError, Target, query};
pub(crate) use state::LinkDriver;

use crate::error::Error;
use conn::Opens;
use sentinel::Sentinel;
use slots::Fixed;
use state::Shared;

/// Connects to `target` and returns the link. On a cluster, the nodes serving `probe_keys` must
/// answer for the link to count as up (one Redis is pinged).
///
/// Fails with a clear error, within a few seconds, when Redis cannot be reached; after that first
/// connection the link reconnects on its own.
pub(crate) async fn connect(
    target: &Target,
    publish_timeout: Duration,
    probe_keys: Vec<String>,
) -> Result<LinkDriver, Error> {
    let (push_tx, push_rx) = mpsc::unbounded_channel();
    let response_timeout = COMMAND_TIMEOUT.max(publish_timeout);
    let connect_err = |reason: String| Error::RedisConnect {
        target: target.to_string(),
        reason,
    };
    // Commands on one connection, subscriptions on another (see `Shared::subscriber`).
    let sentinel = match target {
        Target::Sentinel { master, sentinels } => Some(
            Sentinel::connect(target.to_string(), master, sentinels)
                .await
                .map_err(|e| connect_err(format!("no master from the sentinels: {e}")))?,
        ),
        Target::Single(_) | Target::Cluster(_) => None,
    };
    let fixed = match target {
        Target::Single(url) => Some(Fixed::new(url).map_err(|e| connect_err(e.to_string()))?),
        Target::Sentinel { .. } | Target::Cluster(_) => None,
    };
    let opens = Opens {
        target,
        fixed: fixed.as_ref(),
        sentinel: sentinel.as_deref(),
    };
    // And the health probe on a third (see `Shared::probe`). In turn: the command connection is
    // the first a proxy in front of Redis sees (the tests freeze it by that).
    let conn = opens.open(response_timeout, None).await?;
    let subscriber = opens.open(response_timeout, Some(push_tx.clone())).await?;
    let probe = opens.open(COMMAND_TIMEOUT, None).await?;
    let link = LinkDriver(Arc::new(Shared {
        target: target.clone(),
        sentinel,
        fixed,
        conn,
        probe,
        busy_probes: AtomicU64::new(0),
        answered: state::Answered::default(),
        renewals: tokio::sync::watch::channel(0).0,
        suspect: AtomicBool::new(false),
        renewing: AtomicBool::new(false),
        swaps: Mutex::default(),
        subscriber: Mutex::new(subscriber),
        push: push_tx,
        probe_keys,
        up: AtomicBool::new(true),
        status: state::connected_status(),
        handlers: RwLock::default(),
        publish_timeout,
        // 100 µs to ~3.3 s.
        publish_latency: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
        tasks: Mutex::default(),
    }));
    let route = tokio::spawn(driver::route(Arc::downgrade(&link.0), push_rx));
    let watch = tokio::spawn(health::watch(Arc::downgrade(&link.0)));
    let mut tasks = link.0.tasks.lock().unwrap_or_else(|p| p.into_inner());
    tasks.extend([route, watch]);
    if link.0.sentinel.is_some() {
        tasks.push(tokio::spawn(health::ask_sentinels(Arc::downgrade(&link.0))));
    }
    drop(tasks);
    Ok(link)
}
