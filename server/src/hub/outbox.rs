//! The outbox: broadcasts Redis could not take, delivered on this instance at once and written to
//! the history when Redis is back.
//!
//! Invariant: an outbox entry is delivered here exactly once, when it is sent (with an offset that
//! carries its outbox mark, `<P>.<instance>.<n>`), and written to the history in the order it was
//! sent, with its number `q`; this instance's reader skips it when it reads it back, and other
//! instances deliver it then. A broadcast that finds the outbox full is delivered here only, and
//! counted.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

use gridcast_shared::{
    Delivery, RedisLink,
    recovery::{Offset, OutboxMark},
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

/// Broadcasts waiting for Redis, oldest first.
#[derive(Debug)]
pub(super) struct Outbox {
    queue: Mutex<Queue>,
    capacity: usize,
    flush: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    entries: VecDeque<Record>,
    next_seq: u64,
}

impl Outbox {
    /// An empty outbox holding at most `capacity` broadcasts.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::default(),
            capacity,
            flush: Notify::new(),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Broadcasts waiting.
    pub(super) fn len(&self) -> usize {
        self.queue().entries.len()
    }

    /// Queues `record` with the next outbox number, or `None` when the outbox is full.
    fn push(&self, mut record: Record) -> Option<u64> {
        let mut queue = self.queue();
        if queue.entries.len() >= self.capacity {
            return None;
        }
        queue.next_seq += 1;
        record.outbox_seq = Some(queue.next_seq);
        queue.entries.push_back(record);
        Some(queue.next_seq)
    }
}

/// Delivers a broadcast Redis could not take to this instance's sockets at once and queues it
/// for the others; says how far it went.
pub(super) async fn deliver_now_and_queue(
    (live, outbox, warnings): (&Live, &Outbox, &Warnings),
    io: &Io,
    record: Record,
    target: Target,
    payload: Payload,
) -> Delivery {
    let mut cursor = live.lock().await;
    let (delivery, offset, seq) = match outbox.push(record) {
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
        match write_batch(&outbox, &history, &link).await {
            Ok(written) => {
                tracing::info!(instance = %own, written, left = outbox.len(), "outbox written to the history")
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
pub(super) async fn flush(outbox: &Outbox, history: &History, link: &LinkDriver) {
    while outbox.len() > 0 {
        if write_batch(outbox, history, link).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Writes the oldest entries of the outbox; how many. `Err(None)` while the link is down.
/// Part of a failed batch may be written: written again, each is delivered once (readers skip a
/// message id they delivered, replays too).
async fn write_batch(
    outbox: &Outbox,
    history: &History,
    link: &LinkDriver,
) -> Result<usize, Option<crate::redis::link::LinkError>> {
    let batch: Vec<Record> = outbox
        .queue()
        .entries
        .iter()
        .take(FLUSH_BATCH)
        .cloned()
        .collect();
    if link.state() != RedisLink::Up {
        return Err(None);
    }
    history.append_all(&batch).await.map_err(Some)?;
    let mut queue = outbox.queue();
    let written = batch.len().min(queue.entries.len());
    queue.entries.drain(..written);
    Ok(written)
}
