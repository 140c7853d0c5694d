//! The outbox: broadcasts Redis could not take, delivered on this instance at once and written to
//! the history when Redis is back.
//!
//! Invariant: an outbox entry is delivered here exactly once, when it is sent (with an offset that
//! carries its outbox mark, `<P>.<instance>.<n>`), and written to the history in the order it was
//! sent, with its number `q`; this instance's reader skips it when it reads it back, and other
//! instances deliver it then. A broadcast that finds the outbox full is delivered here only, and
//! counted.
//!
//! An append that got no answer may have been written all the same (Redis stalled, not gone: a
//! review's `CLIENT PAUSE` wrote every one of 400 messages twice, the second copy from here). Such
//! an entry is queued *unsure*, with a point of the history its append would follow
//! ([`History::seen`]); before writing it, the flusher reads which of this instance's message ids
//! the history holds after that point ([`History::landed_since`]) and does not write those again.
//! A batch whose write failed partway is unsure the same way. Live delivery skipped a second
//! copy already (by message id), but a replay from an offset between the copies sent it.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use gridcast_shared::{
    Delivery, RedisLink,
    recovery::{Offset, OutboxMark, StreamId},
};
use tokio::sync::Notify;

use super::{
    live::Live,
    record::{Payload, Ready, Target},
};
use crate::{
    redis::{
        adapter::Io,
        history::{History, Record},
        link::LinkDriver,
    },
    warnings::Warnings,
};

/// Entries one flush writes at most.
const FLUSH_BATCH: usize = 512;

/// Unsure broadcasts delivered here whose message ids are kept, the newest, for replays
/// ([`Outbox::delivered_unsure`]).
const UNSURE_KEPT: usize = 4096;

/// Broadcasts waiting for Redis, oldest first.
#[derive(Debug)]
pub(super) struct Outbox {
    queue: Mutex<Queue>,
    capacity: usize,
    flush: Notify,
    /// Unsure entries found written by their own append, not written again (ever).
    landed: AtomicU64,
}

#[derive(Debug, Default)]
struct Queue {
    entries: VecDeque<Queued>,
    next_seq: u64,
    /// The message ids and outbox numbers of the last [`UNSURE_KEPT`] unsure broadcasts.
    unsure: VecDeque<(String, u64)>,
}

/// A broadcast waiting for Redis.
#[derive(Debug, Clone)]
struct Queued {
    record: Record,
    /// Set when an append of it may have been written: it would be after this point.
    unsure_after: Option<StreamId>,
}

impl Outbox {
    /// An empty outbox holding at most `capacity` broadcasts.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::default(),
            capacity,
            flush: Notify::new(),
            landed: AtomicU64::new(0),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Unsure entries found written by their own append, and not written again, since start.
    pub(super) fn landed(&self) -> u64 {
        self.landed.load(Ordering::Relaxed)
    }

    /// The message ids of the unsure broadcasts delivered here with an outbox number up to
    /// `upto` (of the last [`UNSURE_KEPT`]). A client whose offset carries this instance's outbox
    /// mark with count `upto` has them, but when their own append landed, their entry has no
    /// outbox number for the mark to cover, and a replay sent them again (a review: 65
    /// duplicates per client back from a cut during a 2 s stall).
    pub(super) fn delivered_unsure(&self, upto: u64) -> Vec<String> {
        let queue = self.queue();
        let had = queue.unsure.iter().filter(|(_, seq)| *seq <= upto);
        had.map(|(id, _)| id.clone()).collect()
    }

    /// Broadcasts waiting.
    pub(super) fn len(&self) -> usize {
        self.queue().entries.len()
    }

    /// Queues `record` with the next outbox number, or `None` when the outbox is full.
    fn push(&self, mut record: Record, unsure_after: Option<StreamId>) -> Option<u64> {
        let mut queue = self.queue();
        if queue.entries.len() >= self.capacity {
            return None;
        }
        queue.next_seq += 1;
        record.outbox_seq = Some(queue.next_seq);
        if unsure_after.is_some() {
            if queue.unsure.len() == UNSURE_KEPT {
                queue.unsure.pop_front();
            }
            let seq = queue.next_seq;
            queue.unsure.push_back((record.message_id.clone(), seq));
        }
        queue.entries.push_back(Queued {
            record,
            unsure_after,
        });
        Some(queue.next_seq)
    }
}

/// Delivers a broadcast Redis could not take to this instance's sockets at once and queues it
/// for the others; says how far it went. `unsure_after`: an append of it may have been written,
/// after that point.
pub(super) async fn deliver_now_and_queue(
    (live, outbox, warnings): (&Live, &Outbox, &Warnings),
    io: &Io,
    (record, unsure_after): (Record, Option<StreamId>),
    target: Target,
    payload: Payload,
) -> Delivery {
    // After this instance's appended broadcasts, which the reader delivers here.
    if !live.await_own_appends().await {
        warnings.warn(
            "outbox delivery went ahead of appended broadcasts the history has not given back",
            &format_args!("waited {:?}", super::live::OWN_APPENDS_WAIT),
        );
    }
    let mut cursor = live.lock().await;
    let (delivery, offset, seq) = match outbox.push(record, unsure_after) {
        Some(seq) => {
            live.counters.queued.fetch_add(1, Ordering::Relaxed);
            cursor.own_delivered = seq;
            let offset = Offset {
                at: cursor.at,
                mark: Some(OutboxMark {
                    instance: live.own.clone(),
                    count: seq,
                }),
            };
            (Delivery::Queued, Some(offset), Some(seq))
        }
        None => {
            live.counters.overflowed.fetch_add(1, Ordering::Relaxed);
            warnings.warn(
                "outbox full: broadcast delivered on this instance only",
                &format_args!("{} broadcasts queued already", outbox.capacity),
            );
            (Delivery::LocalOnly, None, None)
        }
    };
    if !cursor.recent.insert(&payload.meta().id) {
        // An append that timed out had landed after all, and the reader delivered it.
        live.skip_duplicate();
        drop(cursor);
        outbox.flush.notify_one();
        return delivery;
    }
    let ready = Ready {
        id: None,
        origin: live.own.clone(),
        outbox_seq: seq,
        target,
        payload,
    }
    .with_offset(offset);
    live.deliver(io, &mut cursor, ready).await;
    drop(cursor);
    outbox.flush.notify_one();
    delivery
}

/// Writes the outbox to the history whenever Redis takes it, oldest first, forever.
pub(super) async fn run_flusher(
    outbox: Arc<Outbox>,
    history: History,
    link: LinkDriver,
    own: String,
) {
    loop {
        if outbox.len() == 0 {
            outbox.flush.notified().await;
            continue;
        }
        match write_batch(&outbox, &history, &link, &own).await {
            Ok(Written { written, landed }) => {
                tracing::info!(instance = %own, written, landed, left = outbox.len(), "outbox written to the history")
            }
            Err(Some(e)) => {
                tracing::warn!(instance = %own, "outbox write failed, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(None) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Writes the outbox until it is empty, while Redis takes it (for a stopping instance: the
/// caller bounds the time).
pub(super) async fn flush(outbox: &Outbox, history: &History, link: &LinkDriver, own: &str) {
    while outbox.len() > 0 {
        if write_batch(outbox, history, link, own).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What one batch of the outbox came to.
#[derive(Debug)]
struct Written {
    /// Entries written to the history.
    written: usize,
    /// Unsure entries found written already, by their own append, and not written again.
    landed: usize,
}

/// Writes the oldest entries of the outbox, but those of its unsure ones the history holds
/// already. `Err(None)` while the link is down. When the write fails, part of the batch may be
/// written: the whole batch is unsure then.
async fn write_batch(
    outbox: &Outbox,
    history: &History,
    link: &LinkDriver,
    own: &str,
) -> Result<Written, Option<crate::redis::link::LinkError>> {
    let batch: Vec<Queued> = outbox
        .queue()
        .entries
        .iter()
        .take(FLUSH_BATCH)
        .cloned()
        .collect();
    if link.state() != RedisLink::Up {
        return Err(None);
    }
    let landed = match batch.iter().filter_map(|q| q.unsure_after).min() {
        Some(after) => history.landed_since(after, own).await.map_err(Some)?,
        None => Default::default(),
    };
    let records: Vec<Record> = batch
        .iter()
        .filter(|q| q.unsure_after.is_none() || !landed.contains(&q.record.message_id))
        .map(|q| q.record.clone())
        .collect();
    let before = history.seen();
    if !records.is_empty()
        && let Err(e) = history.append_all(&records).await
    {
        let mut queue = outbox.queue();
        for queued in queue.entries.iter_mut().take(batch.len()) {
            queued.unsure_after.get_or_insert(before);
        }
        return Err(Some(e));
    }
    let mut queue = outbox.queue();
    let taken = batch.len().min(queue.entries.len());
    queue.entries.drain(..taken);
    let landed = batch.len() - records.len();
    outbox.landed.fetch_add(landed as u64, Ordering::Relaxed);
    Ok(Written {
        written: records.len(),
        landed,
    })
}
