//! One socket's requests are handled in the order they arrived ([`Turns`]), as Socket.IO promises
//! for the events of one connection.
//!
//! socketioxide runs each event's handler as a task of its own, so two rapid `message`s of one
//! client raced each other to the history, and every client saw them swapped (the stock client
//! sending 40 at once: `ws-18` arrived before `ws-03`). The extractors of an event run in
//! arrival order, synchronously, before the task is spawned: [`Turns::take`] hands out the
//! request's [`Turn`] there, and the handler waits for it ([`Turn::wait`]) before it acts. A
//! turn passes to the next request when the one before it ends, however it ends (its `Turn`
//! dropped: answered, rejected, panicked).
//!
//! Each turn is a `oneshot` from the request before it: handing over wakes one task, not every
//! waiting one. Requests refused by the rate limit take no turn (they are answered at once), so
//! the requests waiting at any time are at most what the budget admits (`--rate-limit`).

use std::sync::Mutex;

use tokio::sync::oneshot;

/// The order of one socket's requests: where the next one queues.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    /// Told when the last request that took a turn ends; `None` before the first.
    last: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Turns {
    /// The turn of the request arriving now: after every request that took one before it.
    pub(super) fn take(&self) -> Turn {
        let (done, next) = oneshot::channel();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let before = last.replace(next);
        Turn {
            before,
            done: Some(done),
        }
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
    use std::{sync::Arc, time::Duration};

    use super::*;

    /// Requests that end in any order still act in the order they arrived.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_act_in_arrival_order_however_their_tasks_run() {
        let turns = Turns::default();
        let acted = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Later requests are ready first: without the turns they would act first.
        for i in 0..20u64 {
            let mut turn = turns.take();
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
        let mut first = turns.take();
        let second = turns.take();
        let mut third = turns.take();
        first.wait().await;
        drop(second);
        let waiting = tokio::time::timeout(Duration::from_millis(50), third.wait()).await;
        assert!(waiting.is_err(), "the third went before the first ended");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), third.wait())
            .await
            .expect("the third goes once the first ended");
    }
}
