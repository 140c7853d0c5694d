//! What a connected socket carries: its public id, its session token, its request budget, its
//! member record and where its presence writes stand ([`SocketState`], in the socket's
//! extensions), and saving the session to Redis.
//!
//! Invariant: a [`SessionToken`] is known only to its client and Redis; its `Debug` hides it and
//! it is in no presence record, metadata or log line.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use gridcast_shared::{auth::Claims, presence::Member, recovery::StreamId};

use super::turn::Turns;
use crate::{instance::Instance, limit::budget::Budget, redis::sessions::Saved};

/// A session token: a secret between one client and the cluster. Never logged (its `Debug`
/// hides it), never sent to anyone else.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionToken(String);

impl SessionToken {
    /// The token a client sent back (in its CONNECT auth), once Redis knows it.
    pub(super) fn from_client(token: String) -> Self {
        Self(token)
    }

    pub(super) fn new() -> Self {
        Self(format!("{:032x}", rand::random::<u128>()))
    }

    /// The token itself, to hand to its client or to Redis.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(***)")
    }
}

/// Where a socket's presence stands. Its writes (announce on connect and on every change,
/// depart on disconnect) run one at a time under [`SocketState::presence`], and a socket that
/// departed is never announced again: the connect handler, the other handlers and the
/// disconnect handler run as separate tasks, and a disconnect can come before the connect
/// handler announced the socket (a client that closes at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Phase {
    /// Not announced yet: nothing of it is in presence.
    #[default]
    Arriving,
    /// Announced: in this instance's roster and presence hash.
    Listed,
    /// Departed: announcing it again does nothing.
    Gone,
}

/// Per-socket state, kept in the socket's extensions.
#[derive(Debug)]
pub(crate) struct SocketState {
    /// The public id: random, 128 bits, what every other client knows this socket by. Never the
    /// Engine.IO session id.
    pub(crate) id: String,
    /// The session token that restores this socket's id, name and rooms on a reconnect.
    pub(crate) session: SessionToken,
    /// What its requests draw on: its client's and its address's budgets, which outlive it.
    pub(crate) budget: Budget,
    /// The socket as presence shows it (shared with the instance's roster while listed).
    member: Arc<Mutex<Member>>,
    /// Where its presence stands; held while a presence write is under way.
    pub(crate) presence: tokio::sync::Mutex<Phase>,
    /// Where the history stood when it joined each of its rooms.
    joined: Mutex<HashMap<String, StreamId>>,
    /// Where the history stood when it attached.
    attached_at: Mutex<Option<StreamId>>,
    /// The claims of its token (`--auth jwt`), as the last `refresh` left them.
    claims: Mutex<Option<Claims>>,
    /// Told when the socket disconnects (its token's expiry stops watching).
    pub(crate) gone: tokio::sync::Notify,
    /// Told when `refresh` changed its claims (its token's expiry is watched anew: a fresh token
    /// may expire sooner than the one it replaces).
    pub(crate) refreshed: tokio::sync::Notify,
    /// The order its requests act in: the order they arrived.
    pub(super) turns: Turns,
    /// Set as its disconnect begins: presence writes still queued for it (behind the presence
    /// lock, which its departure also waits for) are not made.
    pub(super) left: std::sync::atomic::AtomicBool,
    /// Presence writes asked for (see [`Newest`]).
    pub(super) announces: Newest,
    /// Session saves asked for, and the lock they are made under, one at a time.
    saves: Newest,
    saving: tokio::sync::Mutex<()>,
    /// Which connection of its session this is ([`Saved::generation`]).
    generation: u64,
}

/// Counts the writes of one thing asked for, so that of several queued behind a lock only the
/// last is made: it writes the newest state, read under the lock. A burst of 40 `set_name`s made
/// 40 writes in a row, and the stale ones landed after the newer socket of the same session
/// wrote its own.
#[derive(Debug, Default)]
pub(super) struct Newest(std::sync::atomic::AtomicU64);

impl Newest {
    /// Asks for a write; the number to check with [`Newest::superseded`].
    pub(super) fn ask(&self) -> u64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }

    /// Whether a write was asked for after `asked` (which then has nothing newer to write).
    pub(super) fn superseded(&self, asked: u64) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst) != asked
    }
}

impl SocketState {
    /// A socket's state: nothing announced yet; in its rooms since `joined` (from its session).
    pub(super) fn new(
        id: String,
        session: SessionToken,
        budget: Budget,
        member: Member,
        joined: &BTreeMap<String, String>,
        claims: Option<Claims>,
        generation: u64,
    ) -> Self {
        let joined = member
            .rooms
            .iter()
            .map(|room| {
                let at = joined.get(room).and_then(|at| at.parse().ok());
                (room.clone(), at.unwrap_or(StreamId::ZERO))
            })
            .collect();
        Self {
            id,
            session,
            budget,
            member: Arc::new(Mutex::new(member)),
            presence: tokio::sync::Mutex::default(),
            joined: Mutex::new(joined),
            attached_at: Mutex::new(None),
            claims: Mutex::new(claims),
            gone: tokio::sync::Notify::new(),
            refreshed: tokio::sync::Notify::new(),
            turns: Turns::default(),
            left: std::sync::atomic::AtomicBool::new(false),
            announces: Newest::default(),
            saves: Newest::default(),
            saving: tokio::sync::Mutex::new(()),
            generation,
        }
    }

    /// The claims of its token, with `--auth jwt`.
    pub(crate) fn claims(&self) -> Option<Claims> {
        self.claims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Its token's claims after a `refresh`.
    pub(crate) fn set_claims(&self, claims: Claims) {
        *self.claims.lock().unwrap_or_else(|p| p.into_inner()) = Some(claims);
    }

    /// Notes where the history stood when it attached.
    pub(crate) fn attached_at(&self, at: StreamId) {
        *self.attached_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    fn joined(&self) -> std::sync::MutexGuard<'_, HashMap<String, StreamId>> {
        self.joined.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that it joined `room` when the history stood at `at` (a room it is in keeps the
    /// first position).
    pub(crate) fn joined_at(&self, room: &str, at: StreamId) {
        self.joined().entry(room.to_owned()).or_insert(at);
    }

    /// Forgets when it joined `room` (it left).
    pub(crate) fn left(&self, room: &str) {
        self.joined().remove(room);
    }

    /// Its rooms, each with where the history stood when it joined.
    pub(crate) fn rooms_since(&self) -> Vec<(String, StreamId)> {
        let joined = self.joined();
        self.rooms()
            .into_iter()
            .map(|room| {
                let at = joined.get(&room).copied().unwrap_or(StreamId::ZERO);
                (room, at)
            })
            .collect()
    }

    /// The member record itself, for the roster to read when it writes the member again.
    pub(crate) fn shared_member(&self) -> Arc<Mutex<Member>> {
        self.member.clone()
    }

    /// A copy of the member record.
    pub(crate) fn member(&self) -> Member {
        self.member
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the member record and returns a copy of the result.
    pub(crate) fn update(&self, f: impl FnOnce(&mut Member)) -> Member {
        let mut member = self.member.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut member);
        member.clone()
    }

    /// The rooms it is in (user-facing names).
    pub(crate) fn rooms(&self) -> Vec<String> {
        self.member
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .rooms
            .clone()
    }

    /// What its session restores.
    pub(crate) fn saved(&self) -> Saved {
        let member = self.member();
        let joined = self
            .joined()
            .iter()
            .map(|(room, at)| (room.clone(), at.to_string()))
            .collect();
        let attached_at = *self.attached_at.lock().unwrap_or_else(|p| p.into_inner());
        Saved {
            id: self.id.clone(),
            name: member.name,
            rooms: member.rooms,
            joined,
            attached_at: attached_at.map(|at| at.to_string()),
            sub: self.claims().map(|c| c.sub),
            generation: self.generation,
        }
    }
}

/// A new public id: 128 random bits as 32 hex digits.
pub(super) fn public_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Records the socket's session in Redis (on connect, change and disconnect).
pub(super) async fn save_session(instance: &Instance, state: &SocketState) {
    let asked = state.saves.ask();
    let _saving = state.saving.lock().await;
    if state.saves.superseded(asked) {
        return;
    }
    if let Err(e) = instance
        .sessions()
        .save(state.session.expose(), &state.saved())
        .await
    {
        tracing::debug!(instance = %instance.info.id, public_id = %state.id, "session not saved: {e}");
    }
}
