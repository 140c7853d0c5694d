//! The browser's connection to one instance: signals the components read, and the actions they
//! call ([`Connection::switch_to`], [`Connection::send`], …). It speaks Socket.IO through
//! [`crate::transport`] and computes what to show with [`crate::model`]; no component touches a
//! socket.
//!
//! A lost session is retried with capped exponential backoff and jitter, twice on the same
//! instance, then on the next live one (or at once where a draining server said to go); the
//! picker follows. A session the server said was taken over (`session_taken`: the same token
//! connected elsewhere, e.g. another tab) is not retried: two pages would take it from each
//! other in a loop. Every connection sends the last offset seen and the session token in its
//! CONNECT auth, so the server replays what the page missed (told as a notice, or as a gap line
//! when it cannot). Switching instance ends the current session and starts a new one.

use std::collections::{HashMap, VecDeque};

use gloo_timers::future::TimeoutFuture;
use gridcast_shared::{
    ErrorEvent, InstanceInfo, MessageMeta, Welcome, event,
    message::{Draining, ReplayWaiting, SessionTaken},
    presence::{Member, PresenceDelta, PresencePage, RoomRef, Routed, SetName, ToRoom, ToSocket},
    session::Happening,
    validate,
};
use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;

pub use crate::model::{Channel, ConnState, HISTORY, Line, Notice, Target};
use crate::{
    model::{self, AckOutcome, Arrival, Awaiting},
    transport::{self, Ended, Outbox},
};

/// What the page sends on every connection to catch up, and where it is going.
#[derive(Debug, Clone, Default)]
struct Resume {
    /// The last offset seen.
    offset: Option<String>,
    /// The session token from `welcome` (a secret: never shown).
    session: Option<String>,
    /// Where a draining server said to go.
    drained_to: Option<Vec<String>>,
    /// The instance the page just moved away from, until its `welcome` is told.
    moved_from: Option<String>,
    /// Where the session is in use now, when the server said another connection took it over.
    taken: Option<String>,
}

impl Resume {
    fn auth(&self) -> Option<Value> {
        let mut auth = serde_json::Map::new();
        if let Some(offset) = &self.offset {
            auth.insert("offset".into(), Value::from(offset.clone()));
        }
        if let Some(session) = &self.session {
            auth.insert("session".into(), Value::from(session.clone()));
        }
        (!auth.is_empty()).then_some(Value::Object(auth))
    }
}

/// A wire payload as JSON; the shared types always serialise.
fn payload(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("wire types serialise")
}

/// The connection and its observable state; `Copy`, so components can take it from context.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    /// Connection state.
    pub state: RwSignal<ConnState>,
    /// Base URL of the instance chosen in the picker.
    pub target: RwSignal<String>,
    /// The instance we are actually talking to, from its `welcome`.
    pub instance: RwSignal<Option<InstanceInfo>>,
    /// Received messages, oldest first, at most [`HISTORY`].
    pub lines: RwSignal<VecDeque<Line>>,
    /// The latest notice.
    pub notice: RwSignal<Option<Notice>>,
    /// Message size limit announced by the server.
    pub max_message_bytes: RwSignal<usize>,
    /// Every client of the cluster, from the presence snapshot and deltas.
    pub members: RwSignal<Vec<Member>>,
    /// Where the composer sends.
    pub send_to: RwSignal<Target>,
    /// Live instances of the cluster, where the page may move when its own stops answering.
    pub live: RwSignal<Vec<String>>,
    resume: StoredValue<Resume>,
    out: StoredValue<Option<Outbox>>,
    generation: StoredValue<u64>,
    pending: StoredValue<HashMap<u64, Awaiting>>,
    next_ack: StoredValue<u64>,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

impl Connection {
    /// A connection that is not connected anywhere yet.
    pub fn new() -> Self {
        Self {
            state: RwSignal::new(ConnState::Connecting),
            target: RwSignal::new(String::new()),
            instance: RwSignal::new(None),
            lines: RwSignal::new(VecDeque::new()),
            notice: RwSignal::new(None),
            max_message_bytes: RwSignal::new(gridcast_shared::limits::MAX_MESSAGE_BYTES),
            members: RwSignal::new(Vec::new()),
            send_to: RwSignal::new(Target::All),
            live: RwSignal::new(Vec::new()),
            resume: StoredValue::new(Resume::default()),
            out: StoredValue::new(None),
            generation: StoredValue::new(0),
            pending: StoredValue::new(HashMap::new()),
            next_ack: StoredValue::new(0),
        }
    }

    /// Ends the current session (if any) and connects to `base` (e.g. `http://localhost:3001`).
    pub fn switch_to(self, base: String) {
        let same = gridcast_shared::instance::same_instance(&self.target.get_untracked(), &base);
        if same && self.out.with_value(Option::is_some) {
            return;
        }
        let generation = self.generation.get_value() + 1;
        self.generation.set_value(generation);
        // Dropping the sender ends the old session's outgoing stream: it closes and returns.
        self.out.set_value(None);
        self.resume.update_value(|r| r.taken = None);
        self.pending.update_value(HashMap::clear);
        self.members.set(Vec::new());
        self.send_to.set(Target::All);
        self.target.set(base.clone());
        self.instance.set(None);
        self.state.set(ConnState::Connecting);
        spawn_local(run(self, base, generation));
    }

    /// Sends `text` to the composer's target (everyone, a room, or one client), after the same
    /// checks the server applies. Returns whether it was handed to the socket; the server's
    /// verdict arrives later as a notice or a line.
    pub fn send(self, text: &str) -> bool {
        if let Err(rejection) = validate::check_text(text) {
            self.notify(Notice::error(rejection.message));
            return false;
        }
        let text = text.to_owned();
        let (name, arg) = match self.send_to.get_untracked() {
            Target::All => (event::MESSAGE, Value::from(text)),
            Target::Room(room) => (event::ROOM_MESSAGE, payload(&ToRoom { room, text })),
            Target::Direct(to) => (event::DIRECT, payload(&ToSocket { to, text })),
        };
        self.request(name, vec![arg], Awaiting::Sent(js_sys::Date::now()))
    }

    /// Sets this client's display name.
    pub fn set_name(self, name: &str) -> bool {
        if let Err(r) = gridcast_shared::presence::check_display_name(name) {
            self.notify(Notice::error(r.message));
            return false;
        }
        let name = name.to_owned();
        self.request(
            event::SET_NAME,
            vec![payload(&SetName { name })],
            Awaiting::Change,
        )
    }

    /// Joins (or leaves) a room.
    pub fn room(self, room: &str, join: bool) -> bool {
        if let Err(r) = gridcast_shared::presence::check_room(room) {
            self.notify(Notice::error(r.message));
            return false;
        }
        let name = if join { event::JOIN } else { event::LEAVE };
        if !join && self.send_to.get_untracked() == Target::Room(room.to_owned()) {
            self.send_to.set(Target::All);
        }
        let room = room.to_owned();
        self.request(name, vec![payload(&RoomRef { room })], Awaiting::Change)
    }

    /// This client's public id, when connected and welcomed.
    pub fn id(self) -> Option<String> {
        match self.state.get() {
            ConnState::Connected { id } if !id.is_empty() => Some(id),
            _ => None,
        }
    }

    fn request(self, name: &str, args: Vec<Value>, awaiting: Awaiting) -> bool {
        let connected = matches!(self.state.get_untracked(), ConnState::Connected { .. });
        let Some(out) = self.out.get_value().filter(|_| connected) else {
            self.notify(Notice::error("not connected: nothing was sent"));
            return false;
        };
        let id = self.next_ack.get_value();
        self.next_ack.set_value(id + 1);
        self.pending.update_value(|p| {
            p.insert(id, awaiting);
        });
        out.emit(name, args, Some(id))
    }

    /// Asks for a fresh presence snapshot, which also subscribes to its changes (done on
    /// `welcome`, when the instance list changes, and every half minute).
    pub fn refresh_presence(self) {
        if matches!(self.state.get_untracked(), ConnState::Connected { .. }) {
            self.request(event::PRESENCE, vec![], Awaiting::Presence { first: true });
        }
    }

    fn notify(self, notice: Notice) {
        self.notice.set(Some(notice));
    }

    fn is_current(self, generation: u64) -> bool {
        self.generation.try_get_value() == Some(generation)
    }
}

/// Keeps a session alive until superseded: to `base`, or, when it stops answering, to another
/// live instance.
async fn run(conn: Connection, mut base: String, generation: u64) {
    let mut attempt: u32 = 0;
    loop {
        if !conn.is_current(generation) {
            return;
        }
        let (outbox, outgoing) = transport::outbox();
        conn.out.set_value(Some(outbox));
        let auth = conn.resume.with_value(Resume::auth);
        let ended = transport::session(&base, auth, outgoing, |happening| {
            if conn.is_current(generation) {
                on_happening(conn, happening, &mut attempt);
            }
        })
        .await;
        match ended {
            Ended::Superseded => return,
            Ended::Lost(reason) => {
                if !conn.is_current(generation) {
                    return;
                }
                conn.out.set_value(None);
                if let Some(at) = conn.resume.try_update_value(|r| r.taken.take()).flatten() {
                    let reason = format!(
                        "this session is now in use on {at} (another tab or device); this page \
                         stopped reconnecting so that the two do not take it from each other: pick \
                         another instance to take it back, or reload for a new session"
                    );
                    conn.notify(Notice::error(reason.clone()));
                    conn.state.set(ConnState::Disconnected { reason });
                    return;
                }
                conn.state.set(ConnState::Disconnected {
                    reason: reason.clone(),
                });
                attempt += 1;
                let drained_to = conn
                    .resume
                    .try_update_value(|r| r.drained_to.take())
                    .flatten();
                let next = model::next_instance(
                    &base,
                    attempt,
                    &conn.live.get_untracked(),
                    drained_to.as_deref(),
                );
                if drained_to.is_none() {
                    TimeoutFuture::new(backoff_ms(attempt)).await;
                }
                if !conn.is_current(generation) {
                    return;
                }
                if !gridcast_shared::instance::same_instance(&next, &base) {
                    conn.resume
                        .update_value(|r| r.moved_from = Some(base.clone()));
                    base = next;
                    // The picker follows.
                    conn.target.set(base.clone());
                    conn.members.set(Vec::new());
                }
                conn.state.set(ConnState::Reconnecting { attempt, reason });
            }
        }
    }
}

/// 500 ms doubling to 5 s, with ±20 % jitter so that many tabs do not retry in step.
fn backoff_ms(attempt: u32) -> u32 {
    let base = (500u32 << attempt.saturating_sub(1).min(4)).min(5_000);
    let jitter = 0.8 + 0.4 * js_sys::Math::random();
    (f64::from(base) * jitter) as u32
}

fn on_happening(conn: Connection, happening: Happening, attempt: &mut u32) {
    match happening {
        Happening::Connected { .. } => {
            *attempt = 0;
            conn.state.set(ConnState::Connected { id: String::new() });
        }
        Happening::Event { event, args } => on_event(conn, &event, args),
        Happening::Ack { id, mut args } => {
            let Some(awaiting) = conn.pending.try_update_value(|p| p.remove(&id)).flatten() else {
                return;
            };
            match model::on_ack(awaiting, args.pop(), js_sys::Date::now()) {
                AckOutcome::Notice(notice) => conn.notify(notice),
                AckOutcome::Members {
                    members,
                    first,
                    next,
                } => {
                    if first {
                        conn.members.set(members);
                    } else {
                        conn.members.update(|ms| {
                            for member in members {
                                model::upsert(ms, member);
                            }
                        });
                    }
                    // A large cluster's list comes in pages: ask for the next one.
                    if let Some(cursor) = next {
                        let page = PresencePage {
                            cursor: Some(cursor),
                            limit: None,
                        };
                        conn.request(
                            event::PRESENCE,
                            vec![payload(&page)],
                            Awaiting::Presence { first: false },
                        );
                    }
                }
                AckOutcome::Member(member) => conn.members.update(|ms| model::upsert(ms, member)),
            }
        }
        Happening::Send(_) => {}
    }
}

/// The first argument of an event as `T`, or a notice saying what could not be read.
fn first<T: serde::de::DeserializeOwned>(
    conn: Connection,
    what: &str,
    args: &mut Vec<Value>,
) -> Option<T> {
    let value = if args.is_empty() {
        Value::Null
    } else {
        args.remove(0)
    };
    serde_json::from_value(value)
        .inspect_err(|e| conn.notify(Notice::unreadable(what, e)))
        .ok()
}

fn on_event(conn: Connection, name: &str, mut args: Vec<Value>) {
    match name {
        event::MESSAGE => {
            let Some(text) = first::<String>(conn, "a message", &mut args) else {
                return;
            };
            // Plain servers send no metadata; ours always do, and it must be readable.
            let meta = match args
                .first()
                .cloned()
                .map(serde_json::from_value::<MessageMeta>)
            {
                Some(Ok(meta)) => Some(meta),
                Some(Err(e)) => {
                    conn.notify(Notice::unreadable("message metadata", e));
                    None
                }
                None => None,
            };
            if let Some(offset) = meta.as_ref().and_then(|m| m.offset.as_ref()) {
                conn.resume
                    .update_value(|r| r.offset = Some(offset.to_string()));
            }
            // Grid-check probes use the plain broadcast contract; keep them out of the history.
            if !gridcast_shared::grid::is_tag(&text) {
                push_line(conn, text, meta, Channel::All);
            }
        }
        event::ROOM_MESSAGE | event::DIRECT => {
            if let Some(routed) = first::<Routed>(conn, "a room or direct message", &mut args) {
                if let Some(offset) = &routed.meta.offset {
                    conn.resume
                        .update_value(|r| r.offset = Some(offset.to_string()));
                }
                let channel = model::routed_channel(&routed);
                push_line(conn, routed.text, Some(routed.meta), channel);
            }
        }
        event::PRESENCE => {
            if let Some(deltas) = first::<Vec<PresenceDelta>>(conn, "presence changes", &mut args) {
                conn.members.update(|members| {
                    for delta in deltas {
                        model::apply(members, delta);
                    }
                });
            }
        }
        event::WELCOME => {
            if let Some(welcome) = first::<Welcome>(conn, "a welcome", &mut args) {
                conn.max_message_bytes.set(welcome.limits.max_message_bytes);
                let moved_from = conn
                    .resume
                    .try_update_value(|r| {
                        r.session = Some(welcome.session.clone());
                        r.moved_from.take()
                    })
                    .flatten();
                let now_ms = js_sys::Date::now();
                let at = Arrival {
                    now_ms,
                    time: clock(now_ms),
                };
                let (notice, gap) = model::on_recovery(
                    welcome.recovery.as_ref(),
                    moved_from.as_deref(),
                    &welcome.instance.url,
                    at,
                );
                if let Some(notice) = notice {
                    conn.notify(notice);
                }
                if let Some(gap) = gap {
                    conn.lines.update(|lines| {
                        model::push_line(lines, gap);
                    });
                }
                conn.instance.set(Some(welcome.instance));
                conn.state.set(ConnState::Connected { id: welcome.id });
                // The list now, and its changes from now on (asking subscribes).
                conn.refresh_presence();
            }
        }
        event::REPLAY_WAITING => {
            if let Some(waiting) = first::<ReplayWaiting>(conn, "a replay queue notice", &mut args)
            {
                conn.notify(Notice::info(format!(
                    "catching up: {} other replays are ahead of yours on this instance",
                    waiting.ahead
                )));
            }
        }
        event::DRAINING => {
            if let Some(draining) = first::<Draining>(conn, "a draining notice", &mut args) {
                conn.resume
                    .update_value(|r| r.drained_to = Some(draining.instances));
            }
        }
        event::SESSION_TAKEN => {
            if let Some(taken) = first::<SessionTaken>(conn, "a session takeover", &mut args) {
                conn.resume
                    .update_value(|r| r.taken = Some(taken.instance_url));
            }
        }
        event::ERROR => {
            if let Some(error) = first::<ErrorEvent>(conn, "an error report", &mut args) {
                conn.notify(Notice::error(error.message));
            }
        }
        other => conn.notify(Notice::error(format!(
            "the server sent an event this page does not know: {other:?}"
        ))),
    }
}

fn push_line(conn: Connection, text: String, meta: Option<MessageMeta>, channel: Channel) {
    let now_ms = js_sys::Date::now();
    let my_id = match conn.state.get_untracked() {
        ConnState::Connected { id } => id,
        _ => String::new(),
    };
    let at = Arrival {
        now_ms,
        time: clock(now_ms),
    };
    let fallback = format!(
        "plain-{}-{}",
        now_ms as u64,
        (js_sys::Math::random() * 1e15) as u64
    );
    let line = model::line(text, meta, channel, &my_id, at, fallback);
    conn.lines.update(|lines| {
        model::push_line(lines, line);
    });
}

fn clock(ms: f64) -> String {
    let date = js_sys::Date::new(&ms.into());
    format!(
        "{:02}:{:02}:{:02}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}
