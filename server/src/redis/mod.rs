//! Everything that knows Redis. Nothing else in the crate names a Redis client or a Redis error.
//!
//! - [`link`]: the connection to one Redis, a Redis Cluster or one Redis behind Sentinel (redis-rs)
//!   and the socketioxide-redis [`Driver`](socketioxide_redis::drivers::Driver) over it: it
//!   reconnects and re-subscribes after Redis comes back (checking that it did), sets
//!   TCP_NODELAY, and fails a command fast while Redis is away instead of stalling every
//!   broadcast.
//! - [`adapter`]: the socketioxide adapter type over the link, and its state.
//! - [`history`]: the bounded stream that carries and keeps every broadcast a client can miss,
//!   its [`entry`] format, and its [`journal`] of recent appends (on Sentinel, to write again
//!   what a failover lost).
//! - [`sessions`]: what a reconnecting client's session token restores.
//! - [`presence`]: who is connected where, with display names and rooms.
//! - [`registry`]: the live instance registry (heartbeat keys with a TTL).
//! - [`admin_sessions`]: the Admin UI's login sessions (digests of their ids, with a TTL).
//! - [`bus`]: a cluster-internal channel, for what one instance asks the others to do.
//! - [`private`]: a `redis-server` child process on a free loopback port, for `gridcast serve`
//!   without a configured Redis and for tests.

pub(crate) mod adapter;
pub(crate) mod admin_sessions;
pub(crate) mod bus;
mod entry;
pub(crate) mod history;
mod journal;
pub(crate) mod link;
pub(crate) mod presence;
pub(crate) mod private;
pub(crate) mod registry;
pub(crate) mod sessions;

use std::time::Duration;

pub(crate) use link::{LinkDriver, LinkError, Target};
pub(crate) use private::PrivateRedis;

use crate::error::Error;

/// Connects to `target` for the cluster with key prefix `prefix`: the link counts as up while
/// the nodes serving the history and the registry answer.
pub(crate) async fn connect(
    target: &Target,
    publish_timeout: Duration,
    prefix: &str,
) -> Result<LinkDriver, Error> {
    let probe_keys = vec![history::key(prefix), registry::set_key(prefix)];
    link::connect(target, publish_timeout, probe_keys).await
}
