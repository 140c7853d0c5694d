//! The history's journal: the entries this instance appended lately, kept so that those a failover
//! lost can be written again. Only on a Sentinel link.
//!
//! Redis replicates asynchronously: a master acknowledges an `XADD` before its replica has it, so
//! the replica Sentinel promotes may lack the last entries the old master took (and whose senders
//! were told `cluster`). Each entry is noted with the link's move count at the time it was sent;
//! after a move, [`super::history::History::rewrite_lost`] looks for the entries of earlier masters
//! in the new master's stream and appends again those it lacks.
//!
//! Invariant: bounded. Entries of the current master are kept for [`KEEP`] and at most [`MAX`]
//! of them (the newest); entries of an earlier master only until the check after the move (at
//! most [`MAX`] per move, since none are added to an earlier master after it).

use std::{
    collections::{HashSet, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use gridcast_shared::recovery::StreamId;

/// How long an append is kept: far longer than a healthy replica lags.
const KEEP: Duration = Duration::from_secs(10);
/// Appends kept at most (per master).
const MAX: usize = 4096;

/// One append: when, its id and what it wrote.
#[derive(Debug)]
struct Noted<R> {
    when: Instant,
    id: StreamId,
    record: R,
}

/// The appends of the last few seconds (`R`: what an append wrote).
#[derive(Debug)]
pub(crate) struct Journal<R> {
    inner: Mutex<Inner<R>>,
}

#[derive(Debug)]
struct Inner<R> {
    /// The move count of the master `current` went to.
    master: u64,
    /// Entries of that master, oldest first.
    current: VecDeque<Noted<R>>,
    /// Entries of earlier masters, not checked yet.
    earlier: Vec<Noted<R>>,
}

impl<R> Default for Journal<R> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                master: 0,
                current: VecDeque::new(),
                earlier: Vec::new(),
            }),
        }
    }
}

impl<R: Clone> Journal<R> {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner<R>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that `record` was appended as `id` to the master of move count `master`.
    pub(super) fn note(&self, master: u64, id: StreamId, record: &R) {
        let mut inner = self.inner();
        let noted = Noted {
            when: Instant::now(),
            id,
            record: record.clone(),
        };
        if master < inner.master {
            // Sent before the move, answered after it.
            inner.earlier.push(noted);
            return;
        }
        if master > inner.master {
            let moved = std::mem::take(&mut inner.current);
            inner.earlier.extend(moved);
            inner.master = master;
        }
        inner.current.push_back(noted);
        while inner.current.len() > MAX
            || inner
                .current
                .front()
                .is_some_and(|e| e.when.elapsed() > KEEP)
        {
            inner.current.pop_front();
        }
    }

    /// The entries appended to masters before the one of move count `master`, in id order.
    pub(super) fn before(&self, master: u64) -> Vec<(StreamId, R)> {
        let inner = self.inner();
        let current = (inner.master < master).then_some(&inner.current);
        let mut earlier: Vec<(StreamId, R)> = inner
            .earlier
            .iter()
            .chain(current.into_iter().flatten())
            .map(|e| (e.id, e.record.clone()))
            .collect();
        earlier.sort_by_key(|(id, _)| *id);
        earlier
    }

    /// Forgets the entries appended to masters before the one of move count `master` whose ids
    /// are in `ids` (checked after the move).
    pub(super) fn forget(&self, master: u64, ids: &HashSet<StreamId>) {
        let mut inner = self.inner();
        inner.earlier.retain(|e| !ids.contains(&e.id));
        if inner.master < master {
            inner.current.retain(|e| !ids.contains(&e.id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> String {
        format!("m{n}")
    }

    fn id(n: u64) -> StreamId {
        StreamId { ms: n, seq: 0 }
    }

    #[test]
    fn keeps_at_most_max_of_the_current_master_and_every_earlier_entry() {
        let journal = Journal::<String>::default();
        for n in 0..10 {
            journal.note(0, id(n), &record(n));
        }
        for n in 10..(MAX as u64 + 20) {
            journal.note(1, id(n), &record(n));
        }
        assert_eq!(journal.inner().earlier.len(), 10, "earlier entries stay");
        assert_eq!(journal.inner().current.len(), MAX);
        let earlier = journal.before(1);
        assert_eq!(earlier.len(), 10);
        assert_eq!(earlier[9].0, id(9));
        assert_eq!(journal.before(2).len(), 10 + MAX);
        assert_eq!(
            journal.before(2)[10].0,
            id(20),
            "the oldest of master 1 went"
        );
    }

    #[test]
    fn forgets_what_was_checked() {
        let journal = Journal::<String>::default();
        for n in 0..4 {
            journal.note(0, id(n), &record(n));
        }
        journal.note(1, id(4), &record(4));
        let checked: HashSet<StreamId> = [id(0), id(1), id(2), id(4)].into();
        journal.forget(1, &checked);
        let left: Vec<StreamId> = journal.before(2).into_iter().map(|(id, _)| id).collect();
        assert_eq!(left, vec![id(3), id(4)], "a later master's entry stays");
        journal.note(0, id(5), &record(5));
        assert_eq!(
            journal.before(1).len(),
            2,
            "a late answer of the old master counts"
        );
    }
}
