//! The browser's connection to one instance: the signals components read (above all
//! [`Connection::link`], the one connection state every element shows) and the actions they call
//! ([`Connection::switch_to`], [`Connection::send`], …). It speaks Socket.IO through
//! [`crate::transport`] and computes what to show with [`crate::model`]; no component touches a
//! socket.
//!
//! A lost session is retried with capped exponential backoff and jitter, twice on the same
//! instance, then on the next live one (or at once where a draining server said to go); the
//! picker follows. A session the server said was taken over (`session_taken`: the same token
//! connected elsewhere, e.g. another tab) is not retried: two pages would take it from each
//! other in a loop. Every connection to this cluster sends the last offset seen and the session
//! token in its CONNECT auth, so the server replays what the page missed (told as a notice, or
//! as a gap line when it cannot); both are kept in the tab's `sessionStorage`, so a reload
//! resumes the same session. A URL the user typed may be any Socket.IO server: it gets no token,
//! and when it sends no `welcome` the page falls back to the plain `message` string contract.

use std::collections::{HashMap, VecDeque};

use gloo_timers::future::TimeoutFuture;
use gridcast_shared::{
    ErrorEvent, MessageMeta, RedisLink, Welcome, event,
    instance::same_instance,
    message::{Draining, RedisLinkStatus, ReplayWaiting, SessionTaken},
    presence::{Member, PresenceDelta, PresencePage, RoomRef, Routed, SetName, ToRoom, ToSocket},
    session::Happening,
    validate,
};
use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;

pub use crate::model::{Channel, HISTORY, Line, Link, Notice, Phase, Target};
use crate::{
    model::{self, AckOutcome, Arrival, Arrived, Awaiting, Echoes, Traffic, Until},
    storage,
    transport::{self, Ended, Outbox},
};

/// How long a server may take to send `welcome` after the CONNECT ack, with no sign of
/// speaking gridcast (no message metadata, no gridcast event), before the page treats it as a
/// plain Socket.IO server.
const PLAIN_AFTER_MS: u32 = 2_000;

/// Display names kept for senders who left, so their old messages keep their names.
const NAMES_KEPT: usize = 5_000;

/// Where the connection is going, and what it must remember on the way.
#[derive(Debug, Clone)]
struct Going {
    /// Why the connection being opened is opened (told once its `welcome` arrives).
    arrived: Arrived,
    /// Where a draining server said to go.
    drained_to: Option<Vec<String>>,
    /// Where the session is in use now, when the server said another connection took it over.
    taken: Option<String>,
    /// The instance belongs to this cluster: it gets the session token and offset.
    own: bool,
    /// The current session showed it speaks gridcast (metadata, a gridcast event).
    gridcast: bool,
    /// Sessions opened so far (tells a stale timer from the current session's).
    session: u64,
}

/// A wire payload as JSON; the shared types always serialise.
fn payload(value: &impl serde::Serialize) -> Value {
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
    going: StoredValue<Going>,
    holding: StoredValue<bool>,
    echoes: StoredValue<Echoes>,
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

fn now() -> f64 {
    js_sys::Date::now()
}

impl Connection {
    /// A connection that is not connected anywhere yet.
    pub fn new() -> Self {
        Self {
            link: RwSignal::new(Link::new(String::new(), now())),
            lines: RwSignal::new(VecDeque::new()),
            received: RwSignal::new(0),
            notice: RwSignal::new(None),
            max_message_bytes: RwSignal::new(gridcast_shared::limits::MAX_MESSAGE_BYTES),
            members: RwSignal::new(Vec::new()),
            names: RwSignal::new(HashMap::new()),
            send_to: RwSignal::new(Target::All),
            live: RwSignal::new(Vec::new()),
            traffic: StoredValue::new(Traffic::default()),
            going: StoredValue::new(Going {
                arrived: Arrived::Fresh,
                drained_to: None,
                taken: None,
                own: true,
                gridcast: false,
                session: 0,
            }),
            holding: StoredValue::new(false),
            echoes: StoredValue::new(Echoes::default()),
            out: StoredValue::new(None),
            generation: StoredValue::new(0),
            pending: StoredValue::new(HashMap::new()),
            next_ack: StoredValue::new(0),
        }
    }

    /// Connects for the first time: where the tab was before a reload (its session resumed:
    /// same public id, name and rooms, and what it missed replayed), or else `origin`, the
    /// instance that served the page.
    pub fn start(self, origin: String) {
        let saved = storage::load();
        let arrived = if saved.session.is_some() {
            Arrived::Reload
        } else {
            Arrived::Fresh
        };
        self.open(saved.url.unwrap_or(origin), arrived, true);
    }

    /// Ends the current session (if any) and connects to `base` (e.g. `http://localhost:3001`),
    /// picked by the user. `own`: an instance of this cluster (it gets the session token), not a
    /// URL typed for any Socket.IO server.
    pub fn switch_to(self, base: String, own: bool) {
        let link = self.link.get_untracked();
        if same_instance(&link.url, &base) && self.out.with_value(Option::is_some) {
            return;
        }
        if !own || !self.going.with_value(|g| g.own) {
            // Another cluster: nothing of this one's presence applies.
            self.members.set(Vec::new());
        }
        self.open(base, Arrived::Picked { from: link.url }, own);
    }

    fn open(self, base: String, arrived: Arrived, own: bool) {
        let generation = self.generation.get_value() + 1;
        self.generation.set_value(generation);
        // Dropping the sender ends the old session's outgoing stream: it closes and returns.
        self.out.set_value(None);
        self.going.update_value(|g| {
            g.arrived = arrived;
            g.taken = None;
            g.drained_to = None;
            g.own = own;
        });
        self.pending.update_value(HashMap::clear);
        self.send_to.set(Target::All);
        self.link.set(Link::new(base.clone(), now()));
        if own {
            storage::set_url(&base);
        }
        spawn_local(run(self, base, generation));
    }

    /// Sends `text` to the composer's target (everyone, a room, or one client), after the same
    /// checks the server applies. Returns whether it was handed to the socket; the server's
    /// verdict arrives later as a notice or a line.
    pub fn send(self, text: &str) -> bool {
        if let Err(rejection) = validate::check_text(text) {
            self.notify(Notice::error(rejection.message, now()));
            return false;
        }
        let text = text.to_owned();
        if self.link.with_untracked(|l| l.plain) {
            // A plain server acks nothing and sends no metadata: the page times the echo.
            let Some(out) = self.out.get_value().filter(|_| self.can_send()) else {
                self.notify(Notice::error("not connected: nothing was sent", now()));
                return false;
            };
            self.echoes.update_value(|e| e.sent(&text, now()));
            return out.emit(event::MESSAGE, vec![Value::from(text)], None);
        }
        let (name, arg) = match self.send_to.get_untracked() {
            Target::All => (event::MESSAGE, Value::from(text)),
            Target::Room(room) => (event::ROOM_MESSAGE, payload(&ToRoom { room, text })),
            Target::Direct(to) => (event::DIRECT, payload(&ToSocket { to, text })),
        };
        self.request(name, vec![arg], Awaiting::Sent(now()))
    }

    /// Sets this client's display name. The server checks it (its rules for scripts and
    /// look-alike letters carry Unicode tables the page does not load: a refusal comes back
    /// through the ack, as a notice).
    pub fn set_name(self, name: &str) -> bool {
        let name = name.trim().to_owned();
        self.request(
            event::SET_NAME,
            vec![payload(&SetName { name })],
            Awaiting::Change,
        )
    }

    /// Joins (or leaves) a room.
    pub fn room(self, room: &str, join: bool) -> bool {
        if let Err(r) = gridcast_shared::presence::check_room(room) {
            self.notify(Notice::error(r.message, now()));
            return false;
        }
        let name = if join { event::JOIN } else { event::LEAVE };
        if !join && self.send_to.get_untracked() == Target::Room(room.to_owned()) {
            self.send_to.set(Target::All);
        }
        let room = room.to_owned();
        self.request(name, vec![payload(&RoomRef { room })], Awaiting::Change)
    }

    /// Whether the reader is scrolled up in the message list: while they are, old lines are not
    /// dropped from the top (which would move what they read); when they come back down the
    /// list is trimmed to [`HISTORY`] again.
    pub fn hold(self, holding: bool) {
        if self.holding.get_value() == holding {
            return;
        }
        self.holding.set_value(holding);
        if !holding {
            self.lines.update(|l| model::trim(l, HISTORY));
        }
    }

    /// This client's public id, when attached (tracked).
    pub fn id(self) -> Option<String> {
        self.link
            .with(|l| (l.attached() && !l.id.is_empty()).then(|| l.id.clone()))
    }

    /// This client's member record, when the presence list has it (tracked).
    pub fn me(self) -> Option<Member> {
        let id = self.id()?;
        self.members
            .with(|ms| ms.iter().find(|m| m.id == id).cloned())
    }

    fn can_send(self) -> bool {
        self.link.with_untracked(Link::can_send)
    }

    fn request(self, name: &str, args: Vec<Value>, awaiting: Awaiting) -> bool {
        let Some(out) = self.out.get_value().filter(|_| self.can_send()) else {
            self.notify(Notice::error("not connected: nothing was sent", now()));
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
    /// `welcome`, when Redis is back, when the instance list changes, and every half minute).
    pub fn refresh_presence(self) {
        if self.link.with_untracked(Link::attached) {
            self.request(event::PRESENCE, vec![], Awaiting::Presence { first: true });
        }
    }

    fn notify(self, notice: Notice) {
        self.notice.set(Some(notice));
    }

    /// Clears the notice when it described a state that just ended.
    fn ended(self, state: Until) {
        if self
            .notice
            .with_untracked(|n| n.as_ref().is_some_and(|n| n.ends_with(state)))
        {
            self.notice.set(None);
        }
    }

    fn is_current(self, generation: u64) -> bool {
        self.generation.try_get_value() == Some(generation)
    }

    fn learn_names(self, members: &[Member]) {
        self.names.maybe_update(|names| {
            let mut changed = false;
            for m in members.iter().filter(|m| !m.name.is_empty()) {
                if names.get(&m.id) != Some(&m.name) {
                    if names.len() >= NAMES_KEPT {
                        names.clear();
                    }
                    names.insert(m.id.clone(), m.name.clone());
                    changed = true;
                }
            }
            changed
        });
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
        let (own, session) = conn
            .going
            .try_update_value(|g| {
                g.gridcast = false;
                g.session += 1;
                (g.own, g.session)
            })
            .unwrap_or((false, 0));
        let auth = own.then(auth).flatten();
        let ended = transport::session(&base, auth, outgoing, |happening| {
            if conn.is_current(generation) {
                on_happening(conn, happening, &mut attempt, session);
            }
        })
        .await;
        let Ended::Lost(reason) = ended else { return };
        if !conn.is_current(generation) {
            return;
        }
        conn.out.set_value(None);
        conn.pending.update_value(HashMap::clear);
        if let Some(at) = conn.going.try_update_value(|g| g.taken.take()).flatten() {
            let reason = format!(
                "this session is now in use on {} (another tab or device). This page stopped \
                 so that the two do not take it from each other: pick an instance to take it \
                 back, or reload for a new session",
                model::label(&at)
            );
            conn.link
                .update(|l| l.enter(Phase::Offline { reason }, now()));
            return;
        }
        attempt += 1;
        let drained_to = conn
            .going
            .try_update_value(|g| g.drained_to.take())
            .flatten();
        let next = if own {
            model::next_instance(
                &base,
                attempt,
                &conn.live.get_untracked(),
                drained_to.as_deref(),
            )
        } else {
            base.clone()
        };
        if same_instance(&next, &base) {
            conn.going.update_value(|g| {
                if matches!(g.arrived, Arrived::Fresh) {
                    g.arrived = Arrived::Retry;
                }
            });
            conn.link
                .update(|l| l.enter(Phase::Reconnecting { attempt, reason }, now()));
        } else {
            let from = std::mem::replace(&mut base, next);
            conn.going.update_value(|g| {
                g.arrived = Arrived::Failover { from: from.clone() };
            });
            storage::set_url(&base);
            conn.link.update(|l| {
                l.url = base.clone();
                l.enter(Phase::Moving { from }, now());
            });
        }
        if drained_to.is_none() {
            TimeoutFuture::new(backoff_ms(attempt)).await;
        }
    }
}

/// The CONNECT auth of this cluster's instances: the last offset and the session token.
fn auth() -> Option<Value> {
    let saved = storage::load();
    let mut auth = serde_json::Map::new();
    if let Some(offset) = saved.offset {
        auth.insert("offset".into(), Value::from(offset));
    }
    if let Some(session) = saved.session {
        auth.insert("session".into(), Value::from(session));
    }
    (!auth.is_empty()).then_some(Value::Object(auth))
}

/// 500 ms doubling to 5 s, with ±20 % jitter so that many tabs do not retry in step.
fn backoff_ms(attempt: u32) -> u32 {
    let base = (500u32 << attempt.saturating_sub(1).min(4)).min(5_000);
    let jitter = 0.8 + 0.4 * js_sys::Math::random();
    (f64::from(base) * jitter) as u32
}

fn on_happening(conn: Connection, happening: Happening, attempt: &mut u32, session: u64) {
    match happening {
        Happening::Connected { .. } => {
            *attempt = 0;
            conn.link.update(|l| l.enter(Phase::Joining, now()));
            // A server that never says `welcome` and shows no sign of gridcast is a plain one.
            spawn_local(async move {
                TimeoutFuture::new(PLAIN_AFTER_MS).await;
                let still = conn
                    .going
                    .try_with_value(|g| g.session == session && !g.gridcast)
                    .unwrap_or(false);
                if still && conn.link.with_untracked(|l| l.phase == Phase::Joining) {
                    conn.link.update(|l| {
                        l.plain = true;
                        l.enter(Phase::Connected, now());
                    });
                }
            });
        }
        Happening::Event { event, args } => on_event(conn, &event, args),
        Happening::Ack { id, mut args } => {
            let Some(awaiting) = conn.pending.try_update_value(|p| p.remove(&id)).flatten() else {
                return;
            };
            match model::on_ack(awaiting, args.pop(), now()) {
                AckOutcome::Notice(notice) => conn.notify(notice),
                AckOutcome::RedisDown(notice) => {
                    conn.link.update(|l| {
                        l.redis_down.get_or_insert(now());
                    });
                    conn.notify(notice);
                }
                AckOutcome::Members {
                    members,
                    first,
                    next,
                } => {
                    conn.learn_names(&members);
                    if first {
                        conn.members.set(model::distinct(members));
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
                AckOutcome::Member(member) => {
                    conn.learn_names(std::slice::from_ref(&member));
                    conn.members.update(|ms| model::upsert(ms, member));
                }
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
        .inspect_err(|e| conn.notify(Notice::unreadable(what, e, now())))
        .ok()
}

/// The session spoke gridcast: it is not a plain server.
fn gridcast(conn: Connection) {
    conn.going.update_value(|g| g.gridcast = true);
}

/// Remembers `offset` as the last one received, when the page is on this cluster.
fn seen(conn: Connection, offset: Option<String>) {
    if let Some(offset) = offset
        && conn.going.with_value(|g| g.own)
    {
        storage::set_offset(offset);
    }
}

fn on_event(conn: Connection, name: &str, mut args: Vec<Value>) {
    match name {
        event::MESSAGE => {
            // Arguments by position: the text, gridcast's metadata (an object), and whatever
            // later servers add after them.
            let Some(text) = first::<String>(conn, "a message", &mut args) else {
                return;
            };
            let meta = match args.into_iter().next() {
                Some(meta @ Value::Object(_)) => {
                    match serde_json::from_value::<MessageMeta>(meta) {
                        Ok(meta) => Some(meta),
                        Err(e) => {
                            conn.notify(Notice::unreadable("message metadata", e, now()));
                            None
                        }
                    }
                }
                _ => None,
            };
            if meta.is_some() {
                gridcast(conn);
            }
            seen(
                conn,
                meta.as_ref()
                    .and_then(|m| m.offset.as_ref())
                    .map(ToString::to_string),
            );
            // Grid-check probes use the plain broadcast contract; keep them out of the history.
            if !gridcast_shared::grid::is_tag(&text) {
                push_line(conn, text, meta, Channel::All);
            }
        }
        event::ROOM_MESSAGE | event::DIRECT => {
            if let Some(routed) = first::<Routed>(conn, "a room or direct message", &mut args) {
                gridcast(conn);
                seen(conn, routed.meta.offset.as_ref().map(ToString::to_string));
                if !routed.from_name.is_empty() {
                    conn.names.update(|n| {
                        n.insert(routed.meta.sender.clone(), routed.from_name.clone());
                    });
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
                conn.members.with_untracked(|ms| conn.learn_names(ms));
            }
        }
        event::WELCOME => {
            if let Some(welcome) = first::<Welcome>(conn, "a welcome", &mut args) {
                welcomed(conn, welcome);
            }
        }
        event::REDIS_LINK => {
            if let Some(status) = first::<RedisLinkStatus>(conn, "a Redis link change", &mut args) {
                gridcast(conn);
                redis_link(conn, status);
            }
        }
        event::REPLAY_WAITING => {
            if let Some(waiting) = first::<ReplayWaiting>(conn, "a replay queue notice", &mut args)
            {
                gridcast(conn);
                conn.notify(
                    Notice::info(
                        format!(
                            "catching up: {} other replays are ahead of yours on this instance",
                            waiting.ahead
                        ),
                        now(),
                    )
                    .until(Until::Connected),
                );
            }
        }
        event::DRAINING => {
            if let Some(draining) = first::<Draining>(conn, "a draining notice", &mut args) {
                conn.going
                    .update_value(|g| g.drained_to = Some(draining.instances));
            }
        }
        event::SESSION_TAKEN => {
            if let Some(taken) = first::<SessionTaken>(conn, "a session takeover", &mut args) {
                conn.going
                    .update_value(|g| g.taken = Some(taken.instance_url));
            }
        }
        event::ERROR => {
            if let Some(error) = first::<ErrorEvent>(conn, "an error report", &mut args) {
                conn.notify(Notice::error(error.message, now()));
            }
        }
        // A plain server's own events are none of this page's business.
        _ if conn.link.with_untracked(|l| l.plain) => {}
        other => conn.notify(Notice::error(
            format!("the server sent an event this page does not know: \"{other}\""),
            now(),
        )),
    }
}

/// `welcome`: the page is attached; say how it got here and what it recovered.
fn welcomed(conn: Connection, welcome: Welcome) {
    gridcast(conn);
    conn.max_message_bytes.set(welcome.limits.max_message_bytes);
    let (arrived, own) = conn
        .going
        .try_update_value(|g| (std::mem::replace(&mut g.arrived, Arrived::Fresh), g.own))
        .unwrap_or((Arrived::Fresh, false));
    if own {
        storage::set_session(&welcome.session);
    }
    let now_ms = now();
    let at = Arrival {
        now_ms,
        time: clock(now_ms),
    };
    // The instance names itself: behind a load balancer, or opened at 127.0.0.1, the page still
    // says which instance of the cluster it is attached to.
    let url = if welcome.instance.url.is_empty() {
        conn.link.with_untracked(|l| l.url.clone())
    } else {
        welcome.instance.url.clone()
    };
    let (notice, gap) = model::on_recovery(
        welcome.recovery.as_ref(),
        welcome.restored,
        &arrived,
        &url,
        at,
    );
    if let Some(gap) = gap {
        let holding = conn.holding.get_value();
        conn.lines.update(|lines| {
            model::push_line(lines, gap, holding);
        });
        conn.received.update(|n| *n += 1);
    }
    conn.ended(Until::Connected);
    if let Some(notice) = notice {
        conn.notify(notice);
    }
    conn.link.update(|l| {
        l.id = welcome.id;
        l.url = url;
        l.plain = false;
        l.enter(Phase::Connected, now_ms);
    });
    if let Some(status) = welcome.redis {
        redis_link(conn, status);
    }
    // The list now, and its changes from now on (asking subscribes).
    conn.refresh_presence();
}

/// The instance's Redis link went down or came back (or is as `welcome` said).
fn redis_link(conn: Connection, status: RedisLinkStatus) {
    let now_ms = now();
    let down = status.state == RedisLink::Reconnecting;
    let was_down = conn.link.with_untracked(|l| l.redis_down.is_some());
    if down == was_down {
        return;
    }
    conn.link.update(|l| {
        // The instance's clock says since when; never later than now on this page's clock.
        l.redis_down = down.then_some((status.since as f64).min(now_ms));
    });
    if !down {
        conn.ended(Until::RedisBack);
        // The other instances' presence changes did not arrive meanwhile.
        conn.refresh_presence();
    }
}

fn push_line(conn: Connection, text: String, meta: Option<MessageMeta>, channel: Channel) {
    let now_ms = now();
    let (my_id, url, plain) = conn
        .link
        .with_untracked(|l| (l.id.clone(), l.url.clone(), l.plain));
    let at = Arrival {
        now_ms,
        time: clock(now_ms),
    };
    let fallback = format!(
        "plain-{}-{}",
        now_ms as u64,
        (js_sys::Math::random() * 1e15) as u64
    );
    let echo = if meta.is_none() && plain {
        conn.echoes
            .try_update_value(|e| e.arrived(&text, now_ms))
            .flatten()
    } else {
        None
    };
    let mut line = model::line(text, meta, channel, &my_id, at, fallback);
    if let Some(round_trip) = echo {
        line.mine = true;
        line.latency_ms = Some(round_trip.round() as i64);
    }
    let origin = if line.origin_url.is_empty() {
        url
    } else {
        line.origin_url.clone()
    };
    let latency = line.latency_ms.map(|ms| ms as f64);
    let holding = conn.holding.get_value();
    let mut added = false;
    conn.lines.update(|lines| {
        added = model::push_line(lines, line, holding);
    });
    if added {
        conn.received.update(|n| *n += 1);
        conn.traffic
            .update_value(|t| t.record(&origin, latency, now_ms));
    }
}

/// `HH:MM:SS` of a time in ms since the epoch, on the page's clock.
pub fn clock(ms: f64) -> String {
    let date = js_sys::Date::new(&ms.into());
    format!(
        "{:02}:{:02}:{:02}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}
