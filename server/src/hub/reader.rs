//! The reader: delivers the history to this instance's sockets as it grows, in stream order, on
//! the delivery runtime (`crate::runtime`).
//!
//! Invariant: entries are delivered in stream order and at most once each: an entry at or before
//! the cursor is skipped, so is one of this instance's own outbox entries (delivered when it was
//! sent) and one whose message id was delivered lately (written twice).

use std::{sync::Arc, time::Duration};

use gridcast_shared::recovery::StreamId;

use super::{live::Cursor, live::Live, record::Ready};
use crate::redis::{
    adapter::Io,
    history::{History, Stored},
};

/// Entries one read takes from the history.
const PAGE: u64 = 512;

/// Delivers the history after the cursor as it grows, in order, forever.
pub(super) async fn run(live: Arc<Live>, history: History, io: Io) {
    let mut failing = false;
    loop {
        let at: StreamId = live.lock().await.at;
        match history.read_after(at, PAGE).await {
            Ok(entries) => {
                if failing {
                    failing = false;
                    tracing::info!(instance = %live.own, %at, "history readable again, delivering from the last position");
                }
                if entries.is_empty() {
                    continue;
                }
                let mut cursor = live.lock().await;
                for stored in entries {
                    deliver_stored(&live, &io, &mut cursor, stored).await;
                }
            }
            Err(e) => {
                if !failing {
                    failing = true;
                    tracing::warn!(instance = %live.own, "history read failed, retrying: {e}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
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
        tracing::warn!(instance = %live.own, id = %stored.id, "history entry with an unknown target or payload skipped");
        return;
    };
    let offset = cursor.live_offset(stored.id, &live.own);
    live.deliver(io, cursor, ready.with_offset(Some(offset)))
        .await;
}
