//! Everything that knows Redis.
//!
//! - [`adapter`]: the socketioxide adapter type over the link, and its state.
//! - [`history`]: the bounded stream that carries and keeps every broadcast a client can miss.
//! - [`sessions`]: what a reconnecting client's session token restores.
//! - [`link`]: the connection to one Redis or a Redis Cluster (redis-rs), and the
//!   [`Driver`](socketioxide_redis::drivers::Driver) socketioxide-redis uses over it: it reconnects
//!   and re-subscribes after Redis comes back (checking that it did), sets TCP_NODELAY, and fails a
//!   publish or command fast while Redis is away instead of stalling every broadcast.
//! - [`presence`]: who is connected where, with display names and rooms.
//! - [`registry`]: the live instance registry (heartbeat keys with a TTL).
//! - [`private`]: a `redis-server` child process on a free loopback port, for `gridcast serve` without
//!   a configured Redis and for tests.

pub mod adapter;
pub mod history;
pub mod link;
pub mod presence;
pub mod private;
pub mod registry;
pub mod sessions;

pub use adapter::ClusterAdapter;
pub use history::History;
pub use link::{LinkDriver, LinkError, Target, connect};
pub use presence::Presence;
pub use private::PrivateRedis;
pub use registry::Registry;
pub use sessions::Sessions;

/// One heartbeat of an instance: refreshes its registry entry (`live`) and its presence hash,
/// and writes its `members` again if Redis lost them (a restart, or an outage longer than the
/// TTL).
pub async fn beat(
    registry: &Registry,
    presence: &Presence,
    live: &gridcast_shared::LiveInstance,
    members: impl FnOnce() -> Vec<gridcast_shared::presence::Member>,
) -> Result<(), LinkError> {
    registry.beat(live).await?;
    if !presence.refresh(&live.info.id).await? {
        for member in members() {
            presence.upsert(&member).await?;
        }
    }
    Ok(())
}

/// Removes the password from a Redis URL, for logs and errors.
pub fn redact(url: &str) -> String {
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
    fn redacts_credentials() {
        assert_eq!(super::redact("redis://user:pw@h:1/0"), "redis://***@h:1/0");
        assert_eq!(super::redact("redis://h:1"), "redis://h:1");
    }
}
