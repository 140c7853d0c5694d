//! What the UI shows, computed in plain Rust: message lines (capped, never the same message
//! twice), the presence store, and the notices acks turn into. No browser API is used here, so
//! all of it is unit-tested natively (`cargo test -p gridcast-client --lib`, run by `./dev test`).
//! (Over 400 lines because its tests sit beside it: the code is about half.)

use std::collections::VecDeque;

use gridcast_shared::{
    Changed, Delivery, ErrorEvent, Members, MessageMeta, Reply, Sent,
    presence::{Member, PresenceDelta, Routed},
};
use serde_json::Value;

/// Messages kept in the list; older ones are dropped so long sessions stay smooth.
pub const HISTORY: usize = 500;

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// First attempt to reach the chosen instance.
    Connecting,
    /// Connected. `id` is our public id from `welcome` (empty until it arrives); the Engine.IO
    /// session id is a secret of the transport and is never shown.
    Connected {
        /// Public id.
        id: String,
    },
    /// A later attempt, after the connection was lost.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
        /// Why the previous session ended.
        reason: String,
    },
    /// Lost; the next attempt starts after a backoff.
    Disconnected {
        /// Why.
        reason: String,
    },
}

/// One message in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Unique key for the keyed list: the message id, so a message is never listed twice.
    pub key: String,
    /// The text, shown as text (never as HTML).
    pub text: String,
    /// Base URL of the instance the sender is connected to (empty when unknown).
    pub origin_url: String,
    /// Id of that instance.
    pub origin: String,
    /// Public id of the sender.
    pub sender: String,
    /// Whether we sent it.
    pub mine: bool,
    /// Milliseconds from the origin instance receiving it to us receiving it.
    pub latency_ms: Option<i64>,
    /// Local time it arrived, `HH:MM:SS`.
    pub time: String,
    /// Where it was sent.
    pub channel: Channel,
}

/// Who a message was addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// Everyone (`message`).
    All,
    /// Members of a room.
    Room(String),
    /// One client: the recipient's public id and the sender's display name.
    Direct {
        /// Recipient's public id.
        to: String,
        /// Sender's display name.
        from_name: String,
    },
}

/// Where the composer sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `message` to everyone.
    All,
    /// `room_message` to a room the user is in.
    Room(String),
    /// `direct` to one client, by public id.
    Direct(String),
}

/// Something to tell the user, e.g. why the server refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Whether it reports a problem.
    pub error: bool,
}

impl Notice {
    /// A notice reporting a problem.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: true,
        }
    }

    /// A notice that all went well.
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: false,
        }
    }

    /// What the page says about a server frame it could not read (never silently ignored).
    pub fn unreadable(what: &str, error: impl std::fmt::Display) -> Self {
        Self::error(format!(
            "the server sent {what} this page cannot read ({error})"
        ))
    }
}

/// When a line arrived: the local clock in milliseconds since the epoch, and as `HH:MM:SS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// Milliseconds since the Unix epoch.
    pub now_ms: f64,
    /// Shown time.
    pub time: String,
}

/// A received message as a line. Without provenance (a plain server), `fallback_key` keys it.
pub fn line(
    text: String,
    meta: Option<MessageMeta>,
    channel: Channel,
    my_id: &str,
    at: Arrival,
    fallback_key: String,
) -> Line {
    match meta {
        Some(meta) => Line {
            key: meta.id,
            mine: !my_id.is_empty() && meta.sender == my_id,
            latency_ms: Some((at.now_ms - meta.received_at as f64).round() as i64),
            text,
            origin_url: meta.origin_url,
            origin: meta.origin,
            sender: meta.sender,
            time: at.time,
            channel,
        },
        None => Line {
            key: fallback_key,
            text,
            origin_url: String::new(),
            origin: "?".into(),
            sender: "?".into(),
            mine: false,
            latency_ms: None,
            time: at.time,
            channel,
        },
    }
}

/// The channel a room or direct message was sent on.
pub fn routed_channel(routed: &Routed) -> Channel {
    match (&routed.room, &routed.to) {
        (Some(room), _) => Channel::Room(room.clone()),
        (None, Some(to)) => Channel::Direct {
            to: to.clone(),
            from_name: routed.from_name.clone(),
        },
        (None, None) => Channel::All,
    }
}

/// Appends `line` unless a line with its key is listed already; keeps at most [`HISTORY`].
/// Returns whether it was added.
pub fn push_line(lines: &mut VecDeque<Line>, line: Line) -> bool {
    if lines.iter().rev().any(|l| l.key == line.key) {
        return false;
    }
    if lines.len() >= HISTORY {
        lines.pop_front();
    }
    lines.push_back(line);
    true
}

/// Replaces the member with `member`'s id, or adds it.
pub fn upsert(members: &mut Vec<Member>, member: Member) {
    match members.iter_mut().find(|m| m.id == member.id) {
        Some(m) => *m = member,
        None => members.push(member),
    }
}

/// Applies a presence delta to the store.
pub fn apply(members: &mut Vec<Member>, delta: PresenceDelta) {
    match delta {
        PresenceDelta::Upsert { member } => upsert(members, member),
        PresenceDelta::Leave { id } => members.retain(|m| m.id != id),
    }
}

/// Members grouped by instance URL (sorted), each group in the store's order.
pub fn by_instance(members: &[Member]) -> Vec<(String, Vec<Member>)> {
    let mut groups: Vec<(String, Vec<Member>)> = Vec::new();
    for m in members {
        match groups.iter_mut().find(|(url, _)| *url == m.instance_url) {
            Some((_, ms)) => ms.push(m.clone()),
            None => groups.push((m.instance_url.clone(), vec![m.clone()])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
}

/// What an outstanding ack id is waiting for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Awaiting {
    /// The ack of a message sent at this time (ms).
    Sent(f64),
    /// A presence snapshot.
    Presence,
    /// A set_name/join/leave reply.
    Change,
}

/// What an ack means for the page.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    /// Tell the user.
    Notice(Notice),
    /// Replace the presence store.
    Members(Vec<Member>),
    /// Update one member (ours, after a change).
    Member(Member),
}

/// Reads the ack of a request that was `awaiting`, received at `now_ms`.
pub fn on_ack(awaiting: Awaiting, reply: Option<Value>, now_ms: f64) -> AckOutcome {
    let Some(reply) = reply else {
        return AckOutcome::Notice(Notice::unreadable("an empty ack", "no argument"));
    };
    let refused = |error: ErrorEvent| AckOutcome::Notice(Notice::error(error.message));
    match awaiting {
        Awaiting::Sent(sent_at) => match serde_json::from_value::<Reply<Sent>>(reply) {
            Ok(Reply::Ok(Sent {
                delivery: Delivery::LocalOnly,
                ..
            })) => AckOutcome::Notice(Notice::error(
                "Redis is unreachable: delivered to this instance's clients only",
            )),
            Ok(Reply::Ok(Sent {
                delivery: Delivery::Queued,
                ..
            })) => AckOutcome::Notice(Notice::info(
                "Redis is unreachable: delivered here, the other instances get it when Redis is back",
            )),
            Ok(Reply::Ok(_)) => AckOutcome::Notice(Notice::info(format!(
                "delivered (ack after {} ms)",
                (now_ms - sent_at).round()
            ))),
            Ok(Reply::Err(error)) => {
                AckOutcome::Notice(Notice::error(format!("not sent: {}", error.message)))
            }
            Err(e) => AckOutcome::Notice(Notice::unreadable("an ack", e)),
        },
        Awaiting::Presence => match serde_json::from_value::<Reply<Members>>(reply) {
            Ok(Reply::Ok(Members { members })) => AckOutcome::Members(members),
            Ok(Reply::Err(error)) => refused(error),
            Err(e) => AckOutcome::Notice(Notice::unreadable("a presence list", e)),
        },
        Awaiting::Change => match serde_json::from_value::<Reply<Changed>>(reply) {
            Ok(Reply::Ok(Changed { member })) => AckOutcome::Member(member),
            Ok(Reply::Err(error)) => refused(error),
            Err(e) => AckOutcome::Notice(Notice::unreadable("an ack", e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridcast_shared::RejectionCode;
    use serde_json::json;

    fn meta(id: &str, sender: &str) -> MessageMeta {
        MessageMeta {
            id: id.into(),
            origin: "a1".into(),
            origin_url: "http://localhost:3000".into(),
            sender: sender.into(),
            received_at: 1_000,
            offset: None,
        }
    }

    fn at(now_ms: f64) -> Arrival {
        Arrival {
            now_ms,
            time: "12:00:00".into(),
        }
    }

    fn member(id: &str, url: &str, name: &str) -> Member {
        Member {
            id: id.into(),
            instance: "i".into(),
            instance_url: url.into(),
            name: name.into(),
            since: 0,
            rooms: vec![],
        }
    }

    #[test]
    fn lines_know_who_sent_them_and_how_long_it_took() {
        let mine = line(
            "hi".into(),
            Some(meta("a1-1", "me")),
            Channel::All,
            "me",
            at(1_012.4),
            "x".into(),
        );
        assert!(mine.mine);
        assert_eq!(mine.latency_ms, Some(12));
        assert_eq!(mine.key, "a1-1");
        // Before `welcome` our id is unknown: nothing is ours.
        let early = line(
            "hi".into(),
            Some(meta("a1-2", "")),
            Channel::All,
            "",
            at(0.0),
            "x".into(),
        );
        assert!(!early.mine);
        // A plain server sends no provenance.
        let plain = line(
            "hi".into(),
            None,
            Channel::All,
            "me",
            at(0.0),
            "plain-1".into(),
        );
        assert_eq!((plain.key.as_str(), plain.latency_ms), ("plain-1", None));
    }

    #[test]
    fn a_message_is_listed_once_and_the_list_is_capped() {
        let mut lines = VecDeque::new();
        let l = |id: &str| {
            line(
                "t".into(),
                Some(meta(id, "s")),
                Channel::All,
                "",
                at(0.0),
                String::new(),
            )
        };
        assert!(push_line(&mut lines, l("a1-1")));
        assert!(
            !push_line(&mut lines, l("a1-1")),
            "a duplicate is not listed"
        );
        for i in 2..=HISTORY + 10 {
            push_line(&mut lines, l(&format!("a1-{i}")));
        }
        assert_eq!(lines.len(), HISTORY);
        assert_eq!(lines.back().unwrap().key, format!("a1-{}", HISTORY + 10));
    }

    #[test]
    fn presence_store_follows_deltas_and_groups_by_instance() {
        let mut members = vec![member("1", "http://b", "")];
        apply(
            &mut members,
            PresenceDelta::Upsert {
                member: member("2", "http://a", "Ada"),
            },
        );
        apply(
            &mut members,
            PresenceDelta::Upsert {
                member: member("1", "http://b", "Bob"),
            },
        );
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].name, "Bob");
        let groups = by_instance(&members);
        assert_eq!(groups[0].0, "http://a");
        assert_eq!(groups[1].1[0].id, "1");
        apply(&mut members, PresenceDelta::Leave { id: "1".into() });
        assert_eq!(members.len(), 1);
    }

    #[test]
    fn acks_become_notices_or_store_updates_and_nothing_is_swallowed() {
        let sent = on_ack(
            Awaiting::Sent(100.0),
            Some(json!({"ok": true, "id": "a1-1", "delivery": "cluster"})),
            112.0,
        );
        assert_eq!(
            sent,
            AckOutcome::Notice(Notice::info("delivered (ack after 12 ms)"))
        );
        let local = on_ack(
            Awaiting::Sent(0.0),
            Some(json!({"ok": true, "id": "a1-1", "delivery": "local_only"})),
            0.0,
        );
        assert!(matches!(
            local,
            AckOutcome::Notice(Notice { error: true, .. })
        ));
        let refused = on_ack(
            Awaiting::Change,
            Some(
                json!({"ok": false, "error": {"event": "join", "code": RejectionCode::BadRoom, "message": "room name is empty"}}),
            ),
            0.0,
        );
        assert_eq!(
            refused,
            AckOutcome::Notice(Notice::error("room name is empty"))
        );
        let members = on_ack(
            Awaiting::Presence,
            Some(json!({"ok": true, "members": []})),
            0.0,
        );
        assert_eq!(members, AckOutcome::Members(vec![]));
        let garbage = on_ack(Awaiting::Presence, Some(json!([1, 2])), 0.0);
        let AckOutcome::Notice(notice) = garbage else {
            panic!("{garbage:?}")
        };
        assert!(
            notice.error && notice.text.contains("cannot read"),
            "{notice:?}"
        );
        assert!(matches!(
            on_ack(Awaiting::Change, None, 0.0),
            AckOutcome::Notice(Notice { error: true, .. })
        ));
    }
}
