//! The connection's life: where it stands, where to connect after a failure, and what the page
//! says when it is back (moved, recovered, or missed messages for good).
//!
//! Invariants: the page retries its own instance [`RETRIES_BEFORE_MOVING`] times before it
//! moves, and goes at once where a draining server said; the same instance under another name
//! is never another instance; messages missed for good show as a gap line in the list, not only
//! as a notice.

use gridcast_shared::recovery::{Recovery, RecoveryFailure};

use super::{
    lines::{Arrival, Channel, Line},
    notice::Notice,
};

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
    if recovery.reason == Some(RecoveryFailure::TooSlow) {
        // The server disconnects; the page reconnects with the last offset it got and resumes.
        return (
            Some(Notice::info(
                "catching up took this connection too long; reconnecting to resume where it stopped",
            )),
            None,
        );
    }
    let why = match recovery.reason {
        Some(RecoveryFailure::TooSlow) => "this connection took its replay too slowly",
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
}
