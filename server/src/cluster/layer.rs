//! The Socket.IO layer of an instance: socketioxide and engineioxide configured with every
//! limit a connection gets from them (payload and frame sizes, buffers, timeouts, attachments),
//! the state handlers extract, and the Redis adapter.
//!
//! Invariant: each setting says why it differs from the library's default; the per-socket packet
//! buffer (`CLIENT_BUFFER`) is `hub::pace`'s, which keeps it from overflowing.

use std::{sync::Arc, time::Duration};

use gridcast_shared::limits::{MAX_MESSAGE_BYTES, MAX_PACKET_BYTES};
use socketioxide::{ParserConfig, SocketIo, layer::SocketIoLayer};
use socketioxide_redis::RedisAdapterCtr;

use crate::{
    admin::Admin,
    cli::ServeConfig,
    hub::CLIENT_BUFFER,
    instance::Instance,
    redis::{
        LinkDriver,
        adapter::{ClusterAdapter, Io},
    },
};

/// How long the binary attachment of a packet may take to follow it.
const ATTACHMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Capacity of each WebSocket's read buffer, kept for the connection's life: 1 KiB instead of
/// engineioxide's 4 KiB is 3 KiB less per connection that never sends a larger frame.
const WS_READ_BUFFER: usize = 1024;

/// How many bytes of outgoing frames a WebSocket gathers before writing them (tungstenite's
/// default is 128 KiB). Its buffer keeps the largest capacity it ever reached, so a burst of
/// packets (a replay, an outbox written back) would leave each connection holding up to that
/// much for its life: 40 quick broadcasts of ~250 bytes left ~9 KiB more per connection. At
/// 1 KiB a burst is still written a few frames per system call, and one packet a wake-up (the
/// usual fan-out) is written as before.
const WS_WRITE_BUFFER: usize = 1024;

/// The layer and the handle of one instance's Socket.IO server, on `adapter`.
pub(super) fn build(
    config: &ServeConfig,
    instance: &Arc<Instance>,
    admin: &Arc<Admin>,
    adapter: RedisAdapterCtr<LinkDriver>,
) -> (SocketIoLayer<ClusterAdapter>, Io) {
    SocketIo::builder()
        .max_payload(MAX_PACKET_BYTES)
        // engineioxide applies `max_payload` to polling only; WebSocket messages have their own
        // limits, 64 MiB by default, which would let one client make the server buffer that much.
        .ws_max_message_size(MAX_PACKET_BYTES as usize)
        .ws_max_frame_size(MAX_PACKET_BYTES as usize)
        // A client's frames are small. A larger one takes a read per KiB (tungstenite 0.30 reads
        // at most this much at a time): a 256 KiB packet is 256 reads, ~0.3 ms on loopback. A
        // connection that sent one keeps the frame's whole allocation afterwards, whatever this
        // size (tungstenite reserves the frame's length and reuses it).
        .ws_read_buffer_size(WS_READ_BUFFER)
        .ws_write_buffer_size(WS_WRITE_BUFFER)
        .max_buffer_size(CLIENT_BUFFER)
        // A WebSocket that never joins the namespace is an idle connection too.
        .connect_timeout(config.idle_timeout)
        .ping_interval(config.ping_interval)
        .ping_timeout(config.ping_timeout)
        // gridcast takes text only. socketioxide's defaults (10,000 attachments, 10 MB) let one
        // idle socket pin ~10 MB; one attachment of at most a message's size still reaches the
        // handler and gets a readable `not_a_string` error, more closes the connection.
        .with_parser(
            ParserConfig::common()
                .max_incoming_binaries(1)
                .max_incoming_binary_buf_size(MAX_MESSAGE_BYTES)
                .packet_completion_timeout(ATTACHMENT_TIMEOUT),
        )
        .with_state(instance.clone())
        .with_state(admin.clone())
        .with_adapter::<ClusterAdapter>(adapter)
        .build_layer()
}
