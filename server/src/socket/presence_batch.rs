//! Presence changes, coalesced: the changes of one instance within [`WINDOW`] go out as one
//! `presence` event (an array of deltas), only to the sockets that asked for the presence list
//! (room [`SUBSCRIBED`]).
//!
//! Sending every change to every client at once made a connect storm quadratic: N clients
//! arriving together cost N² packets. Now each instance sends at most one batch per window to the
//! subscribers, and a later change of a member replaces an earlier one of the same window (a
//! connect then a rename is one upsert; a connect then a disconnect is one leave).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use gridcast_shared::{event, presence::PresenceDelta};
use tokio::sync::Notify;

use super::deliver::emit_cluster;
use crate::instance::{Instance, Io};

/// The room of the sockets that asked for the presence list and get its changes.
pub const SUBSCRIBED: &str = "~presence";

/// How long changes gather before they are sent together.
pub const WINDOW: Duration = Duration::from_millis(100);

/// The changes waiting to be sent, by public id, each with its order of arrival.
#[derive(Debug, Default)]
pub struct PresenceBatch {
    pending: Mutex<Pending>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct Pending {
    next: u64,
    by_id: HashMap<String, (u64, PresenceDelta)>,
}

fn id_of(delta: &PresenceDelta) -> &str {
    match delta {
        PresenceDelta::Upsert { member } => &member.id,
        PresenceDelta::Leave { id } => id,
    }
}

impl PresenceBatch {
    /// Queues `delta`, replacing a queued change of the same member.
    pub fn push(&self, delta: PresenceDelta) {
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
}

/// Sends `instance`'s queued changes, one batch per [`WINDOW`] at most, until aborted.
pub async fn run(io: Io, instance: Arc<Instance>) {
    let batch = instance.presence_batch();
    loop {
        batch.ready.notified().await;
        tokio::time::sleep(WINDOW).await;
        let deltas = batch.take();
        if deltas.is_empty() {
            continue;
        }
        emit_cluster(&instance, || io.to(SUBSCRIBED), event::PRESENCE, &deltas).await;
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

    #[test]
    fn a_later_change_of_a_member_replaces_the_earlier_one_order_kept() {
        let batch = PresenceBatch::default();
        batch.push(upsert("a", "one"));
        batch.push(upsert("b", "bee"));
        batch.push(upsert("a", "two"));
        batch.push(PresenceDelta::Leave { id: "b".into() });
        batch.push(upsert("c", "sea"));
        assert_eq!(
            batch.take(),
            vec![
                upsert("a", "two"),
                PresenceDelta::Leave { id: "b".into() },
                upsert("c", "sea")
            ]
        );
        assert!(batch.take().is_empty());
    }
}
