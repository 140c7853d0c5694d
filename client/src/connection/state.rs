//! The connection's signals, which components read, and what it remembers between sessions.

use std::collections::{HashMap, VecDeque};

use gridcast_shared::{auth::User, presence::Member};
use leptos::prelude::*;
use serde_json::Value;

use crate::{
    model::{Arrived, Awaiting, Echoes, Line, Link, Notice, Target, Traffic},
    transport::Outbox,
};

/// How long a server may take to send `welcome` after the CONNECT ack, with no sign of
/// speaking gridcast (no message metadata, no gridcast event), before the page treats it as a
/// plain Socket.IO server.
pub(super) const PLAIN_AFTER_MS: u32 = 2_000;

/// Display names kept for senders who left, so their old messages keep their names.
pub(super) const NAMES_KEPT: usize = 5_000;

/// Where the connection is going, and what it must remember on the way.
#[derive(Debug, Clone)]
pub(super) struct Going {
    /// Why the connection being opened is opened (told once its `welcome` arrives).
    pub(super) arrived: Arrived,
    /// Where a draining server said to go.
    pub(super) drained_to: Option<Vec<String>>,
    /// Where the session is in use now, when the server said another connection took it over.
    pub(super) taken: Option<String>,
    /// The instance belongs to this cluster: it gets the session token and offset.
    pub(super) own: bool,
    /// The current session showed it speaks gridcast (metadata, a gridcast event).
    pub(super) gridcast: bool,
    /// Sessions opened so far (tells a stale timer from the current session's).
    pub(super) session: u64,
}

/// A wire payload as JSON; the shared types always serialise.
pub(super) fn payload(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("wire types serialise")
}

/// The connection and its observable state; `Copy`, so components can take it from context.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    /// The one connection state: phase, instance, public id, Redis link, plain server.
    pub link: RwSignal<Link>,
    /// Received messages, oldest first, at most [`HISTORY`] (more while the reader is scrolled
    /// up).
    pub lines: RwSignal<VecDeque<Line>>,
    /// Lines added since the page loaded (the "N new" pill counts from it).
    pub received: RwSignal<u64>,
    /// The latest notice.
    pub notice: RwSignal<Option<Notice>>,
    /// Message size limit announced by the server.
    pub max_message_bytes: RwSignal<usize>,
    /// Who the page is signed in as, from its token's claims (clusters with `--auth jwt`).
    pub user: RwSignal<Option<User>>,
    /// Every client of the cluster, from the presence snapshot and deltas.
    pub members: RwSignal<Vec<Member>>,
    /// Display names by public id, also of members who left (their messages keep their names).
    pub names: RwSignal<HashMap<String, String>>,
    /// Where the composer sends.
    pub send_to: RwSignal<Target>,
    /// Live instances of the cluster (its registry), where the page may move when its own stops
    /// answering.
    pub live: RwSignal<Vec<String>>,
    /// Messages per instance over the last minute, for the live view (read on the clock's tick,
    /// not per message).
    pub traffic: StoredValue<Traffic>,
    pub(super) going: StoredValue<Going>,
    pub(super) holding: StoredValue<bool>,
    pub(super) echoes: StoredValue<Echoes>,
    pub(super) out: StoredValue<Option<Outbox>>,
    pub(super) generation: StoredValue<u64>,
    pub(super) pending: StoredValue<HashMap<u64, Awaiting>>,
    pub(super) next_ack: StoredValue<u64>,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

pub(super) fn now() -> f64 {
    js_sys::Date::now()
}
