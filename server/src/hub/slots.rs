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

/// The bytes per second all replays of an instance may send together: a token bucket holding a
/// tenth of a second's worth. Replays may otherwise take every core (a client that reads fast
/// takes its replay as fast as the server can encode it) and slow every live delivery.
///
/// Invariant: over any interval, replays send at most the rate times the interval plus a tenth
/// of a second's worth (a message larger than what is left waits until it is paid for).
#[derive(Debug)]
pub(super) struct Budget {
    per_second: f64,
    /// Bytes left (negative: owed), and when they were counted.
    state: std::sync::Mutex<(f64, tokio::time::Instant)>,
}

impl Budget {
    pub(super) fn new(per_second: u64) -> Self {
        let per_second = per_second.max(1) as f64;
        Self {
            per_second,
            state: std::sync::Mutex::new((per_second / 10.0, tokio::time::Instant::now())),
        }
    }

    /// Takes `bytes`, waiting until they are paid for; how long it waited.
    pub(super) async fn take(&self, bytes: u64) -> std::time::Duration {
        let owed = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let (left, at) = &mut *state;
            let now = tokio::time::Instant::now();
            *left = (*left + now.duration_since(*at).as_secs_f64() * self.per_second)
                .min(self.per_second / 10.0);
            *at = now;
            *left -= bytes as f64;
            -*left
        };
        if owed <= 0.0 {
            return std::time::Duration::ZERO;
        }
        let wait = std::time::Duration::from_secs_f64(owed / self.per_second);
        tokio::time::sleep(wait).await;
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::Budget;

    #[tokio::test(start_paused = true)]
    async fn the_budget_lets_a_tenth_of_a_second_through_then_paces() {
        let budget = Budget::new(1000);
        assert!(budget.take(100).await.is_zero());
        let waited = budget.take(500).await;
        assert_eq!(waited.as_millis(), 500, "500 bytes owed at 1000/s");
        let started = tokio::time::Instant::now();
        for _ in 0..10 {
            budget.take(100).await;
        }
        assert_eq!(
            started.elapsed().as_millis(),
            1000,
            "1000 bytes take a second"
        );
    }
}
