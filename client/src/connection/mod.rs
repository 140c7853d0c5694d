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
//!
//! Its parts: `state` (the signals and what the connection remembers), `session` (opening a
//! session, retrying and moving it, its CONNECT auth), `events` (what the server sends, and the
//! lines and notices it makes).

mod events;
mod session;
mod state;

use std::collections::{HashMap, VecDeque};

use gridcast_shared::{
    event,
    instance::same_instance,
    presence::{Member, RoomRef, SetName, ToRoom, ToSocket},
    validate,
};
use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;

pub use crate::model::{Channel, HISTORY, Line, Link, Notice, Phase, Target};
use crate::{
    model::{self, Arrived, Awaiting, Echoes, Traffic, Until},
    storage,
};
pub use events::clock;
use session::run;
pub use state::Connection;
use state::{Going, NAMES_KEPT, now, payload};

impl Connection {
    /// A connection that is not connected anywhere yet.
    pub fn new() -> Self {
        Self {
            link: RwSignal::new(Link::new(String::new(), now())),
            lines: RwSignal::new(VecDeque::new()),
            received: RwSignal::new(0),
            notice: RwSignal::new(None),
            max_message_bytes: RwSignal::new(gridcast_shared::limits::MAX_MESSAGE_BYTES),
            user: RwSignal::new(None),
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
            Target::Direct(to) => {
                // Signed in (`--auth jwt`), a direct message goes to a user, every socket of
                // its `sub`, which is a member's name there.
                let to = if self.user.with_untracked(Option::is_some) {
                    self.members
                        .with_untracked(|ms| ms.iter().find(|m| m.id == to).map(|m| m.name.clone()))
                        .unwrap_or(to)
                } else {
                    to
                };
                (event::DIRECT, payload(&ToSocket { to, text }))
            }
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
