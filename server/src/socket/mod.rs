//! Socket.IO handlers of the default namespace, one module per feature.
//!
//! - [`broadcast`]: `message` to everyone on every instance (the seed-compatible contract).
//! - [`presence`]: display names, rooms, direct messages, and the presence list.
//!
//! Every request is rate limited per socket, validated with the rules in `gridcast_shared`, and
//! answered: through the ack when the client asked for one, otherwise (only on rejection) with an
//! `error` event. Rejected input never reaches other clients.

pub mod broadcast;
pub mod presence;

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
};

use gridcast_shared::{
    Delivery, ErrorEvent, Rejection, RejectionCode, Welcome, event,
    limits::{Limits, RATE_BURST, RATE_PER_SECOND},
    presence::Member,
};
use serde::Serialize;
use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, SocketRef, State},
    handler::FromMessageParts,
    operators::BroadcastOperators,
    socket::{DisconnectReason, Socket},
};
use socketioxide_core::{Value, adapter::errors::BroadcastError};

use crate::{
    instance::{ClusterAdapter, Instance, Io},
    limit::RateLimit,
    now_ms,
};

/// Per-socket state, kept in the socket's extensions.
#[derive(Debug)]
pub struct SocketState {
    /// The socket's rate limit, shared by all its requests.
    pub limit: RateLimit,
    /// The socket as presence shows it.
    pub member: Mutex<Member>,
}

impl SocketState {
    /// A copy of the member record.
    pub fn member(&self) -> Member {
        self.member
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the member record and returns a copy of the result.
    pub fn update(&self, f: impl FnOnce(&mut Member)) -> Member {
        let mut member = self.member.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut member);
        member.clone()
    }
}

/// Whether the client asked for an ack, read from the packet's ack id.
#[derive(Debug, Clone, Copy)]
pub struct AckRequested(pub bool);

impl<A: Adapter> FromMessageParts<A> for AckRequested {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<Socket<A>>,
        _: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(Self(ack_id.is_some()))
    }
}

/// Registers the namespace handlers on `io`; resolves once the Redis adapter is subscribed.
pub async fn register(
    io: &Io,
) -> Result<(), socketioxide_redis::InitError<crate::redis::LinkDriver>> {
    io.ns(event::NAMESPACE, on_connect).await
}

async fn on_connect(
    socket: SocketRef<ClusterAdapter>,
    io: Io,
    State(instance): State<Arc<Instance>>,
) {
    tracing::debug!(instance = %instance.info.id, socket = %socket.id, "client connected");
    let member = Member {
        sid: socket.id.to_string(),
        instance: instance.info.id.clone(),
        instance_url: instance.info.url.clone(),
        name: String::new(),
        since: now_ms(),
        rooms: Vec::new(),
    };
    socket.extensions.insert(Arc::new(SocketState {
        limit: RateLimit::new(RATE_BURST, RATE_PER_SECOND),
        member: Mutex::new(member.clone()),
    }));
    let welcome = Welcome {
        instance: instance.info.clone(),
        limits: Limits::default(),
    };
    if let Err(e) = socket.emit(event::WELCOME, &welcome) {
        tracing::debug!(socket = %socket.id, "welcome not sent: {e}");
    }
    socket.join(presence::own_room(socket.id.as_str()));
    socket.on(event::MESSAGE, broadcast::on_message);
    socket.on(event::SET_NAME, presence::on_set_name);
    socket.on(event::JOIN, presence::on_join);
    socket.on(event::LEAVE, presence::on_leave);
    socket.on(event::ROOM_MESSAGE, presence::on_room_message);
    socket.on(event::DIRECT, presence::on_direct);
    socket.on(event::PRESENCE, presence::on_presence);
    socket.on_disconnect(on_disconnect);
    presence::announce(&io, &instance, member).await;
}

async fn on_disconnect(
    socket: SocketRef<ClusterAdapter>,
    io: Io,
    State(instance): State<Arc<Instance>>,
    reason: DisconnectReason,
) {
    tracing::debug!(instance = %instance.info.id, socket = %socket.id, ?reason, "client disconnected");
    presence::depart(&io, &instance, socket.id.as_str()).await;
}

/// The member records of this instance's sockets.
pub fn local_members(io: &Io) -> Vec<Member> {
    io.sockets()
        .iter()
        .filter_map(|s| s.extensions.get::<Arc<SocketState>>())
        .map(|state| state.member())
        .collect()
}

/// Takes one token of the socket's rate limit.
pub fn rate_limit(state: &SocketState) -> Result<(), Rejection> {
    state.limit.take().map_err(|wait| {
        Rejection::new(
            RejectionCode::RateLimited,
            format!(
                "too many messages: at most {RATE_PER_SECOND}/s (bursts of {RATE_BURST}); retry in {} ms",
                wait.as_millis().max(1)
            ),
        )
    })
}

/// Sends `reply` through the ack when the client asked for one; otherwise reports `error` (if
/// any) as an `error` event.
pub fn answer<R: Serialize>(
    socket: &SocketRef<ClusterAdapter>,
    ack: AckSender<ClusterAdapter>,
    wants_ack: bool,
    error: Option<&ErrorEvent>,
    reply: &R,
) {
    if wants_ack {
        if let Err(e) = ack.send(reply) {
            tracing::debug!(socket = %socket.id, "ack not sent: {e}");
        }
    } else if let Some(error) = error
        && let Err(e) = socket.emit(event::ERROR, error)
    {
        tracing::debug!(socket = %socket.id, "error event not sent: {e}");
    }
}

/// Emits to the sockets `target` selects across the cluster. When Redis is unreachable, delivers
/// on this instance only, so an outage degrades the cluster to independent instances instead of
/// silencing it.
pub async fn emit_cluster<T: ?Sized + Serialize>(
    instance: &Instance,
    target: impl Fn() -> BroadcastOperators<ClusterAdapter>,
    event: &str,
    data: &T,
) -> Delivery {
    match target().emit(event, data).await {
        Ok(()) => Delivery::Cluster,
        Err(BroadcastError::Adapter(e)) => {
            tracing::warn!(instance = %instance.info.id, event, "redis publish failed, delivering locally: {e}");
            instance.count_local_only();
            if let Err(e) = target().local().emit(event, data).await {
                count_socket_errors(instance, e);
            }
            Delivery::LocalOnly
        }
        Err(e) => {
            count_socket_errors(instance, e);
            Delivery::Cluster
        }
    }
}

/// A full client buffer means that client misses this packet: count it and say so.
fn count_socket_errors(instance: &Instance, error: BroadcastError) {
    match error {
        BroadcastError::Socket(errors) => {
            let full = errors
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        socketioxide_core::adapter::errors::SocketError::InternalChannelFull
                    )
                })
                .count() as u64;
            if full > 0 {
                instance.count_dropped(full);
                tracing::warn!(instance = %instance.info.id, dropped = full, "client buffers full, packets dropped");
            }
        }
        other => tracing::warn!(instance = %instance.info.id, "broadcast failed: {other}"),
    }
}
