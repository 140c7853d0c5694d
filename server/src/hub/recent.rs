//! The message ids delivered lately, to deliver a broadcast written twice only once (an append
//! that timed out but landed, then written again from the outbox).
//!
//! Invariant: at most [`RECENT_IDS`] ids are kept, in one table that never grows past its first
//! full size.

use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
};

/// Message ids remembered.
const RECENT_IDS: usize = 16 * 1024;

/// Bounded set of recently delivered message ids, one allocation per id (shared by the set and
/// the order). Left to grow by itself, the full table doubles after about 150,000 more ids of a
/// steady stream (removals leave tombstones; once they use up the spare slots, a table more than
/// half full grows instead of rehashing in place): a heap profile of a soak showed that as a step
/// in RSS minutes in. So the first time it is full, the table is made large enough to stay at
/// most half full; a quiet instance never pays for that size.
#[derive(Debug, Default)]
pub(super) struct RecentIds {
    order: VecDeque<Arc<str>>,
    set: HashSet<Arc<str>>,
    /// Whether the table has its final size.
    sized: bool,
}

impl RecentIds {
    /// Whether `id` was delivered lately.
    pub(super) fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// Records `id`; false when it was already there.
    pub(super) fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == RECENT_IDS {
            if !self.sized {
                self.set.reserve(RECENT_IDS);
                self.sized = true;
            }
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        let id: Arc<str> = Arc::from(id);
        self.order.push_back(id.clone());
        self.set.insert(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_forget_the_oldest() {
        let mut recent = RecentIds::default();
        assert!(recent.insert("a"));
        assert!(!recent.insert("a"));
        for n in 0..RECENT_IDS {
            recent.insert(&n.to_string());
        }
        assert!(recent.insert("a"), "forgotten after RECENT_IDS others");
    }

    #[test]
    fn recent_ids_keep_their_size_under_a_steady_stream() {
        let mut recent = RecentIds::default();
        for n in 0..100 {
            recent.insert(&format!("i{n}"));
        }
        assert!(
            recent.set.capacity() < 1000,
            "a quiet instance keeps a small table"
        );
        for n in 100..=RECENT_IDS {
            recent.insert(&format!("i{n}"));
        }
        // What the table holds without reallocating; tombstones lower it until a rehash, a
        // larger table would raise it.
        let (set, order) = (recent.set.capacity(), recent.order.capacity());
        for n in RECENT_IDS + 1..16 * RECENT_IDS {
            assert!(recent.insert(&format!("i{n}")));
            assert!(
                recent.set.capacity() <= set && recent.order.capacity() == order,
                "the tables grew after {n} ids"
            );
        }
        assert_eq!(recent.set.len(), RECENT_IDS);
    }
}
