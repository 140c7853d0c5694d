//! A client arriving and leaving: the connect middleware (CONNECT auth, session restore, the
//! start of attaching), the connect handler (handlers, `welcome`, replay, presence), disconnect,
//! and events no handler knows.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
};

use axum::extract::ConnectInfo;

use gridcast_shared::{
    Rejection, RejectionCode, Welcome,
    auth::User,
    event,
    limits::Limits,
    presence::Member,
    recovery::{ConnectAuth, Recovery, RecoveryFailure},
};
use socketioxide::{
    extract::{Event, SocketRef, State, TryData},
    socket::{DisconnectReason, RecoveryPid},
};

use super::{
    broadcast, presence, refresh,
    request::Request,
    routed,
    state::{SessionToken, SocketState, public_id, save_session},
    takeover::{self, take_over},
};
use crate::{
    auth::AuthError,
    clock::now_ms,
    hub::{Attached, Attaching},
    instance::{Instance, Unsent},
    limit::address::Address,
    redis::{
        adapter::{ClusterAdapter, Io},
        sessions::Saved,
    },
    rooms::{own_room, room_key, user_room},
};

/// A connecting client, as the connect middleware prepared it for the connect handler.
#[derive(Debug, Clone)]
struct Arrival {
    auth: ConnectAuth,
    restored: bool,
    attaching: Attaching,
}

/// Connect middleware, before the client counts as connected (socketioxide sends the CONNECT ack
/// when it returns): checks the client's token (with `--auth jwt`), reads the auth, loads the
/// session it names, gives the socket its state and every handler, and starts attaching it (so
/// no live broadcast reaches it before its `welcome`). Refuses only a missing or bad token (the
/// client gets a connect error with the reason); anything else wrong is told in `welcome`.
///
/// The handlers are registered here, not in the connect handler: socketioxide spawns that as a
/// task after the CONNECT ack has gone, and an event the client sent at once (in its own
/// `connect` callback) could be read before the handler ran and find no handler at all.
pub(super) async fn arrive(
    socket: SocketRef<ClusterAdapter>,
    TryData(auth): TryData<serde_json::Value>,
    State(instance): State<Arc<Instance>>,
) -> Result<(), AuthError> {
    let mut auth = ConnectAuth::read(auth.ok().as_ref());
    let claims = instance.auth().verify(auth.token.as_deref())?;
    let restored = match &auth.session {
        Some(token) => match instance.sessions().load(token).await {
            Ok(saved) => saved.map(|saved| (SessionToken::from_client(token.clone()), saved)),
            Err(e) => {
                tracing::debug!(instance = %instance.info.id, "session not loaded: {e}");
                None
            }
        },
        None => None,
    };
    // A session is the user's it was made for: never resumed under another identity.
    let restored = restored
        .filter(|(_, saved)| saved.sub.as_deref() == claims.as_ref().map(|c| c.sub.as_str()));
    let is_restored = restored.is_some();
    let (session, saved) = restored.unwrap_or_else(|| {
        (
            SessionToken::new(),
            Saved {
                id: public_id(),
                name: String::new(),
                rooms: Vec::new(),
                joined: Default::default(),
                attached_at: None,
                sub: claims.as_ref().map(|c| c.sub.clone()),
                generation: 0,
            },
        )
    });
    // A stock client that comes back with its `pid` and no offset received no history-backed
    // event on its last connection: it missed everything after where that one attached.
    if is_restored && auth.by_pid && auth.offset.is_none() {
        auth.offset = saved.attached_at.as_ref().map(|at| at.parse());
    }
    // The CONNECT reply's `pid` (the stock client's connection state recovery) is the session
    // token. A stock client that sent its `pid` gets the same one back only when nothing will be
    // missed: its session is restored and its offset is still in the history. Otherwise its
    // identity stays (that is `welcome.restored`) under a new token, so that the client says it
    // did not recover.
    let complete = match &auth.offset {
        Some(Ok(offset)) if is_restored => {
            instance.hub().offset_known(offset).await.unwrap_or(false)
        }
        _ => false,
    };
    let session = if is_restored && auth.by_pid && !complete {
        let stale = session;
        if let Err(e) = instance.sessions().forget(stale.expose()).await {
            tracing::debug!(instance = %instance.info.id, "old session token not forgotten: {e}");
        }
        SessionToken::new()
    } else {
        session
    };
    socket
        .extensions
        .insert(RecoveryPid(session.expose().to_owned()));
    // With a token, its claims decide: the name is the user's `sub`, and only the rooms it may
    // join are joined again.
    let (name, saved_rooms) = match &claims {
        Some(claims) => (
            claims.sub.clone(),
            saved
                .rooms
                .iter()
                .filter(|room| claims.may_join(room))
                .cloned()
                .collect(),
        ),
        None => (saved.name.clone(), saved.rooms.clone()),
    };
    let mut rooms: Vec<String> = saved_rooms.iter().map(|r| room_key(r)).collect();
    rooms.push(own_room(&saved.id));
    if let Some(claims) = &claims {
        rooms.push(user_room(&claims.sub));
    }
    let member = Member {
        id: saved.id.clone(),
        instance: instance.info.id.clone(),
        instance_url: instance.info.url.clone(),
        name,
        since: now_ms(),
        rooms: saved_rooms,
    };
    if is_restored {
        // Before this socket joins its own room: see `takeover`.
        take_over(&socket, &instance, &saved.id).await;
    }
    // Put into the handshake's request by `accept`, kept by engineioxide with the session.
    let address = socket
        .req_parts()
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| Address::of(peer.ip()));
    socket.extensions.insert(Arc::new(SocketState::new(
        saved.id.clone(),
        session,
        instance.budgets().of(&saved.id, address),
        member,
        &saved.joined,
        claims,
        // A later connection of the session than the one that saved it last.
        saved.generation.saturating_add(u64::from(is_restored)),
    )));
    socket.on(event::MESSAGE, broadcast::on_message);
    socket.on(event::SET_NAME, presence::on_set_name);
    socket.on(event::JOIN, presence::on_join);
    socket.on(event::LEAVE, presence::on_leave);
    socket.on(event::ROOM_MESSAGE, routed::on_room_message);
    socket.on(event::DIRECT, routed::on_direct);
    socket.on(event::PRESENCE, presence::on_presence);
    socket.on(event::REFRESH, refresh::on_refresh);
    socket.on_fallback(on_unknown_event);
    socket.on_disconnect(on_disconnect);
    let attaching = instance.hub().begin(&socket, rooms).await;
    if let Some(state) = socket.extensions.get::<Arc<SocketState>>() {
        state.attached_at(attaching.at());
    }
    socket.extensions.insert(Arrival {
        auth,
        restored: is_restored,
        attaching,
    });
    Ok(())
}

/// The connect handler, spawned after the CONNECT ack: `welcome`, the replay, then live delivery
/// and presence.
pub(super) async fn on_connect(
    socket: SocketRef<ClusterAdapter>,
    State(instance): State<Arc<Instance>>,
    io: Io,
) {
    let (
        Some(Arrival {
            auth,
            restored,
            attaching,
        }),
        Some(state),
    ) = (
        socket.extensions.remove::<Arrival>(),
        socket.extensions.get::<Arc<SocketState>>(),
    )
    else {
        tracing::error!(instance = %instance.info.id, "connected without the connect middleware");
        socket.disconnect().ok();
        return;
    };
    let id = state.id.clone();
    tracing::debug!(instance = %instance.info.id, public_id = %id, restored, "client connected");
    if restored {
        // A socket that connected with the same token at the same time: see `takeover`.
        takeover::settle(socket.clone(), instance.clone(), id.clone());
    }
    if state.claims().is_some() {
        tokio::spawn(refresh::expire(socket.clone(), state.clone()));
    }
    let hub = instance.hub();
    // A malformed offset is told in `welcome`, and the client attaches as a fresh one.
    let malformed = match &auth.offset {
        Some(Err(bad)) => {
            hub.counters().unrecovered.fetch_add(1, Ordering::Relaxed);
            Some(Recovery::failed(
                RecoveryFailure::MalformedOffset,
                bad.to_string(),
            ))
        }
        _ => None,
    };
    let offset = auth.offset.as_ref().and_then(|o| o.as_ref().ok());
    let welcome = |replayed: Option<Recovery>| Welcome {
        id: id.clone(),
        instance: instance.info.clone(),
        limits: Limits::new(instance.rate),
        session: state.session.expose().to_owned(),
        restored,
        recovery: with_problem(replayed.or_else(|| malformed.clone()), auth.problem.clone()),
        user: state.claims().as_ref().map(User::from),
        redis: Some(instance.link().status()),
    };
    let sub = state.claims().map(|c| c.sub);
    let attached = hub
        .attach(
            &socket,
            attaching,
            offset,
            (&id, sub.as_deref()),
            || state.rooms_since(),
            welcome,
        )
        .await;
    if attached != Attached::Live {
        if attached == Attached::TooSlow {
            instance.count_unsent(Unsent::Welcome);
        }
        return;
    }
    save_session(&instance, &state).await;
    presence::announce(&instance, socket.id, &state).await;
    instance
        .admin()
        .connected(&io, &socket, &state.member())
        .await;
}

/// `recovery` with a problem of the CONNECT auth added to what it says.
fn with_problem(recovery: Option<Recovery>, problem: Option<String>) -> Option<Recovery> {
    match (recovery, problem) {
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
    }
}

async fn on_disconnect(
    socket: SocketRef<ClusterAdapter>,
    State(instance): State<Arc<Instance>>,
    io: Io,
    reason: DisconnectReason,
) {
    let state = socket.extensions.get::<Arc<SocketState>>();
    if let Some(state) = &state {
        state.left.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    instance.hub().forget(socket.id).await;
    if reason == DisconnectReason::BufferFull {
        instance.drops().client_closed();
        instance.warnings().warn(
            "client closed: a packet did not fit in its buffer",
            &format_args!("{}", socket.id),
        );
    }
    if let Some(state) = state {
        state.gone.notify_waiters();
        tracing::debug!(instance = %instance.info.id, public_id = %state.id, ?reason, "client disconnected");
        save_session(&instance, &state).await;
        presence::depart(&instance, socket.id, &state).await;
        instance.admin().disconnected(&io, &state.id, reason).await;
    }
}

/// Longest event name echoed back in an `unknown_event` error, in characters.
const ECHOED_EVENT_CHARS: usize = 64;

/// Answers an event no handler knows: `unknown_event`, counted against the rate limit.
async fn on_unknown_event(mut req: Request, Event(name): Event) {
    let shown: String = name.chars().take(ECHOED_EVENT_CHARS).collect();
    let result = req.admit().await.and_then(|()| {
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
pub(crate) fn local_sessions(io: &Io) -> Vec<(String, String)> {
    io.sockets()
        .iter()
        .filter_map(|s| s.extensions.get::<Arc<SocketState>>())
        .map(|state| (state.session.expose().to_owned(), state.id.clone()))
        .collect()
}
