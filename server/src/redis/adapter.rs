//! The socketioxide adapter every instance uses: socketioxide-redis over [`LinkDriver`].

use socketioxide::adapter::Emitter;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};

use super::link::LinkDriver;

/// The adapter type of every instance's Socket.IO handle.
pub(crate) type ClusterAdapter = CustomRedisAdapter<Emitter, LinkDriver>;

/// Why the adapter could not subscribe its channels when a namespace was registered.
pub(crate) type InitError = socketioxide_redis::InitError<LinkDriver>;

/// Messages the adapter buffers between Redis and the instance.
const STREAM_BUFFER: usize = 8192;

/// The adapter's state for one instance: its link, the cluster's channel `prefix`.
pub(crate) fn state(link: LinkDriver, prefix: &str) -> RedisAdapterCtr<LinkDriver> {
    RedisAdapterCtr::new_with_driver(
        link,
        RedisAdapterConfig::new()
            .with_prefix(prefix.to_owned())
            .with_stream_buffer(STREAM_BUFFER),
    )
}

/// The Socket.IO handle of an instance.
pub(crate) type Io = socketioxide::SocketIo<ClusterAdapter>;
