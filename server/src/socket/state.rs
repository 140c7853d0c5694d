//! What a connected socket carries: its public id, its session token, its request budget and its
//! member record ([`SocketState`], in the socket's extensions), and saving the session to Redis.
//!
//! Invariant: a [`SessionToken`] is known only to its client and Redis; its `Debug` hides it and
//! it is in no presence record, metadata or log line.

use std::sync::Mutex;

use gridcast_shared::presence::Member;

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
    /// The socket as presence shows it.
    pub(crate) member: Mutex<Member>,
}

impl SocketState {
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
        Saved {
            id: self.id.clone(),
            name: member.name,
            rooms: member.rooms,
        }
    }
}

/// A new public id: 128 random bits as 32 hex digits.
pub(super) fn public_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Records the socket's session in Redis (on connect, change and disconnect).
pub(super) async fn save_session(instance: &Instance, state: &SocketState) {
    if let Err(e) = instance
        .sessions()
        .save(state.session.expose(), &state.saved())
        .await
    {
        tracing::debug!(instance = %instance.info.id, public_id = %state.id, "session not saved: {e}");
    }
}
