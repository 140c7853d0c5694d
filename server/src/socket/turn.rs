//! One socket's requests are handled in the order they arrived ([`Turns`]), as Socket.IO promises
//! for the events of one connection.
//!
//! socketioxide runs each event's handler as a task of its own, so two rapid `message`s of one
//! client raced each other to the history, and every client saw them swapped (the stock client
//! sending 40 at once: `ws-18` arrived before `ws-03`). The extractors of an event run in
//! arrival order, synchronously, before the task is spawned: [`Turns::take`] hands out the
//! request's [`Turn`] there, and the handler waits for it ([`Turn::wait`]) before it acts. A
//! turn passes to the next request once the request's place in the cluster's order is settled,
//! not when it is answered: a message once its `XADD` is on the link's connection (Redis takes
//! one connection's commands in order), a room change once it is made in memory; the Redis
//! writes that follow run outside the turn. Held through every round trip, a socket managed one
//! message per round trip: with Redis 100 ms away, 19 messages a second piled up 15 s of delay.
//! However a request ends (answered, rejected, panicked), its `Turn` is dropped and passes on.
//!
//! Each turn is a `oneshot` from the request before it: handing over wakes one task, not every
//! waiting one. Requests refused by the rate limit take no turn (they are answered at once), and
//! at most [`MAX_WAITING`] requests of a socket hold a turn at once (more are refused).

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::oneshot;

/// Requests of one socket holding a turn at once (waiting for it, or acting): more are refused.
/// Only with `--rate-limit off` or a burst above it can a client get near.
pub(crate) const MAX_WAITING: usize = 256;

/// The order of one socket's requests: where the next one queues.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    /// Told when the last request that took a turn ends; `None` before the first.
    last: Mutex<Option<oneshot::Receiver<()>>>,
    /// Turns not yet passed on.
    held: Arc<AtomicUsize>,
}

impl Turns {
    /// The turn of the request arriving now, after every request that took one before it; `None`
    /// when [`MAX_WAITING`] are held already.
    pub(super) fn take(&self) -> Option<Turn> {
        if self.held.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
            self.held.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let (done, next) = oneshot::channel();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let before = last.replace(next);
        Some(Turn {
            before,
            done: Some(done),
            held: self.held.clone(),
        })
    }
}

/// One request's place in its socket's order. Dropping it lets the next request go, once every
/// request before it has ended too.
#[derive(Debug)]
pub(super) struct Turn {
    /// Ends when the request before this one ended; `None` once it did and this one knows.
    before: Option<oneshot::Receiver<()>>,
    /// Dropped when this request ends, which tells the next one.
    done: Option<oneshot::Sender<()>>,
    /// Its socket's count of turns held.
    held: Arc<AtomicUsize>,
}

impl Turn {
    /// Returns once every request of the socket that arrived before this one has ended.
    pub(super) async fn wait(&mut self) {
        // Taken only once it ended: a wait given up halfway (its future dropped) waits again.
        if let Some(before) = &mut self.before {
            // Sent or dropped: either way the request before has ended.
            let _ = before.await;
            self.before = None;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.held.fetch_sub(1, Ordering::Relaxed);
        let (Some(mut before), Some(done)) = (self.before.take(), self.done.take()) else {
            return;
        };
        // Ended without waiting (e.g. its arguments failed to extract): the next request still
        // goes only after the one before this one.
        if matches!(before.try_recv(), Err(oneshot::error::TryRecvError::Empty))
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = before.await;
                drop(done);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Requests that end in any order still act in the order they arrived.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_act_in_arrival_order_however_their_tasks_run() {
        let turns = Turns::default();
        let acted = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Later requests are ready first: without the turns they would act first.
        for i in 0..20u64 {
            let mut turn = turns.take().unwrap();
            let acted = acted.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2 * (20 - i))).await;
                turn.wait().await;
                acted.lock().unwrap().push(i);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*acted.lock().unwrap(), (0..20).collect::<Vec<_>>());
    }

    /// A turn dropped without waiting (its request ended before acting) still holds back the
    /// next request until the one before it has ended.
    #[tokio::test]
    async fn a_turn_dropped_unwaited_keeps_the_order_of_the_others() {
        let turns = Turns::default();
        let mut first = turns.take().unwrap();
        let second = turns.take().unwrap();
        let mut third = turns.take().unwrap();
        first.wait().await;
        drop(second);
        let waiting = tokio::time::timeout(Duration::from_millis(50), third.wait()).await;
        assert!(waiting.is_err(), "the third went before the first ended");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), third.wait())
            .await
            .expect("the third goes once the first ended");
    }

    /// At most `MAX_WAITING` turns are held at once; passing one on makes room.
    #[test]
    fn turns_held_at_once_are_capped() {
        let turns = Turns::default();
        let held: Vec<Turn> = (0..MAX_WAITING).map(|_| turns.take().unwrap()).collect();
        assert!(turns.take().is_none());
        drop(held);
        assert!(turns.take().is_some());
    }
}
