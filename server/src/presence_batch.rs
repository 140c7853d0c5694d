//! Presence changes, coalesced: the changes of one instance within [`WINDOW`] go out as one
//! `presence` event (an array of deltas), only to the sockets that asked for the presence list
//! (room [`PRESENCE_SUBSCRIBED`]), through the socketioxide-redis adapter's pub/sub.
//!
//! Sending every change to every client at once made a connect storm quadratic: N clients
//! arriving together cost N² packets. Now each instance sends at most one batch per window to the
//! subscribers, and a later change of a member replaces an earlier one of the same window (a
//! connect then a rename is one upsert; a connect then a disconnect is one leave).
//!
//! Presence deltas are the one thing gridcast sends through the adapter's pub/sub rather than the
//! history (a missed delta is repaired by the next snapshot the client reads). When Redis cannot
//! take a batch, it is delivered on this instance only, counted as local-only: an outage degrades
//! presence to independent instances instead of silencing it.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use gridcast_shared::{event, presence::PresenceDelta};
use socketioxide_core::adapter::errors::BroadcastError;
use tokio::sync::Notify;

use crate::{drops::Drops, redis::adapter::Io, rooms::PRESENCE_SUBSCRIBED, warnings::Warnings};

/// How long changes gather before they are sent together.
const WINDOW: Duration = Duration::from_millis(100);

/// The changes waiting to be sent, by public id, each with its order of arrival.
#[derive(Debug, Default)]
pub(crate) struct PresenceBatch {
    pending: Mutex<Pending>,
    ready: Notify,
    /// Batches delivered on this instance only, because Redis could not take them.
    local_only: AtomicU64,
}

#[derive(Debug, Default)]
struct Pending {
    next: u64,
    by_id: HashMap<String, (u64, PresenceDelta)>,
}

fn id_of(delta: &PresenceDelta) -> &str {
    match delta {
        PresenceDelta::Upsert { member } => &member.id,
        PresenceDelta::Leave { id, .. } => id,
    }
}

impl PresenceBatch {
    /// Queues `delta`, replacing a queued change of the same member.
    pub(crate) fn push(&self, delta: PresenceDelta) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let seq = pending.next;
        pending.next += 1;
        pending.by_id.insert(id_of(&delta).to_owned(), (seq, delta));
        drop(pending);
        self.ready.notify_one();
    }

    /// Everything queued, in order of arrival.
    fn take(&self) -> Vec<PresenceDelta> {
        let by_id =
            std::mem::take(&mut self.pending.lock().unwrap_or_else(|p| p.into_inner()).by_id);
        let mut deltas: Vec<(u64, PresenceDelta)> = by_id.into_values().collect();
        deltas.sort_by_key(|(seq, _)| *seq);
        deltas.into_iter().map(|(_, delta)| delta).collect()
    }

    /// Batches delivered on this instance only so far.
    pub(crate) fn local_only(&self) -> u64 {
        self.local_only.load(Ordering::Relaxed)
    }
}

/// Sends the queued changes of instance `own` to the subscribers of the cluster (through `io`),
/// one batch per [`WINDOW`] at most, until aborted. Full client buffers are counted in `drops`;
/// batches Redis could not take are told to `warnings`.
pub(crate) async fn run(
    batch: Arc<PresenceBatch>,
    io: Io,
    own: String,
    drops: Arc<Drops>,
    warnings: Arc<Warnings>,
) {
    loop {
        batch.ready.notified().await;
        tokio::time::sleep(WINDOW).await;
        let deltas = batch.take();
        if deltas.is_empty() {
            continue;
        }
        let failed = match io
            .to(PRESENCE_SUBSCRIBED)
            .emit(event::PRESENCE, &deltas)
            .await
        {
            Ok(()) => continue,
            Err(BroadcastError::Adapter(e)) => {
                warnings.warn("presence batch not published, delivering here only", &e);
                batch.local_only.fetch_add(1, Ordering::Relaxed);
                io.local()
                    .to(PRESENCE_SUBSCRIBED)
                    .emit(event::PRESENCE, &deltas)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = failed {
            drops.count_error(&own, true, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use gridcast_shared::presence::{Member, PresenceDelta};

    use super::PresenceBatch;

    fn upsert(id: &str, name: &str) -> PresenceDelta {
        PresenceDelta::Upsert {
            member: Member {
                id: id.into(),
                instance: "i".into(),
                instance_url: "http://i".into(),
                name: name.into(),
                since: 0,
                rooms: vec![],
            },
        }
    }

    fn leave(id: &str) -> PresenceDelta {
        PresenceDelta::Leave {
            id: id.into(),
            instance: Some("i".into()),
        }
    }

    #[test]
    fn a_later_change_of_a_member_replaces_the_earlier_one_order_kept() {
        let batch = PresenceBatch::default();
        batch.push(upsert("a", "one"));
        batch.push(upsert("b", "bee"));
        batch.push(upsert("a", "two"));
        batch.push(leave("b"));
        batch.push(upsert("c", "sea"));
        assert_eq!(
            batch.take(),
            vec![upsert("a", "two"), leave("b"), upsert("c", "sea")]
        );
        assert!(batch.take().is_empty());
    }
}
