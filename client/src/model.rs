//! What the UI shows, computed in plain Rust: message lines (capped, never the same message
//! twice), the presence store, and the notices acks turn into. No browser API is used here, so
//! all of it is unit-tested natively (`cargo test -p gridcast-client --lib`, run by `./dev test`).
//! (Over 400 lines because its tests sit beside it: the code is about half.)

use std::collections::VecDeque;

use gridcast_shared::{
    Changed, Delivery, ErrorEvent, Members, MessageMeta, Reply, Sent,
    presence::{Member, PresenceDelta, Routed},
    recovery::{Recovery, RecoveryFailure},
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
    /// Not a message: messages were missed here and could not be recovered.
    Gap,
}

/// Attempts on the same instance before the page moves to another live one.
pub const RETRIES_BEFORE_MOVING: u32 = 2;

/// Where to connect after `failures` failed attempts at `current`: where a draining server said
/// to go, else `current` for the first [`RETRIES_BEFORE_MOVING`] failures, then the next live
/// instance after it (cycling on, one per failure); `current` when there is no other.
pub fn next_instance(
    current: &str,
    failures: u32,
    live: &[String],
    drained_to: Option<&[String]>,
) -> String {
    use gridcast_shared::instance::same_instance;
    if let Some(to) = drained_to.and_then(|to| to.iter().find(|u| !same_instance(u, current))) {
        return to.clone();
    }
    let others: Vec<&String> = live.iter().filter(|u| !same_instance(u, current)).collect();
    if failures < RETRIES_BEFORE_MOVING || others.is_empty() {
        return current.to_owned();
    }
    // The first live instance after `current` in the (sorted) list, then on.
    let after = others
        .iter()
        .position(|u| u.as_str() > current)
        .unwrap_or(0);
    let step = (failures - RETRIES_BEFORE_MOVING) as usize;
    others[(after + step) % others.len()].clone()
}

/// What the page says about a (re)connection's `recovery` (from `welcome`), when it moved from
/// `moved_from` (to `to`): a notice, and a gap line when messages were missed for good.
pub fn on_recovery(
    recovery: Option<&Recovery>,
    moved_from: Option<&str>,
    to: &str,
    at: Arrival,
) -> (Option<Notice>, Option<Line>) {
    let moved = moved_from.map(|from| format!("moved from {} to {}", short(from), short(to)));
    let Some(recovery) = recovery else {
        return (moved.map(Notice::info), None);
    };
    if recovery.recovered {
        let n = recovery.replayed.unwrap_or(0);
        let missed = format!(
            "{n} missed message{} recovered",
            if n == 1 { "" } else { "s" }
        );
        let text = match moved {
            Some(moved) => format!("{moved}, {missed}"),
            None => format!("reconnected, {missed}"),
        };
        return (Some(Notice::info(text)), None);
    }
    let why = match recovery.reason {
        Some(RecoveryFailure::Expired) => "they are older than the history the cluster keeps",
        Some(RecoveryFailure::UnknownOffset) => "the cluster does not know where this page was",
        Some(RecoveryFailure::MalformedOffset) => "this page's position was unreadable",
        Some(RecoveryFailure::HistoryUnavailable) => {
            "the history could not be read (Redis is away)"
        }
        None => "the server could not tell",
    };
    let count = recovery
        .missed_at_least
        .map(|n| format!(" (at least {n})"))
        .unwrap_or_default();
    let text = format!("messages sent while this page was away are missing{count}: {why}");
    let gap = Line {
        key: format!("gap-{}", at.now_ms as u64),
        text: text.clone(),
        origin_url: String::new(),
        origin: String::new(),
        sender: String::new(),
        mine: false,
        latency_ms: None,
        time: at.time,
        channel: Channel::Gap,
    };
    let notice = match moved {
        Some(moved) => format!("{moved}; {text}"),
        None => text,
    };
    (Some(Notice::error(notice)), Some(gap))
}

/// `host:port` of an instance URL, for notices.
fn short(url: &str) -> &str {
    url.trim_end_matches('/')
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
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
    /// A page of the presence list; the first replaces the store, later ones add to it.
    Presence {
        /// Whether it is the first page.
        first: bool,
    },
    /// A set_name/join/leave reply.
    Change,
}

/// What an ack means for the page.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    /// Tell the user.
    Notice(Notice),
    /// A page of the presence list.
    Members {
        /// Its members.
        members: Vec<Member>,
        /// The first page: replace the store with it (later pages add to it).
        first: bool,
        /// Where the next page starts; ask for it with this cursor.
        next: Option<String>,
    },
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
        Awaiting::Presence { first } => match serde_json::from_value::<Reply<Members>>(reply) {
            Ok(Reply::Ok(Members { members, next })) => AckOutcome::Members {
                members,
                first,
                next,
            },
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

/// `12.3 ms`: milliseconds with one decimal, by integer arithmetic (the bundle then carries no
/// float formatting); negative values show as 0.
pub fn tenths_ms(ms: f64) -> String {
    let tenths = (ms.max(0.0) * 10.0).round() as u64;
    format!("{}.{} ms", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_retries_its_instance_then_moves_and_follows_a_drain() {
        let live = vec![
            "http://localhost:3000".to_owned(),
            "http://localhost:3001".to_owned(),
            "http://localhost:3002".to_owned(),
        ];
        let a = "http://localhost:3001";
        assert_eq!(next_instance(a, 1, &live, None), a);
        assert_eq!(next_instance(a, 2, &live, None), "http://localhost:3002");
        assert_eq!(next_instance(a, 3, &live, None), "http://localhost:3000");
        // Alone, it keeps trying its own.
        assert_eq!(next_instance(a, 9, &live[1..2], None), a);
        // The same instance under another name is not another instance.
        assert_eq!(
            next_instance("http://127.0.0.1:3001", 5, &live[1..2], None),
            "http://127.0.0.1:3001"
        );
        // A draining server says where: at once.
        let to = vec![a.to_owned(), "http://localhost:3000".to_owned()];
        assert_eq!(
            next_instance(a, 0, &live, Some(&to)),
            "http://localhost:3000"
        );
    }

    #[test]
    fn recovery_is_told_and_a_gap_is_a_visible_line() {
        let at = || Arrival {
            now_ms: 5.0,
            time: "12:00:00".into(),
        };
        let to = "http://localhost:3001";
        let (notice, gap) = on_recovery(
            Some(&Recovery::recovered(12)),
            Some("http://localhost:3000"),
            to,
            at(),
        );
        assert_eq!(
            notice.unwrap().text,
            "moved from localhost:3000 to localhost:3001, 12 missed messages recovered"
        );
        assert!(gap.is_none());
        let mut expired = Recovery::failed(RecoveryFailure::Expired, "x");
        expired.missed_at_least = Some(3);
        let (notice, gap) = on_recovery(Some(&expired), None, to, at());
        assert!(notice.unwrap().error);
        let gap = gap.unwrap();
        assert_eq!(gap.channel, Channel::Gap);
        assert!(gap.text.contains("at least 3"), "{}", gap.text);
        assert_eq!(on_recovery(None, None, to, at()), (None, None));
    }
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
            Awaiting::Presence { first: true },
            Some(json!({"ok": true, "members": []})),
            0.0,
        );
        assert_eq!(
            members,
            AckOutcome::Members {
                members: vec![],
                first: true,
                next: None
            }
        );
        let page = on_ack(
            Awaiting::Presence { first: false },
            Some(json!({"ok": true, "members": [], "next": "3:a1b2c3d4"})),
            0.0,
        );
        assert_eq!(
            page,
            AckOutcome::Members {
                members: vec![],
                first: false,
                next: Some("3:a1b2c3d4".into())
            }
        );
        let garbage = on_ack(Awaiting::Presence { first: true }, Some(json!([1, 2])), 0.0);
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

    #[test]
    fn latency_shows_one_decimal() {
        assert_eq!(tenths_ms(12.34), "12.3 ms");
        assert_eq!(tenths_ms(0.96), "1.0 ms");
        assert_eq!(tenths_ms(-3.0), "0.0 ms");
        assert_eq!(tenths_ms(1500.05), "1500.1 ms");
    }
}
