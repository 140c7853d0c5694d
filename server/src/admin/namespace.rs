//! The `/admin` namespace the Admin UI connects to: the connect middleware (the login, refused
//! with `invalid credentials` as the UI expects, or with how to turn the Admin UI on), and the
//! connect handler: `session`, `config`, the feed turned on in every instance, then the
//! cluster's socket list (`all_sockets`).
//!
//! The list comes from presence (`crate::redis::presence`, every socket of every live instance
//! with its rooms and name), not from the adapter's `fetch_sockets` (a round to every instance
//! that waits for the slowest, and gives Engine.IO session ids). Presence has no transport nor
//! request headers: the sockets of this instance get theirs at once, the others' a moment later
//! (`socket_updated`, sent by each instance when the UI's `watch` reached it, `super::stats`).
//!
//! Order: the feed is turned on everywhere (the `watch` on the bus) and given a moment to
//! arrive before the admin socket joins the live room and presence is read, so that a socket
//! that connects meanwhile is in the list or in a later `socket_connected`. An event that
//! crosses the reading of presence can still be missed (as with Node.js' server, whose list and
//! events cross the same way); the UI's list is right again after a reload.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::extract::ConnectInfo;

use gridcast_shared::presence::PRESENCE_PAGE;
use socketioxide::{
    extract::{SocketRef, State, TryData},
    handler::ConnectHandler,
};

use super::{
    auth::{self, LoggedIn, Login, Refused},
    bus::Message,
    context::Admin,
    feed::LIVE,
    ops::{self, AdminSocketState},
    wire::{AdminSocket, Config, Handshake, NAMESPACE},
};
use crate::{
    limit::{address::Address, bucket::RateLimit},
    redis::adapter::{ClusterAdapter, InitError, Io},
    socket::SocketState,
};

/// How long the `watch` is given to reach every instance before presence is read.
const SETTLE: Duration = Duration::from_millis(200);

/// Most sockets `all_sockets` lists (the UI keeps every one in memory; presence pages are read
/// until then).
const LISTED_AT_MOST: usize = 10_000;

/// A new session's id, between the middleware and the handler. A credential: never shown.
#[derive(Clone)]
struct NewSession(String);

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewSession(***)")
    }
}

/// Registers `/admin` on `io`; resolves once the adapter is subscribed for it.
pub(crate) async fn register(io: &Io) -> Result<(), InitError> {
    io.ns(NAMESPACE, on_connect.with(authenticate)).await
}

/// Connect middleware: the login. A refused one is answered after a pause.
async fn authenticate(
    socket: SocketRef<ClusterAdapter>,
    TryData(login): TryData<Login>,
    State(admin): State<Arc<Admin>>,
) -> Result<(), Refused> {
    let login = login.unwrap_or_default();
    // Put into the handshake's request by `accept`, kept by engineioxide with the session.
    let tries = socket
        .req_parts()
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| admin.login_tries.get(Address::of(peer.ip())));
    match auth::log_in(&admin.access, &admin.sessions, login, tries.as_deref()).await {
        Ok(logged_in) => {
            socket.extensions.insert(Arc::new(AdminSocketState {
                limit: RateLimit::from_rate(admin.instance.rate),
            }));
            if let LoggedIn::Password(id) = logged_in {
                socket.extensions.insert(NewSession(id));
            }
            ops::register(&socket);
            Ok(())
        }
        Err(refused) => {
            if !matches!(refused, Refused::Off) {
                admin
                    .instance
                    .warnings()
                    .warn("admin login refused", &refused);
                tokio::time::sleep(auth::REFUSED_PAUSE).await;
            }
            Err(refused)
        }
    }
}

/// Connect handler: `session` (after a password login), `config`, then the socket list.
async fn on_connect(socket: SocketRef<ClusterAdapter>, State(admin): State<Arc<Admin>>, io: Io) {
    tracing::info!(instance = %admin.instance.info.id, "Admin UI connected");
    if let Some(NewSession(id)) = socket.extensions.remove::<NewSession>() {
        let _ = socket.emit("session", &id);
    }
    let _ = socket.emit("config", &Config::new(admin.access.read_only()));
    if admin.feed().watch() {
        admin.wake.notify_one();
    }
    if let Err(e) = admin.tell(Message::Watch { fresh: true }).await {
        tracing::debug!(instance = %admin.instance.info.id, "other instances not told of the Admin UI: {e}");
    }
    tokio::time::sleep(SETTLE).await;
    socket.join(LIVE);
    let sockets = all_sockets(&admin, &io).await;
    let _ = socket.emit("all_sockets", &sockets);
}

/// Every socket of the cluster from presence, with the details of this instance's own.
async fn all_sockets(admin: &Admin, io: &Io) -> Vec<AdminSocket> {
    let local: HashMap<String, SocketRef<ClusterAdapter>> = io
        .sockets()
        .into_iter()
        .filter_map(|s| Some((s.extensions.get::<Arc<SocketState>>()?.id.clone(), s)))
        .collect();
    let presence = admin.instance.presence();
    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let page = presence.page(cursor.as_ref(), PRESENCE_PAGE).await;
        let (members, next) = match page {
            Ok(page) => page,
            Err(e) => {
                tracing::debug!(instance = %admin.instance.info.id, "presence not read for the Admin UI: {e}");
                break;
            }
        };
        listed.extend(members.iter().map(|member| {
            let details = local.get(&member.id).map(|s| {
                (
                    s.transport_type(),
                    Handshake::of(s.req_parts(), member.since),
                )
            });
            AdminSocket::new(member, details)
        }));
        match next {
            Some(next) if listed.len() < LISTED_AT_MOST => cursor = Some(next),
            _ => break,
        }
    }
    listed.truncate(LISTED_AT_MOST);
    listed
}
