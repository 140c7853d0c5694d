//! Attaching a socket that connects: its replay (what it missed, when it comes back with an
//! offset), then what live delivery buffered for it meanwhile, then live delivery.
//!
//! Invariant: under the cursor lock, the socket joins its rooms and [`ATTACHING`] and the
//! reader's position `P` is noted ([`begin`]); the replay is the history after the client's offset
//! up to `P` ([`plan`]); then the buffer (entries after `P`) is drained and the socket leaves
//! [`ATTACHING`], under the lock again ([`finish`]). Every entry is before or after `P`, so none
//! is missed or sent twice between replay and live.

use std::{
    collections::{HashSet, VecDeque},
    sync::atomic::Ordering,
    time::Duration,
};

use gridcast_shared::recovery::{Offset, Recovery, RecoveryFailure, StreamId};
use socketioxide::{extract::SocketRef, socket::Sid};

use super::{live::Live, record::Ready};
use crate::{
    redis::{adapter::ClusterAdapter, history::History, link::LinkError},
    rooms::ATTACHING,
};

/// Entries one replay page takes from the history.
const PAGE: u64 = 512;

/// How long a replay waits for this instance's reader to reach a client's offset (when the
/// client comes from an instance that was ahead).
const CATCH_UP: Duration = Duration::from_secs(3);

/// A socket between [`begin`] and [`finish`]: where live delivery stood when it joined.
#[derive(Debug, Clone)]
pub(crate) struct Attaching {
    at: StreamId,
}

/// First step of a connect (in the connect middleware, before the socket can receive
/// anything): under the cursor lock, the socket joins `rooms` (already prefixed) and
/// [`ATTACHING`], and its buffer opens. Returns where live delivery stood.
pub(super) async fn begin(
    live: &Live,
    socket: &SocketRef<ClusterAdapter>,
    rooms: Vec<String>,
) -> Attaching {
    let mut cursor = live.lock().await;
    socket.join(ATTACHING);
    socket.join(rooms);
    cursor
        .attaching
        .insert(socket.id, (std::time::Instant::now(), VecDeque::new()));
    Attaching { at: cursor.at }
}

/// Second step: what a client with `offset` (public id `id`, in `rooms`) missed up to where
/// live delivery stood, and how the recovery went.
pub(super) async fn plan(
    live: &Live,
    history: &History,
    attaching: &Attaching,
    offset: &Offset,
    id: &str,
    rooms: &[String],
) -> (Recovery, Vec<Ready>) {
    let unavailable = |e: LinkError| {
        (
            Recovery::failed(
                RecoveryFailure::HistoryUnavailable,
                format!(
                    "the history cannot be read right now ({e}); messages since your offset are not replayed"
                ),
            ),
            Vec::new(),
        )
    };
    let known = offset.at == StreamId::ZERO
        || match history.contains(offset.at).await {
            Ok(known) => known,
            Err(e) => return unavailable(e),
        };
    let mut upto = attaching.at;
    if known && offset.at > upto {
        // The client comes from an instance that was ahead of this one: wait for the reader.
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        loop {
            upto = live.lock().await.at;
            if upto >= offset.at || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let mut seen = HashSet::new();
    let mut replay = Vec::new();
    let mut from = offset.at;
    loop {
        let page = match history.range(from, upto, PAGE).await {
            Ok(page) => page,
            Err(e) => return unavailable(e),
        };
        let full = page.len() as u64 == PAGE;
        for stored in page {
            from = stored.id;
            if offset.covers(&stored.record.origin, stored.record.outbox_seq)
                || !seen.insert(stored.record.message_id.clone())
            {
                continue;
            }
            if let Some(ready) = Ready::from_stored(&stored)
                && ready.target.reaches(id, rooms)
            {
                let at = Offset {
                    at: stored.id,
                    mark: offset.mark.clone(),
                };
                replay.push(ready.with_offset(Some(at)));
            }
        }
        if !full {
            break;
        }
    }
    let counters = &live.counters;
    if known && offset.at <= upto {
        counters
            .replayed
            .fetch_add(replay.len() as u64, Ordering::Relaxed);
        return (Recovery::recovered(replay.len() as u64), replay);
    }
    counters.unrecovered.fetch_add(1, Ordering::Relaxed);
    let first = match history.first_id().await {
        Ok(first) => first,
        Err(e) => return unavailable(e),
    };
    if offset.at > upto || first.is_some_and(|first| offset.at >= first) {
        let recovery = Recovery::failed(
            RecoveryFailure::UnknownOffset,
            format!("offset {offset} is not in this cluster's history"),
        );
        return (recovery, Vec::new());
    }
    let (max_len, max_age) = history.bounds();
    let mut recovery = Recovery::failed(
        RecoveryFailure::Expired,
        format!(
            "offset {offset} is older than the history kept (at most {max_len} messages, {} s); what was sent before is lost for this client",
            max_age.as_secs()
        ),
    );
    recovery.missed_at_least = Some(replay.len() as u64);
    (recovery, Vec::new())
}

/// Last step: sends `replay`, then what was buffered meanwhile (for public id `id` in `rooms`,
/// after `offset` and not covered by its mark), and joins live delivery.
pub(super) async fn finish(
    live: &Live,
    socket: &SocketRef<ClusterAdapter>,
    replay: Vec<Ready>,
    offset: Option<&Offset>,
    id: &str,
    rooms: impl Fn() -> Vec<String>,
) {
    let mut seen: HashSet<String> = HashSet::new();
    for ready in replay {
        seen.insert(ready.payload.meta().id.clone());
        emit(live, socket, &ready);
    }
    let mut cursor = live.lock().await;
    let buffered = cursor
        .attaching
        .remove(&socket.id)
        .map(|(_, buffered)| buffered)
        .unwrap_or_default();
    let rooms = rooms();
    for ready in buffered {
        let had = offset.is_some_and(|o| {
            ready.id.is_some_and(|at| at <= o.at) || o.covers(&ready.origin, ready.outbox_seq)
        });
        if had || !ready.target.reaches(id, &rooms) || !seen.insert(ready.payload.meta().id.clone())
        {
            continue;
        }
        emit(live, socket, &ready);
    }
    socket.leave(ATTACHING);
}

/// Forgets an attaching socket that went away.
pub(super) async fn forget(live: &Live, sid: Sid) {
    live.lock().await.attaching.remove(&sid);
}

fn emit(live: &Live, socket: &SocketRef<ClusterAdapter>, ready: &Ready) {
    if !ready.emit_to(socket) {
        live.drops.count(ready.origin == live.own, 1);
    }
}
