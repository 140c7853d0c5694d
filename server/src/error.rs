//! The server library's error type.

use std::{io, net::SocketAddr};

/// Everything that can stop an instance from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `redis-server` is not installed, and no Redis URL was configured.
    #[error(
        "no Redis configured and `redis-server` was not found on PATH (looked for {bin:?}); \
         install it (`sudo apt-get install redis-server`, `brew install redis`) or pass --redis-url / REDIS_URL"
    )]
    RedisServerMissing {
        /// The binary that was looked for.
        bin: String,
    },
    /// The private `redis-server` could not be started or did not become ready.
    #[error("could not start the private redis-server on port {port}: {reason}")]
    PrivateRedis {
        /// The port it was given.
        port: u16,
        /// What went wrong.
        reason: String,
    },
    /// The configured Redis (or Redis Cluster) could not be reached or did not speak RESP3.
    #[error("cannot connect to Redis at {target}: {reason}")]
    RedisConnect {
        /// The URL or the cluster's seed URLs, with any password removed.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Serving HTTP failed.
    #[error("server error: {0}")]
    Serve(#[source] io::Error),
}
