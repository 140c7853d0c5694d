//! The reader: delivers the history to this instance's sockets as it grows, in stream order. It
//! reads on the delivery runtime (`crate::runtime`) and hands each batch read to the deliverer,
//! a task on the main runtime, where the sockets' writer tasks run, and waits for it: two
//! wake-ups cross runtimes per batch, where delivering from the delivery thread woke every
//! receiver's writer from outside its runtime (figures in `docs/benchmarks.md`, "Hops of a
//! broadcast"). Both are tasks of the hub, stopped (and awaited) before the namespace closes: a
//! batch task spawned per read outlived an aborted reader and emitted into a closed namespace.
//!
//! Invariant: entries are delivered in stream order and at most once each: an entry at or before
//! the cursor is skipped, so is one of this instance's own outbox entries (delivered when it was
//! sent) and one whose message id was delivered lately (written twice).

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tokio::sync::{mpsc, oneshot};

use gridcast_shared::{RedisLink, recovery::StreamId};

use super::{failover, live::Cursor, live::Live, record::Ready};
use crate::redis::{
    adapter::Io,
    history::{History, Page, Stored},
};

/// Entries one read takes from the history.
const PAGE: u64 = 512;

/// Reads timed out in a row, while the link is up, after which the reader's connection counts
/// as dead and the link opens its connections again.
const SUSPECT_AFTER: u32 = 2;

/// A batch read, and where the deliverer says it is delivered.
pub(super) type Batch = (Page, oneshot::Sender<()>);

/// Reads the history after the cursor as it grows, in order, forever, and hands each batch to
/// the deliverer ([`deliver`]), waiting until it is delivered.
pub(super) async fn run(live: Arc<Live>, history: History, batches: mpsc::Sender<Batch>) {
    let mut failing = false;
    // Reads that timed out in a row while the link was up (see `SUSPECT_AFTER`).
    let mut timeouts = 0u32;
    // On Sentinel: after a move to another master, the position is checked before reading on.
    let mut moves = history.master_moves();
    // When the link's connections are opened again, a read already sent went out on the old one.
    let mut renewals = history.renewals();
    renewals.mark_unchanged();
    loop {
        if let Some(moves) = &mut moves
            && moves.has_changed().unwrap_or(false)
        {
            // The link is on its way to another master: read on once it is there.
            if history.link_state() != RedisLink::Up {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            moves.mark_unchanged();
            if let Err(e) = failover::check_position(&live, &history).await {
                tracing::warn!(instance = %live.own, "checking the position on the new master failed, retrying: {e}");
                moves.mark_changed();
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        let at: StreamId = live.lock().await.at;
        let read = history.read_after(at, PAGE);
        let moved = async {
            match &mut moves {
                Some(moves) => moves.changed().await,
                None => std::future::pending().await,
            }
        };
        let read = tokio::select! {
            read = read => read,
            // A read blocked on the old master would wait out its block for nothing.
            Ok(()) = moved => {
                if let Some(moves) = &mut moves {
                    moves.mark_changed();
                }
                continue;
            }
            // Likewise a read sent on a connection since replaced.
            Ok(()) = renewals.changed() => continue,
        };
        match read {
            Ok(page) => {
                timeouts = 0;
                if failing {
                    failing = false;
                    tracing::info!(instance = %live.own, %at, "history readable again, delivering from the last position");
                }
                if page.last.is_none() {
                    continue;
                }
                // Waited for: the next read starts after the cursor this batch moves.
                let (done, delivered) = oneshot::channel();
                if batches.send((page, done)).await.is_err() {
                    return;
                }
                let _ = delivered.await;
            }
            Err(e) => {
                // A blocking read has its block and two seconds more: twice in a row without an
                // answer while the link is up, the connection is dead, not busy.
                if e.is_timeout() && history.link_state() == RedisLink::Up {
                    timeouts += 1;
                    if timeouts >= SUSPECT_AFTER {
                        timeouts = 0;
                        history.suspect_reader();
                    }
                }
                if !failing {
                    failing = true;
                    tracing::warn!(instance = %live.own, "history read failed, retrying: {e}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The deliverer: delivers each batch the reader hands it, under the cursor lock, on the main
/// runtime, until the reader is gone.
pub(super) async fn deliver(live: Arc<Live>, io: Io, mut batches: mpsc::Receiver<Batch>) {
    while let Some((page, done)) = batches.recv().await {
        let mut cursor = live.lock().await;
        let readable = page.entries.len();
        for stored in page.entries {
            deliver_stored(&live, &io, &mut cursor, stored).await;
        }
        // Past the entries it could not read too, or it would read them again and again.
        if let Some(last) = page.last {
            cursor.at = cursor.at.max(last);
        }
        let unreadable = (page.read - readable) as u64;
        live.counters
            .unreadable_skipped
            .fetch_add(unreadable, Ordering::Relaxed);
        drop(cursor);
        live.advanced();
        let _ = done.send(());
    }
}

async fn deliver_stored(live: &Live, io: &Io, cursor: &mut Cursor, stored: Stored) {
    if stored.id <= cursor.at {
        return;
    }
    cursor.at = stored.id;
    if stored.record.origin == live.own
        && let Some(seq) = stored.record.outbox_seq
    {
        // Delivered here when it was sent.
        cursor.own_read = cursor.own_read.max(seq);
        return;
    }
    if !cursor.recent.insert(&stored.record.message_id) {
        live.skip_duplicate();
        return;
    }
    let Some(ready) = Ready::from_stored(&stored) else {
        // Counted with the entries without gridcast's fields: `/health`'s `bad_history_entries`.
        live.counters
            .unreadable_skipped
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(instance = %live.own, id = %stored.id, "history entry with an unknown target or payload skipped");
        return;
    };
    let offset = cursor.live_offset(stored.id, &live.own);
    live.deliver(io, cursor, ready.with_offset(Some(offset)))
        .await;
}
