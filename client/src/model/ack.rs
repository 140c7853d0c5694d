//! Acks: what each outstanding ack id waits for, and what its reply means for the page.
//!
//! Invariants: every ack has an outcome; a missing, refused or unreadable reply is an error
//! notice, never dropped; a notice about Redis being unreachable lasts until Redis is back.

use gridcast_shared::{Changed, Delivery, ErrorEvent, Members, Reply, Sent, presence::Member};
use serde_json::Value;

use super::notice::{Notice, Until};

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
    /// A message reached only this instance: Redis is unreachable (the header says so too).
    RedisDown(Notice),
}

/// Reads the ack of a request that was `awaiting`, received at `now_ms`.
pub fn on_ack(awaiting: Awaiting, reply: Option<Value>, now_ms: f64) -> AckOutcome {
    let Some(reply) = reply else {
        return AckOutcome::Notice(Notice::unreadable("an empty ack", "no argument", now_ms));
    };
    let refused = |error: ErrorEvent| AckOutcome::Notice(Notice::error(error.message, now_ms));
    let unreadable =
        |what: &str, e: serde_json::Error| AckOutcome::Notice(Notice::unreadable(what, e, now_ms));
    match awaiting {
        Awaiting::Sent(sent_at) => match serde_json::from_value::<Reply<Sent>>(reply) {
            Ok(Reply::Ok(Sent {
                delivery: Delivery::LocalOnly,
                ..
            })) => AckOutcome::RedisDown(
                Notice::error(
                    "only this instance's clients got it: Redis is unreachable and the queue for \
                     the others is full",
                    now_ms,
                )
                .until(Until::RedisBack),
            ),
            Ok(Reply::Ok(Sent {
                delivery: Delivery::Queued,
                ..
            })) => AckOutcome::RedisDown(
                Notice::info(
                    "queued: this instance's clients have it; the other instances get it when \
                     Redis is back",
                    now_ms,
                )
                .until(Until::RedisBack),
            ),
            Ok(Reply::Ok(_)) => AckOutcome::Notice(Notice::info(
                format!(
                    "delivered (ack after {} ms)",
                    (now_ms - sent_at).round() as i64
                ),
                now_ms,
            )),
            Ok(Reply::Err(error)) => AckOutcome::Notice(Notice::error(
                format!("not sent: {}", error.message),
                now_ms,
            )),
            Err(e) => unreadable("an ack", e),
        },
        Awaiting::Presence { first } => match serde_json::from_value::<Reply<Members>>(reply) {
            Ok(Reply::Ok(Members { members, next })) => AckOutcome::Members {
                members,
                first,
                next,
            },
            Ok(Reply::Err(error)) => refused(error),
            Err(e) => unreadable("a presence list", e),
        },
        Awaiting::Change => match serde_json::from_value::<Reply<Changed>>(reply) {
            Ok(Reply::Ok(Changed { member })) => AckOutcome::Member(member),
            Ok(Reply::Err(error)) => refused(error),
            Err(e) => unreadable("an ack", e),
        },
    }
}

#[cfg(test)]
mod tests {
    use gridcast_shared::RejectionCode;
    use serde_json::json;

    use super::*;

    #[test]
    fn acks_become_notices_or_store_updates_and_nothing_is_swallowed() {
        let sent = on_ack(
            Awaiting::Sent(100.0),
            Some(json!({"ok": true, "id": "a1-1", "delivery": "cluster"})),
            112.0,
        );
        assert_eq!(
            sent,
            AckOutcome::Notice(Notice::info("delivered (ack after 12 ms)", 112.0))
        );
        let local = on_ack(
            Awaiting::Sent(0.0),
            Some(json!({"ok": true, "id": "a1-1", "delivery": "local_only"})),
            0.0,
        );
        assert!(matches!(
            local,
            AckOutcome::RedisDown(Notice {
                error: true,
                until: Until::RedisBack,
                ..
            })
        ));
        let queued = on_ack(
            Awaiting::Sent(0.0),
            Some(json!({"ok": true, "id": "a1-1", "delivery": "queued"})),
            0.0,
        );
        assert!(matches!(
            queued,
            AckOutcome::RedisDown(Notice {
                error: false,
                until: Until::RedisBack,
                ..
            })
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
            AckOutcome::Notice(Notice::error("room name is empty", 0.0))
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
}
