//! gridcast server: Socket.IO instances joined by Redis pub/sub, so that a message any client
//! sends reaches every client on every instance.
//!
//! # Layout
//! The server:
//! - [`cli`]: the command line (`serve`, `check`, `bench`), every flag also read from the
//!   environment.
//! - [`cluster`]: starts the instances of one process and stops them gracefully.
//! - [`instance`]: one instance's identity, counters and Socket.IO handle.
//! - [`accept`]: the accept loop: idle/slow-connection timeout and a cap per remote address.
//! - [`http`]: the axum router of an instance: `/health`, `/instances`, `/metrics`, the UI files.
//! - [`metrics`]: `/metrics` in the Prometheus/OpenMetrics text format.
//! - [`origin`]: which browser origins may use an instance (CORS and the Socket.IO guard).
//! - [`hub`]: broadcasts through the history: live delivery in one order, replay on reconnect,
//!   the outbox while Redis is away.
//! - [`socket`]: Socket.IO handlers (connect, `message`), validation and rate limiting.
//! - [`limit`]: the per-socket token bucket.
//! - [`drops`]: packets dropped for slow clients: counted on origin and relaying instances,
//!   summarised in the log.
//! - [`redis`]: the Redis link (reconnecting driver for socketioxide-redis) and the private
//!   `redis-server` started when none is configured. Nothing else in the workspace knows Redis.
//! - [`runtime`]: the one-thread runtime of a cluster's Redis connections and history readers,
//!   and the allocator-cache hook of every runtime thread.
//! - [`error`]: the crate's error type.
//!
//! Client-side tools, which talk to a cluster from the outside:
//! - [`tools`]: the native probe client, `gridcast check` and `gridcast bench`.
#![warn(missing_docs)]

pub mod accept;
pub mod cli;
pub mod cluster;
pub mod drops;
pub mod error;
pub mod http;
pub mod hub;
pub mod instance;
pub mod limit;
pub mod metrics;
pub mod origin;
pub mod redis;
pub mod runtime;
pub mod socket;
pub mod tools;

pub use cli::ServeConfig;
pub use cluster::{Cluster, run};
pub use error::Error;

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
