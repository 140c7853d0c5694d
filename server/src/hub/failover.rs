//! What the hub does after a Sentinel failover moved the link to another master, which may lack
//! the last entries the old master took (Redis replicates asynchronously).
//!
//! - [`rewrite_lost`]: this instance's own appends the new master lacks are written again
//!   ([`History::rewrite_lost`]), so the history (and every replay) holds every broadcast whose
//!   sender was told `cluster`; instances that had delivered one skip its copy (same message id).
//! - [`check_position`]: the reader's position may name an entry the new master lacks. New
//!   entries get ids from the new master's clock, so on one host they come after it anyway, but
//!   a master whose clock is behind would give ids before it, which the reader would skip. So the
//!   reader goes back to the newest entry the new master holds that it delivered, and reads on
//!   from there: what it delivered already is skipped by message id, the rest is new.

use std::time::Duration;

use gridcast_shared::{RedisLink, recovery::StreamId};
use tokio::sync::watch;

use super::live::Live;
use crate::redis::{
    history::{History, Stored},
    link::LinkError,
};

/// Entries one look back from the reader's position reads.
const LOOK_BACK: u64 = 512;
/// Looks back at most: this many entries can be told apart by message id (a quarter of what
/// the reader remembers).
const LOOK_BACK_PAGES: usize = 8;

/// After every move of the link to another master, once the link is up, writes again what this
/// instance appended to the old master and the new one lacks; forever.
pub(super) async fn rewrite_lost(history: History, mut moves: watch::Receiver<u64>, own: String) {
    while moves.changed().await.is_ok() {
        loop {
            match history.rewrite_lost().await {
                Ok(0) => break,
                Ok(rewritten) => {
                    tracing::warn!(instance = %own, rewritten, "the new master lacked broadcasts this instance had appended to the old one (lost in the failover): written again");
                    break;
                }
                // Fails at once while the link is down: tried again once it is up.
                Err(_) if history.link_state() != RedisLink::Up => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => {
                    tracing::warn!(instance = %own, "checking what the new master lacks failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await
                }
            }
        }
    }
}

/// Moves the reader back to the newest entry the new master holds that it delivered, when the
/// new master lacks the entry the reader stands at (see the module doc).
pub(super) async fn check_position(live: &Live, history: &History) -> Result<(), LinkError> {
    let at = live.lock().await.at;
    if at == StreamId::ZERO {
        return Ok(());
    }
    // Pages back until an entry delivered here turns up (bounded).
    let mut held: Vec<Stored> = Vec::new();
    for _ in 0..LOOK_BACK_PAGES {
        let upto = held.last().map_or(at, |oldest| before(oldest.id));
        let page = history.newest_up_to(upto, LOOK_BACK).await?;
        let last_page = (page.len() as u64) < LOOK_BACK;
        held.extend(page);
        let cursor = live.lock().await;
        let found = held
            .iter()
            .any(|s| cursor.recent.contains(&s.record.message_id));
        if held.first().is_some_and(|s| s.id == at) || found || last_page {
            break;
        }
    }
    let mut cursor = live.lock().await;
    if cursor.at != at {
        return Ok(());
    }
    if let Some(from) = resume_after(at, &held, |id| cursor.recent.contains(id)) {
        cursor.at = from;
        tracing::warn!(instance = %live.own, %at, %from, "the new master lacks entries this instance delivered up to {at} (lost with the old master): reading on after {from}, skipping what was delivered already");
    }
    Ok(())
}

/// Where the reader at `at` goes on from, given the newest entries the new master holds at or
/// before `at` (newest first) and whether a message id was delivered here: `None` when the new
/// master holds `at`; else the newest entry delivered here, or (none among them) from before the
/// oldest of them.
fn resume_after(
    at: StreamId,
    held: &[Stored],
    delivered: impl Fn(&str) -> bool,
) -> Option<StreamId> {
    if held.first().is_some_and(|s| s.id == at) {
        return None;
    }
    if let Some(found) = held.iter().find(|s| delivered(&s.record.message_id)) {
        return Some(found.id);
    }
    Some(
        held.last()
            .map_or(StreamId::ZERO, |oldest| before(oldest.id)),
    )
}

/// The greatest id before `id`.
fn before(id: StreamId) -> StreamId {
    match id.seq {
        0 => StreamId {
            ms: id.ms.saturating_sub(1),
            seq: u64::MAX,
        },
        seq => StreamId {
            ms: id.ms,
            seq: seq - 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::history::Record;

    fn stored(ms: u64, message: &str) -> Stored {
        Stored {
            id: StreamId { ms, seq: 0 },
            record: Record {
                event: "message".into(),
                target: "*".into(),
                payload: "[]".into(),
                text: None,
                origin: "a".into(),
                message_id: message.into(),
                outbox_seq: None,
            },
        }
    }

    #[test]
    fn the_reader_goes_back_to_what_it_delivered() {
        let at = StreamId { ms: 9, seq: 0 };
        let delivered = |id: &str| id.starts_with("old");
        // Nothing lost.
        assert_eq!(
            resume_after(at, &[stored(9, "old9"), stored(5, "old5")], delivered),
            None
        );
        // Lost after 5; on one clock, nothing new before `at`.
        let held = [stored(5, "old5"), stored(4, "old4")];
        assert_eq!(
            resume_after(at, &held, delivered),
            Some(StreamId { ms: 5, seq: 0 })
        );
        // A new master whose clock is behind wrote before `at`: read from the last delivered.
        let held = [stored(8, "new8"), stored(7, "new7"), stored(5, "old5")];
        assert_eq!(
            resume_after(at, &held, delivered),
            Some(StreamId { ms: 5, seq: 0 })
        );
        // Nothing delivered among them: from before the oldest; an empty history from the start.
        let held = [stored(8, "new8"), stored(7, "new7")];
        assert_eq!(
            resume_after(at, &held, delivered),
            Some(StreamId {
                ms: 6,
                seq: u64::MAX
            })
        );
        assert_eq!(resume_after(at, &[], delivered), Some(StreamId::ZERO));
        assert_eq!(
            before(StreamId { ms: 3, seq: 2 }),
            StreamId { ms: 3, seq: 1 }
        );
    }
}
