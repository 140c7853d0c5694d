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
pub mod presence_batch;
pub mod request;

use std::sync::{Arc, Mutex};

use gridcast_shared::{
    Rejection, RejectionCode, Welcome, event,
    limits::Limits,
    presence::Member,
    recovery::{ConnectAuth, Recovery, RecoveryFailure},
};
use socketioxide::{
    extract::{Event, SocketRef, State, TryData},
    handler::ConnectHandler,
    socket::DisconnectReason,
};

use crate::{
    hub::Attaching,
    instance::{ClusterAdapter, Instance, Io, Unsent},
    limit::RateLimit,
    now_ms,
    redis::sessions::Saved,
};
use request::Request;

/// A session token: a secret between one client and the cluster. Never logged (its `Debug`
/// hides it), never sent to anyone else.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    fn new() -> Self {
        Self(format!("{:032x}", rand::random::<u128>()))
    }

    /// The token itself, to hand to its client or to Redis.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(***)")
    }
}

/// Per-socket state, kept in the socket's extensions.
#[derive(Debug)]
pub struct SocketState {
    /// The public id: random, 128 bits, what every other client knows this socket by. Never the
    /// Engine.IO session id.
    pub id: String,
    /// The session token that restores this socket's id, name and rooms on a reconnect.
    pub session: SessionToken,
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

    /// The rooms it is in (user-facing names).
    pub fn rooms(&self) -> Vec<String> {
        self.member
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .rooms
            .clone()
    }

    /// What its session restores.
    pub fn saved(&self) -> Saved {
        let member = self.member();
        Saved {
            id: self.id.clone(),
            name: member.name,
            rooms: member.rooms,
        }
    }
}

/// A new public id: 128 random bits as 32 hex digits.
fn public_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Records the socket's session in Redis (on connect, change and disconnect).
pub async fn save_session(instance: &Instance, state: &SocketState) {
    if let Err(e) = instance
        .sessions()
        .save(state.session.expose(), &state.saved())
        .await
    {
        tracing::debug!(instance = %instance.info.id, public_id = %state.id, "session not saved: {e}");
    }
}

/// Registers the namespace handlers on `io`; resolves once the Redis adapter is subscribed.
pub async fn register(io: &Io) -> Result<(), crate::redis::adapter::InitError> {
    io.ns(event::NAMESPACE, on_connect.with(arrive)).await
}

/// A connecting client, as the connect middleware prepared it.
#[derive(Debug, Clone)]
struct Arrival {
    auth: ConnectAuth,
    session: SessionToken,
    saved: Saved,
    restored: bool,
    attaching: Attaching,
}

/// Connect middleware, before the client counts as connected: reads the auth, loads the session
/// it names, and starts attaching the socket (so no live broadcast reaches it before its
/// `welcome`). Never refuses: what is wrong is told in `welcome`.
async fn arrive(
    socket: SocketRef<ClusterAdapter>,
    TryData(auth): TryData<serde_json::Value>,
    State(instance): State<Arc<Instance>>,
) -> Result<(), std::convert::Infallible> {
    let auth = ConnectAuth::read(auth.ok().as_ref());
    let restored = match &auth.session {
        Some(token) => match instance.sessions().load(token).await {
            Ok(saved) => saved.map(|saved| (SessionToken(token.clone()), saved)),
            Err(e) => {
                tracing::debug!(instance = %instance.info.id, "session not loaded: {e}");
                None
            }
        },
        None => None,
    };
    let is_restored = restored.is_some();
    let (session, saved) = restored.unwrap_or_else(|| {
        (
            SessionToken::new(),
            Saved {
                id: public_id(),
                name: String::new(),
                rooms: Vec::new(),
            },
        )
    });
    let mut rooms: Vec<String> = saved.rooms.iter().map(|r| presence::room_key(r)).collect();
    rooms.push(presence::own_room(&saved.id));
    let attaching = instance.hub().begin(&socket, rooms).await;
    socket.extensions.insert(Arrival {
        auth,
        session,
        saved,
        restored: is_restored,
        attaching,
    });
    Ok(())
}

async fn on_connect(socket: SocketRef<ClusterAdapter>, State(instance): State<Arc<Instance>>) {
    let Some(Arrival {
        auth,
        session,
        saved,
        restored,
        attaching,
    }) = socket.extensions.remove::<Arrival>()
    else {
        tracing::error!(instance = %instance.info.id, socket = %socket.id, "connected without the connect middleware");
        socket.disconnect().ok();
        return;
    };
    let id = saved.id.clone();
    tracing::debug!(instance = %instance.info.id, socket = %socket.id, public_id = %id, restored, "client connected");
    let member = Member {
        id: id.clone(),
        instance: instance.info.id.clone(),
        instance_url: instance.info.url.clone(),
        name: saved.name,
        since: now_ms(),
        rooms: saved.rooms,
    };
    let state = Arc::new(SocketState {
        id: id.clone(),
        session,
        limit: RateLimit::from_rate(instance.rate),
        member: Mutex::new(member.clone()),
    });
    socket.extensions.insert(state.clone());
    // Handlers first: the client may send as soon as it is connected.
    socket.on(event::MESSAGE, broadcast::on_message);
    socket.on(event::SET_NAME, presence::on_set_name);
    socket.on(event::JOIN, presence::on_join);
    socket.on(event::LEAVE, presence::on_leave);
    socket.on(event::ROOM_MESSAGE, presence::on_room_message);
    socket.on(event::DIRECT, presence::on_direct);
    socket.on(event::PRESENCE, presence::on_presence);
    socket.on_fallback(on_unknown_event);
    socket.on_disconnect(on_disconnect);

    let hub = instance.hub();
    let offset = match &auth.offset {
        Some(Ok(offset)) => Some(offset.clone()),
        _ => None,
    };
    let (recovery, replay) = match &auth.offset {
        None => (None, Vec::new()),
        Some(Err(bad)) => {
            hub.counters
                .unrecovered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (
                Some(Recovery::failed(
                    RecoveryFailure::MalformedOffset,
                    bad.to_string(),
                )),
                Vec::new(),
            )
        }
        Some(Ok(offset)) => {
            let (recovery, replay) = hub.plan(&attaching, offset, &id, &member.rooms).await;
            (Some(recovery), replay)
        }
    };
    let recovery = match (recovery, auth.problem) {
        (recovery, None) => recovery,
        (Some(mut recovery), Some(problem)) => {
            recovery.detail = Some(format!(
                "{}; {problem}",
                recovery.detail.unwrap_or_default()
            ));
            Some(recovery)
        }
        (None, Some(problem)) => Some(Recovery {
            recovered: false,
            replayed: None,
            reason: None,
            missed_at_least: None,
            detail: Some(problem),
        }),
    };
    let welcome = Welcome {
        id: id.clone(),
        instance: instance.info.clone(),
        limits: Limits::new(instance.rate),
        session: state.session.expose().to_owned(),
        restored,
        recovery,
    };
    if let Err(e) = socket.emit(event::WELCOME, &welcome) {
        instance.count_unsent(Unsent::Welcome);
        tracing::warn!(instance = %instance.info.id, socket = %socket.id, "welcome not sent: {e}");
    }
    hub.finish(&socket, replay, offset.as_ref(), &id, || state.rooms())
        .await;
    save_session(&instance, &state).await;
    presence::announce(&instance, state.member()).await;
}

async fn on_disconnect(
    socket: SocketRef<ClusterAdapter>,
    State(instance): State<Arc<Instance>>,
    reason: DisconnectReason,
) {
    tracing::debug!(instance = %instance.info.id, socket = %socket.id, ?reason, "client disconnected");
    instance.hub().forget(socket.id).await;
    if let Some(state) = socket.extensions.get::<Arc<SocketState>>() {
        save_session(&instance, &state).await;
        presence::depart(&instance, &state.id).await;
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

/// The sessions of this instance's sockets: (token, public id).
pub fn local_sessions(io: &Io) -> Vec<(String, String)> {
    io.sockets()
        .iter()
        .filter_map(|s| s.extensions.get::<Arc<SocketState>>())
        .map(|state| (state.session.expose().to_owned(), state.id.clone()))
        .collect()
}

/// The member records of this instance's sockets.
pub fn local_members(io: &Io) -> Vec<Member> {
    io.sockets()
        .iter()
        .filter_map(|s| s.extensions.get::<Arc<SocketState>>())
        .map(|state| state.member())
        .collect()
}
