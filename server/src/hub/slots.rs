//! Replay slots: how many replays an instance runs at once. Each replay reads the history in
//! pages and holds one page while its client takes it; a client that connects while every slot
//! is taken waits its turn (told how many are ahead, in a `replay_waiting` event) instead of
//! adding one more reader.
//!
//! Invariant: at most the configured number of replays hold a slot; waiters get slots in the
//! order they asked (tokio's semaphore is fair).

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

/// The replay slots of one instance.
#[derive(Debug)]
pub(super) struct Slots {
    slots: Semaphore,
    max: usize,
    /// Replays waiting for a slot now.
    waiting: AtomicU64,
}

/// What [`Slots::enter`] found.
pub(super) enum Entry<'a> {
    /// A slot, at once.
    Now(SemaphorePermit<'a>),
    /// Every slot is taken: `ahead` replays wait before this one.
    Wait { ahead: u64 },
}

impl Slots {
    pub(super) fn new(max: usize) -> Self {
        Self {
            slots: Semaphore::new(max),
            max,
            waiting: AtomicU64::new(0),
        }
    }

    /// A slot if one is free now, else how many wait before the caller.
    pub(super) fn enter(&self) -> Entry<'_> {
        match self.slots.try_acquire() {
            Ok(permit) => Entry::Now(permit),
            Err(_) => Entry::Wait {
                ahead: self.waiting.load(Ordering::Relaxed),
            },
        }
    }

    /// Waits for a slot (counted as waiting until it has one, or until the wait is dropped).
    pub(super) async fn wait(&self) -> SemaphorePermit<'_> {
        struct Waiting<'a>(&'a AtomicU64);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        self.slots
            .acquire()
            .await
            .expect("the replay semaphore is never closed")
    }

    /// Replays running now.
    pub(super) fn active(&self) -> u64 {
        (self.max - self.slots.available_permits()) as u64
    }
}
