//! Socket.IO handlers of the default namespace, one module per feature.
//!
//! - [`request`]: the [`Request`](request::Request) every handler takes, and how it answers.
//! - [`broadcast`]: `message` to everyone on every instance (the seed-compatible contract).
//! - [`presence`]: display names, rooms, direct messages, and the presence list.
//! - [`deliver`]: emitting across the cluster, with local delivery when Redis is away.
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
pub mod deliver;
pub mod presence;
pub mod request;

use std::sync::{Arc, Mutex};

use gridcast_shared::{Rejection, RejectionCode, Welcome, event, limits::Limits, presence::Member};
use socketioxide::{
    extract::{Event, SocketRef, State},
    socket::DisconnectReason,
};

use crate::{
    instance::{ClusterAdapter, Instance, Io, Unsent},
    limit::RateLimit,
    now_ms,
};
use request::Request;

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
        limit: RateLimit::from_rate(instance.rate),
        member: Mutex::new(member.clone()),
    }));
    socket.join(presence::own_room(&id));
    let welcome = Welcome {
        id,
        instance: instance.info.clone(),
        limits: Limits::new(instance.rate),
    };
    if let Err(e) = socket.emit(event::WELCOME, &welcome) {
        instance.count_unsent(Unsent::Welcome);
        tracing::warn!(instance = %instance.info.id, socket = %socket.id, "welcome not sent: {e}");
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
async fn on_unknown_event(mut req: Request, Event(name): Event) {
    let shown: String = name.chars().take(ECHOED_EVENT_CHARS).collect();
    let result = req.rate_limit().and_then(|()| {
        Err::<(), _>(Rejection::new(
            RejectionCode::UnknownEvent,
            format!(
                "unknown event {shown:?}; this server accepts: {}",
                event::CLIENT_EVENTS.join(", ")
            ),
        ))
    });
    let _ = req.respond(&shown, result);
}

/// The member records of this instance's sockets.
pub fn local_members(io: &Io) -> Vec<Member> {
    io.sockets()
        .iter()
        .filter_map(|s| s.extensions.get::<Arc<SocketState>>())
        .map(|state| state.member())
        .collect()
}
