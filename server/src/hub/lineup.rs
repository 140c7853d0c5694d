//! The order in which this instance's broadcasts took their place, for those that end in the
//! outbox.
//!
//! A broadcast's place is its append on the link's connection: Redis takes a connection's
//! commands in order, so appends that succeed are written in the order their senders' turns
//! passed. One that fails goes to the outbox, and must go there after every broadcast that took
//! its place before it, whether that one succeeded or went to the outbox too. Without this line,
//! during a Redis stall the appends waiting on the connection timed out together and were queued
//! in whatever order their tasks woke, and the broadcasts sent once the link was known down went
//! to the outbox at once, ahead of the earlier ones still waiting: one socket's messages reached
//! everyone, and the history, out of order (4 to 43 inversions per receiver in a review's runs,
//! 10 senders of 40 messages with `CLIENT PAUSE` mid-burst).
//!
//! Each broadcast takes a [`Ticket`] when it takes its place; a broadcast bound for the outbox
//! waits for [`Ticket::front`], and a ticket is settled when it is dropped. A broadcast whose
//! append succeeds never waits: it only settles. A wait is bounded by the publish timeout of the
//! appends before it, since each of them settles once its append answers or times out.

use std::{
    collections::VecDeque,
    sync::{Mutex, MutexGuard},
};

use tokio::sync::oneshot;

/// The broadcasts of this instance that took their place and have not settled, oldest first.
#[derive(Debug, Default)]
pub(super) struct Lineup {
    line: Mutex<Line>,
}

#[derive(Debug, Default)]
struct Line {
    /// The number of the oldest ticket in `slots`; every ticket before it has settled.
    first: u64,
    slots: VecDeque<Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    settled: bool,
    /// The ticket's holder waiting to be at the front.
    waiting: Option<oneshot::Sender<()>>,
}

impl Lineup {
    fn line(&self) -> MutexGuard<'_, Line> {
        self.line.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place at the back of the line; it settles when dropped.
    pub(super) fn take(&self) -> Ticket<'_> {
        let mut line = self.line();
        let number = line.first + line.slots.len() as u64;
        line.slots.push_back(Slot::default());
        Ticket {
            lineup: self,
            number,
        }
    }

    /// Tickets not yet settled, or settled behind one that is not.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.line().slots.len()
    }

    fn settle(&self, number: u64) {
        let mut line = self.line();
        let index = (number - line.first) as usize;
        line.slots[index].settled = true;
        while line.slots.front().is_some_and(|slot| slot.settled) {
            line.slots.pop_front();
            line.first += 1;
        }
        if let Some(waiting) = line.slots.front_mut().and_then(|slot| slot.waiting.take()) {
            // Its holder may have stopped waiting; its drop settles it then.
            let _ = waiting.send(());
        }
    }
}

/// One broadcast's place in the [`Lineup`]; settled when dropped.
#[derive(Debug)]
pub(super) struct Ticket<'a> {
    lineup: &'a Lineup,
    number: u64,
}

impl Ticket<'_> {
    /// Waits until every broadcast that took its place before this one has settled.
    pub(super) async fn front(&self) {
        let wait = {
            let mut line = self.lineup.line();
            if line.first == self.number {
                return;
            }
            let index = (self.number - line.first) as usize;
            let (tx, rx) = oneshot::channel();
            line.slots[index].waiting = Some(tx);
            rx
        };
        // The sender is only dropped unsent with the lineup.
        let _ = wait.await;
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.lineup.settle(self.number);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Whether `ticket`'s wait ends within a moment.
    async fn at_front(ticket: &Ticket<'_>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), ticket.front())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_ticket_is_at_the_front_once_every_earlier_one_settled() {
        let lineup = Lineup::default();
        let first = lineup.take();
        let second = lineup.take();
        let third = lineup.take();
        assert!(at_front(&first).await);
        assert!(!at_front(&third).await);
        // Settled out of order: the third still waits for the first.
        drop(second);
        assert!(!at_front(&third).await);
        drop(first);
        assert!(at_front(&third).await);
        drop(third);
        assert_eq!(lineup.len(), 0);
    }

    #[tokio::test]
    async fn a_waiting_ticket_is_woken_when_the_one_before_settles() {
        let lineup = Lineup::default();
        let first = lineup.take();
        let second = lineup.take();
        let (done, mut finished) = oneshot::channel();
        let waiter = async {
            second.front().await;
            done.send(()).unwrap();
            drop(second);
        };
        let settler = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(
                finished.try_recv().is_err(),
                "woken before the first settled"
            );
            drop(first);
        };
        tokio::time::timeout(Duration::from_secs(5), async {
            tokio::join!(waiter, settler)
        })
        .await
        .expect("the second ticket was never woken");
        assert_eq!(lineup.len(), 0);
    }

    #[tokio::test]
    async fn a_ticket_dropped_while_waiting_settles() {
        let lineup = Lineup::default();
        let first = lineup.take();
        let second = lineup.take();
        assert!(!at_front(&second).await);
        drop(second);
        let third = lineup.take();
        drop(first);
        assert!(at_front(&third).await);
    }
}
