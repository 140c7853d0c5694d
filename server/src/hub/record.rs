//! A broadcast as the hub handles it: who it is for ([`Target`]), what it carries ([`Payload`]),
//! and the two together ready to emit ([`Ready`]), with their encoding as a history entry.
//!
//! Invariant: a [`Ready`] decoded from an entry is what was encoded into it: the target and the
//! payload round-trip (`Ready::from_stored` of `Ready::record`), and an entry that does not decode
//! is skipped by its reader, never delivered half-read.

use gridcast_shared::{
    MessageMeta, event,
    presence::Routed,
    recovery::{Offset, StreamId},
};
use serde::{Serialize, Serializer, ser::SerializeTuple};
use socketioxide::{SendError, extract::SocketRef};

use crate::redis::{
    adapter::ClusterAdapter,
    history::{Record, Stored},
};

/// Who a broadcast is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Every client.
    All,
    /// The members of a room (its user-facing name).
    Room(String),
    /// One client and the sender (public ids).
    Direct {
        /// The recipient.
        to: String,
        /// The sender, who gets its own copy.
        from: String,
    },
    /// Every socket of one user (a token's `sub`, with `--auth jwt`) and the sender (a public
    /// id).
    User {
        /// The user.
        to: String,
        /// The sender, who gets its own copy.
        from: String,
    },
}

impl Target {
    pub(super) fn encode(&self) -> String {
        match self {
            Target::All => "*".into(),
            Target::Room(room) => format!("r:{room}"),
            Target::Direct { to, from } => format!("d:{to}:{from}"),
            Target::User { to, from } => format!("u:{to}:{from}"),
        }
    }

    pub(super) fn decode(text: &str) -> Option<Self> {
        if text == "*" {
            return Some(Target::All);
        }
        if let Some(room) = text.strip_prefix("r:") {
            return Some(Target::Room(room.to_owned()));
        }
        if let Some(user) = text.strip_prefix("u:") {
            // A `sub` may hold `:`; the sender, a public id, does not.
            let (to, from) = user.rsplit_once(':')?;
            return Some(Target::User {
                to: to.to_owned(),
                from: from.to_owned(),
            });
        }
        let (to, from) = text.strip_prefix("d:")?.split_once(':')?;
        Some(Target::Direct {
            to: to.to_owned(),
            from: from.to_owned(),
        })
    }

    /// Whether a socket with public id `id` (of the user `user`, with `--auth jwt`), in
    /// `rooms` (each since the history stood at the given id), gets the entry `at` (`None`: not
    /// written yet, so after any join).
    pub(super) fn reaches(
        &self,
        (id, user): (&str, Option<&str>),
        rooms: &[(String, StreamId)],
        at: Option<StreamId>,
    ) -> bool {
        match self {
            Target::All => true,
            Target::Room(room) => rooms
                .iter()
                .any(|(name, since)| name == room && at.is_none_or(|at| at > *since)),
            Target::Direct { to, from } => to == id || from == id,
            Target::User { to, from } => user == Some(to.as_str()) || from == id,
        }
    }
}

/// A broadcast's arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Payload {
    /// `message`: the plain string, then its metadata.
    Message(String, MessageMeta),
    /// `room_message` or `direct`: one object.
    Routed(&'static str, Routed),
}

impl Payload {
    pub(super) fn event(&self) -> &'static str {
        match self {
            Payload::Message(..) => event::MESSAGE,
            Payload::Routed(event, _) => event,
        }
    }

    pub(super) fn meta_mut(&mut self) -> &mut MessageMeta {
        match self {
            Payload::Message(_, meta) => meta,
            Payload::Routed(_, routed) => &mut routed.meta,
        }
    }

    pub(super) fn meta(&self) -> &MessageMeta {
        match self {
            Payload::Message(_, meta) => meta,
            Payload::Routed(_, routed) => &routed.meta,
        }
    }

    /// The arguments as JSON without the text, and the text apart (stored as it is).
    pub(super) fn encode(&self) -> (String, String) {
        let (json, text) = match self {
            Payload::Message(text, meta) => (serde_json::to_string(meta), text),
            Payload::Routed(_, routed) => (
                serde_json::to_string(&Routed {
                    text: String::new(),
                    ..routed.clone()
                }),
                &routed.text,
            ),
        };
        (json.expect("payloads serialize"), text.clone())
    }

    /// What [`encode`](Self::encode) made, or an entry of the previous format (`text` `None`:
    /// the JSON holds the text).
    pub(super) fn decode(event: &str, json: &str, text: Option<&str>) -> Option<Self> {
        match (event, text) {
            (event::MESSAGE, Some(text)) => Some(Payload::Message(
                text.to_owned(),
                serde_json::from_str(json).ok()?,
            )),
            (event::MESSAGE, None) => {
                let (text, meta) = serde_json::from_str(json).ok()?;
                Some(Payload::Message(text, meta))
            }
            (event::ROOM_MESSAGE | event::DIRECT, text) => {
                let mut routed: Routed = serde_json::from_str(json).ok()?;
                if let Some(text) = text {
                    routed.text = text.to_owned();
                }
                let event = if event == event::DIRECT {
                    event::DIRECT
                } else {
                    event::ROOM_MESSAGE
                };
                Some(Payload::Routed(event, routed))
            }
            _ => None,
        }
    }
}

/// The arguments of a history-backed event as a client gets them: the payload (`text, meta` or
/// the routed object), then the offset as a string when it has one. The stock `socket.io-client`
/// keeps the last argument of an event as its offset when it is a string, and sends it back on
/// reconnect; no other gridcast event ends with a string (`shared::event`).
pub(super) struct Args<'a>(pub(super) &'a Payload);

impl Serialize for Args<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let offset = self.0.meta().offset.as_ref().map(ToString::to_string);
        let extra = usize::from(offset.is_some());
        let mut args = match self.0 {
            Payload::Message(text, meta) => {
                let mut args = serializer.serialize_tuple(2 + extra)?;
                args.serialize_element(text)?;
                args.serialize_element(meta)?;
                args
            }
            Payload::Routed(_, routed) => {
                let mut args = serializer.serialize_tuple(1 + extra)?;
                args.serialize_element(routed)?;
                args
            }
        };
        if let Some(offset) = &offset {
            args.serialize_element(offset)?;
        }
        args.end()
    }
}

/// A broadcast ready to emit: where it goes and what it carries (its offset set).
#[derive(Debug, Clone)]
pub(crate) struct Ready {
    /// Its history entry; `None` while it is delivered during an outage, before it is written.
    pub(super) id: Option<StreamId>,
    /// The instance it was sent through.
    pub(super) origin: String,
    /// Its number in the origin's outbox, when it went through the outbox.
    pub(super) outbox_seq: Option<u64>,
    pub(super) target: Target,
    pub(super) payload: Payload,
}

impl Ready {
    pub(super) fn from_stored(stored: &Stored) -> Option<Self> {
        Some(Ready {
            id: Some(stored.id),
            origin: stored.record.origin.clone(),
            outbox_seq: stored.record.outbox_seq,
            target: Target::decode(&stored.record.target)?,
            payload: Payload::decode(
                &stored.record.event,
                &stored.record.payload,
                stored.record.text.as_deref(),
            )?,
        })
    }

    pub(super) fn with_offset(mut self, offset: Option<Offset>) -> Self {
        self.payload.meta_mut().offset = offset;
        self
    }
}

impl Ready {
    /// The history entry of a broadcast from `origin` (not yet numbered in any outbox).
    pub(super) fn record(target: &Target, payload: &Payload, origin: &str) -> Record {
        let (json, text) = payload.encode();
        Record {
            event: payload.event().to_owned(),
            target: target.encode(),
            payload: json,
            text: Some(text),
            origin: origin.to_owned(),
            message_id: payload.meta().id.clone(),
            outbox_seq: None,
        }
    }

    /// About how many bytes it takes on the wire (its text as JSON writes it, and the rest).
    pub(super) fn wire_bytes(&self) -> u64 {
        let text = match &self.payload {
            Payload::Message(text, _) => text,
            Payload::Routed(_, routed) => &routed.text,
        };
        let escaped: usize = text
            .chars()
            .map(|c| match c {
                '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
                c if (c as u32) < 0x20 => 6,
                c => c.len_utf8(),
            })
            .sum();
        escaped as u64 + 256
    }

    /// Emits it to one socket (a replay, or what was buffered while the socket attached), if
    /// the socket's buffer has room now.
    pub(super) fn emit_to(&self, socket: &SocketRef<ClusterAdapter>) -> Result<(), SendError> {
        socket.emit(self.payload.event(), &Args(&self.payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_and_reach_the_right_sockets() {
        let rooms = vec![("a".to_owned(), StreamId { ms: 5, seq: 0 })];
        let at = Some(StreamId { ms: 6, seq: 0 });
        for target in [
            Target::All,
            Target::Room("a".into()),
            Target::Direct {
                to: "x".into(),
                from: "y".into(),
            },
        ] {
            assert_eq!(Target::decode(&target.encode()), Some(target.clone()));
        }
        let z = ("z", None);
        assert!(Target::Room("a".into()).reaches(z, &rooms, at));
        assert!(Target::Room("a".into()).reaches(z, &rooms, None));
        assert!(
            !Target::Room("a".into()).reaches(z, &rooms, Some(StreamId { ms: 5, seq: 0 })),
            "not what the room had before the socket joined"
        );
        assert!(!Target::Room("b".into()).reaches(z, &rooms, at));
        let direct = Target::Direct {
            to: "x".into(),
            from: "y".into(),
        };
        assert!(
            direct.reaches(("x", None), &[], at)
                && direct.reaches(("y", None), &[], at)
                && !direct.reaches(z, &[], at)
        );
        let user = Target::User {
            to: "mail:ada@example.org".into(),
            from: "y".into(),
        };
        assert_eq!(Target::decode(&user.encode()), Some(user.clone()));
        assert!(user.reaches(("p", Some("mail:ada@example.org")), &[], at));
        assert!(
            user.reaches(("y", Some("bob")), &[], at),
            "the sender's copy"
        );
        assert!(!user.reaches(("p", Some("bob")), &[], at));
        assert_eq!(Target::decode("?"), None);
    }

    fn meta() -> MessageMeta {
        MessageMeta {
            id: "i-1".into(),
            origin: "i".into(),
            origin_url: "http://i".into(),
            sender: "s".into(),
            received_at: 1,
            offset: None,
        }
    }

    #[test]
    fn payloads_round_trip_with_the_text_apart_and_entries_of_the_previous_format_still_read() {
        let text = "a\u{1}\"b\"\n".to_owned();
        let routed = Routed {
            room: Some("ops".into()),
            to: None,
            from_name: "Ada".into(),
            text: text.clone(),
            meta: meta(),
        };
        for payload in [
            Payload::Message(text.clone(), meta()),
            Payload::Routed(event::ROOM_MESSAGE, routed.clone()),
            Payload::Routed(event::DIRECT, routed.clone()),
        ] {
            let (json, stored) = payload.encode();
            assert!(
                !json.contains("\\u0001"),
                "the text is not in the JSON: {json}"
            );
            assert_eq!(stored, text);
            let back = Payload::decode(payload.event(), &json, Some(&stored)).unwrap();
            assert_eq!(back, payload);
        }
        let old = serde_json::to_string(&(&text, meta())).unwrap();
        assert_eq!(
            Payload::decode(event::MESSAGE, &old, None),
            Some(Payload::Message(text.clone(), meta()))
        );
        let old = serde_json::to_string(&routed).unwrap();
        assert_eq!(
            Payload::decode(event::DIRECT, &old, None),
            Some(Payload::Routed(event::DIRECT, routed))
        );
    }
}
