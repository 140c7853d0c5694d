//! Where to connect after a failure, and what the page says when it is attached again (moved,
//! switched, back after a reload, recovered, or messages missed for good).
//!
//! Invariants: the page retries its own instance [`RETRIES_BEFORE_MOVING`] times before it
//! moves, and goes at once where a draining server said; the same instance under another name
//! is never another instance; messages missed for good show as a gap line in the list, not only
//! as a notice; a deliberate switch is never called a reconnection.

use gridcast_shared::recovery::{Recovery, RecoveryFailure};

use super::{
    lines::{Arrival, Channel, Line},
    notice::Notice,
    status::label,
};

/// Why the page is opening the connection it is opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrived {
    /// The page's first connection, with nothing to resume.
    Fresh,
    /// The page was reloaded and resumes its session.
    Reload,
    /// The user picked this instance, coming from `from`.
    Picked {
        /// The instance the page left.
        from: String,
    },
    /// `from` stopped answering and the page moved here.
    Failover {
        /// The instance that stopped answering.
        from: String,
    },
    /// The connection was lost and the page came back to the same instance.
    Retry,
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

/// What the page says about an attachment to `to` that `arrived` as it did, given `welcome`'s
/// `recovery` and `restored` (whether the session the page asked for was restored), at `at`:
/// a notice, and a gap line when messages were missed for good.
pub fn on_recovery(
    recovery: Option<&Recovery>,
    restored: bool,
    arrived: &Arrived,
    to: &str,
    at: Arrival,
) -> (Option<Notice>, Option<Line>) {
    let now = at.now_ms;
    let how = match arrived {
        Arrived::Fresh => None,
        Arrived::Reload => Some("welcome back".to_owned()),
        Arrived::Picked { from } => Some(format!("switched from {} to {}", label(from), label(to))),
        Arrived::Failover { from } => Some(format!(
            "moved from {} to {} ({} stopped answering)",
            label(from),
            label(to),
            label(from)
        )),
        Arrived::Retry => Some(format!("reconnected to {}", label(to))),
    };
    let expired = (*arrived == Arrived::Reload && !restored)
        .then_some("your previous session had expired: new id, no name or rooms");
    let Some(recovery) = recovery else {
        let text = match (how, expired) {
            (Some(how), Some(expired)) => format!("{how}; {expired}"),
            (Some(how), None) => how,
            (None, _) => return (None, None),
        };
        return (Some(Notice::info(text, now)), None);
    };
    if recovery.recovered {
        let missed = match recovery.replayed.unwrap_or(0) {
            0 => "nothing was missed".to_owned(),
            1 => "1 missed message recovered".to_owned(),
            n => format!("{n} missed messages recovered"),
        };
        let text = match (how, expired) {
            (Some(how), Some(expired)) => format!("{how}; {expired}; {missed}"),
            (Some(how), None) => format!("{how}; {missed}"),
            (None, _) => missed,
        };
        return (Some(Notice::info(text, now)), None);
    }
    if recovery.reason == Some(RecoveryFailure::TooSlow) {
        // The server disconnects; the page reconnects with the last offset it got and resumes.
        return (
            Some(Notice::info(
                "catching up took this connection too long; reconnecting to resume where it stopped",
                now,
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
            "the history could not be read (Redis is unreachable)"
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
    let notice = match how {
        Some(how) => format!("{how}; {text}"),
        None => text,
    };
    (Some(Notice::error(notice, now)), Some(gap))
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
    fn recovery_is_told_in_the_words_of_how_the_page_arrived() {
        let at = || Arrival {
            now_ms: 5.0,
            time: "12:00:00".into(),
        };
        let a = "http://localhost:3000".to_owned();
        let to = "http://localhost:3001";
        let text = |recovery: Option<&Recovery>, restored: bool, arrived: Arrived| {
            on_recovery(recovery, restored, &arrived, to, at())
                .0
                .map(|n| n.text)
        };
        let twelve = Recovery::recovered(12);
        let none = Recovery::recovered(0);
        assert_eq!(
            text(Some(&twelve), true, Arrived::Failover { from: a.clone() }).unwrap(),
            "moved from localhost:3000 to localhost:3001 (localhost:3000 stopped answering); \
             12 missed messages recovered"
        );
        // A deliberate switch is not a reconnection, and nothing missed is not "0 recovered".
        assert_eq!(
            text(Some(&none), true, Arrived::Picked { from: a.clone() }).unwrap(),
            "switched from localhost:3000 to localhost:3001; nothing was missed"
        );
        assert_eq!(
            text(Some(&Recovery::recovered(1)), true, Arrived::Reload).unwrap(),
            "welcome back; 1 missed message recovered"
        );
        assert!(
            text(Some(&none), false, Arrived::Reload)
                .unwrap()
                .contains("expired")
        );
        assert_eq!(text(None, false, Arrived::Fresh), None);
        assert_eq!(
            text(Some(&none), true, Arrived::Retry).unwrap(),
            "reconnected to localhost:3001; nothing was missed"
        );
        let mut expired = Recovery::failed(RecoveryFailure::Expired, "x");
        expired.missed_at_least = Some(3);
        let (notice, gap) = on_recovery(Some(&expired), true, &Arrived::Retry, to, at());
        assert!(notice.unwrap().error);
        let gap = gap.unwrap();
        assert_eq!(gap.channel, Channel::Gap);
        assert!(gap.text.contains("at least 3"), "{}", gap.text);
    }
}
