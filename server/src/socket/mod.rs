//! Socket.IO handlers of the default namespace, one module per feature.
//!
//! - [`broadcast`]: `message` to everyone on every instance (the seed-compatible contract).
//! - [`presence`]: display names, rooms, direct messages, and the presence list.
//!
//! Every request is rate limited per socket, validated with the rules in `gridcast_shared`, and
//! answered: through the ack when the client asked for one, otherwise (only on rejection) with an
//! `error` event. Rejected input never reaches other clients. Unknown events are answered the
//! same way (`unknown_event`) and count against the rate limit.
//!
//! **Identity.** socketioxide uses the Engine.IO session id as the socket id, and with HTTP
//! long-polling that id is the session's only credential: whoever knows it can post packets as
//! that client, close it, or upgrade its session to a WebSocket of their own. So the socket id
//! never leaves the server. Each socket gets a random *public id* at connect ([`SocketState::id`]);
//! presence, message metadata and direct-message addressing use only that, and the room a socket
//! joins for its direct messages is named after it ([`own_room`]).

pub mod broadcast;
pub mod presence;

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
};

use gridcast_shared::{
    Delivery, ErrorEvent, Rejection, RejectionCode, Unreadable, Welcome, event,
    limits::{Limits, RATE_BURST, RATE_PER_SECOND},
    presence::Member,
};
use serde::{Serialize, de::DeserializeOwned};
use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, Event, Extension, SocketRef, State, TryData},
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
    /// The public id: random, 128 bits, what every other client knows this socket by. Never the
    /// Engine.IO session id.
    pub id: String,
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

/// The first argument of an event, or what made it unreadable (no argument, a binary
/// attachment, invalid JSON), so that the sender is told what the server received.
#[derive(Debug)]
pub struct Arg<T>(pub Result<T, Unreadable>);

impl<A: Adapter, T: DeserializeOwned> FromMessageParts<A> for Arg<T> {
    type Error = Infallible;
    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        value: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let binary = match value {
            Value::Str(_, attachments) => attachments.as_ref().is_some_and(|a| !a.is_empty()),
            Value::Bytes(_) => true,
        };
        if binary {
            return Ok(Self(Err(Unreadable::Binary)));
        }
        let Ok(TryData(data)) = TryData::<T>::from_message_parts(socket, value, ack_id);
        Ok(Self(data.map_err(|e| {
            match value {
                // `["event"]`: the array holds the event name only.
                Value::Str(raw, _)
                    if serde_json::from_str::<Vec<serde::de::IgnoredAny>>(raw)
                        .is_ok_and(|items| items.len() <= 1) =>
                {
                    Unreadable::Missing
                }
                _ => Unreadable::Invalid(e.to_string()),
            }
        })))
    }
}

/// A new public id: 128 random bits as 32 hex digits.
fn public_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Registers the namespace handlers on `io`; resolves once the Redis adapter is subscribed.
pub async fn register(io: &Io) -> Result<(), crate::redis::adapter::InitError> {
    io.ns(event::NAMESPACE, on_connect).await
}

async fn on_connect(
    socket: SocketRef<ClusterAdapter>,
    io: Io,
    State(instance): State<Arc<Instance>>,
) {
    let id = public_id();
    tracing::debug!(instance = %instance.info.id, socket = %socket.id, public_id = %id, "client connected");
    let member = Member {
        id: id.clone(),
        instance: instance.info.id.clone(),
        instance_url: instance.info.url.clone(),
        name: String::new(),
        since: now_ms(),
        rooms: Vec::new(),
    };
    socket.extensions.insert(Arc::new(SocketState {
        id: id.clone(),
        limit: RateLimit::new(RATE_BURST, RATE_PER_SECOND),
        member: Mutex::new(member.clone()),
    }));
    socket.join(presence::own_room(&id));
    let welcome = Welcome {
        id,
        instance: instance.info.clone(),
        limits: Limits::default(),
    };
    if let Err(e) = socket.emit(event::WELCOME, &welcome) {
        tracing::debug!(socket = %socket.id, "welcome not sent: {e}");
    }
    socket.on(event::MESSAGE, broadcast::on_message);
    socket.on(event::SET_NAME, presence::on_set_name);
    socket.on(event::JOIN, presence::on_join);
    socket.on(event::LEAVE, presence::on_leave);
    socket.on(event::ROOM_MESSAGE, presence::on_room_message);
    socket.on(event::DIRECT, presence::on_direct);
    socket.on(event::PRESENCE, presence::on_presence);
    socket.on_fallback(on_unknown_event);
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
    if let Some(state) = socket.extensions.get::<Arc<SocketState>>() {
        presence::depart(&io, &instance, &state.id).await;
    }
}

/// Longest event name echoed back in an `unknown_event` error, in characters.
const ECHOED_EVENT_CHARS: usize = 64;

/// Answers an event no handler knows: `unknown_event`, counted against the rate limit.
async fn on_unknown_event(
    socket: SocketRef<ClusterAdapter>,
    Extension(state): Extension<Arc<SocketState>>,
    Event(name): Event,
    AckRequested(wants_ack): AckRequested,
    ack: AckSender<ClusterAdapter>,
) {
    let shown: String = name.chars().take(ECHOED_EVENT_CHARS).collect();
    let rejection = match rate_limit(&state) {
        Err(limited) => limited,
        Ok(()) => Rejection::new(
            RejectionCode::UnknownEvent,
            format!(
                "unknown event {shown:?}; this server accepts: {}",
                event::CLIENT_EVENTS.join(", ")
            ),
        ),
    };
    let error = rejection.into_event(&shown);
    answer(
        &socket,
        ack,
        wants_ack,
        Some(&error),
        &gridcast_shared::SendAck::err(error.clone()),
    );
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
                // Counted and summarised by `drops::report`; a line per packet would flood.
                instance.count_dropped(full);
                tracing::debug!(instance = %instance.info.id, dropped = full, "client buffers full, packets dropped");
            }
        }
        other => tracing::warn!(instance = %instance.info.id, "broadcast failed: {other}"),
    }
}
