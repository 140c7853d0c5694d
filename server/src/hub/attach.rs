//! Attaching a socket that connects: the replay of what it missed (when it comes back with an
//! offset), then what live delivery buffered for it meanwhile, then `welcome`, then live delivery.
//!
//! Invariants:
//! - *No entry missed or sent twice between replay and live.* Under the cursor lock, the socket
//!   joins its rooms and [`ATTACHING`] and the reader's position `P` is noted ([`begin`]); the
//!   replay is the history after the client's offset up to `P`; live delivery buffers every
//!   entry after `P` for the socket ([`super::live::Buffer`]), and the socket leaves
//!   [`ATTACHING`] under the lock again, once its buffer is empty. A full buffer drops its
//!   oldest entries and says from where to read the history instead, so a slow replay costs a
//!   re-read, not a gap.
//! - *Flow-controlled, in pages.* The replay reads the history a page at a time (on the history's
//!   bulk connection, never the one holding the pub/sub subscriptions) and hands each message to
//!   the socket only when its buffer has room ([`super::pace`]): memory per replay is one page,
//!   whatever the gap. At most `--max-replays` run at once per instance ([`super::slots`]).
//! - *`recovered: true` means delivered.* `welcome`, with the outcome, is the last packet of
//!   attaching, sent once every replayed message was handed to the transport. A client too slow
//!   for its replay (buffer full for [`STALL`], or attaching past [`ATTACH_LIMIT`]) is told so
//!   (`too_slow`, when a `welcome` fits) and disconnected, never live with a hole; it resumes
//!   from its last offset when it reconnects.

use std::{
    collections::HashSet,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use gridcast_shared::{
    Welcome, event,
    message::ReplayWaiting,
    recovery::{Offset, Recovery, RecoveryFailure, StreamId},
};
use socketioxide::{extract::SocketRef, socket::Sid};

use super::{
    live::{Buffer, Live},
    pace::{self, Backoff, Pacer, STALL, Stop},
    record::Ready,
    slots::{Budget, Entry, Slots},
};
use crate::{
    redis::{adapter::ClusterAdapter, history::History, link::LinkError},
    rooms::ATTACHING,
};

/// Entries one replay page takes from the history: small, so that many replays starting at once
/// do not hold Redis (single-threaded) up for everyone else.
const PAGE: u64 = 32;

/// How long attaching may take, from the replay slot to `welcome`: a client that reads, but more
/// slowly than live traffic arrives, would otherwise never catch up.
pub(super) const ATTACH_LIMIT: Duration = Duration::from_secs(60);

/// A socket between [`begin`] and [`attach`]: where live delivery stood when it joined.
#[derive(Debug, Clone)]
pub(crate) struct Attaching {
    at: StreamId,
}

impl Attaching {
    /// Where live delivery stood when the socket started attaching.
    pub(crate) fn at(&self) -> StreamId {
        self.at
    }
}

/// How attaching ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attached {
    /// `welcome` sent; the socket gets live deliveries.
    Live,
    /// The socket went away first.
    Gone,
    /// The client took its replay too slowly and was disconnected.
    TooSlow,
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
    let at = cursor.at;
    cursor.attaching.insert(socket.id, Buffer::new(at));
    Attaching { at }
}

/// What one attach needs to reach: the parts of the hub it reads.
pub(super) struct Parts<'a> {
    pub(super) live: &'a Live,
    pub(super) history: &'a History,
    pub(super) slots: &'a Slots,
    pub(super) budget: &'a Budget,
    /// Message ids the client has although their entries follow its offset (skipped as seen).
    pub(super) had: Vec<String>,
}

/// The socket being attached and who it is.
pub(super) struct Client<'a, R: Fn() -> Vec<(String, StreamId)>> {
    pub(super) socket: &'a SocketRef<ClusterAdapter>,
    /// The offset it came back with, if any (a well-formed one).
    pub(super) offset: Option<&'a Offset>,
    /// Its public id.
    pub(super) id: &'a str,
    /// Its user (a token's `sub`, with `--auth jwt`).
    pub(super) user: Option<&'a str>,
    /// Its rooms now (user-facing names), each with where the history stood when it joined.
    pub(super) rooms: R,
}

/// What has been handed to the socket so far.
struct Progress<'a> {
    /// The last history entry sent (or known to be before the client's offset).
    from: StreamId,
    /// Message ids sent, against entries written twice.
    seen: HashSet<String>,
    /// Messages replayed from the history.
    replayed: u64,
    /// Set when something could not be delivered: the recovery then fails with this.
    failure: Option<Recovery>,
    pacer: Pacer<'a>,
}

/// Replays what the client missed, drains what was buffered meanwhile, sends the `welcome` made
/// by `welcome` from the outcome (`None` when the client gave no offset), and joins live
/// delivery.
pub(super) async fn attach<R: Fn() -> Vec<(String, StreamId)>>(
    parts: Parts<'_>,
    client: Client<'_, R>,
    attaching: Attaching,
    welcome: impl Fn(Option<Recovery>) -> Welcome,
) -> Attached {
    let Parts {
        live,
        history,
        slots,
        budget,
        had,
    } = parts;
    let mut progress = Progress {
        from: attaching.at,
        seen: had.into_iter().collect(),
        replayed: 0,
        failure: None,
        pacer: Pacer::new(budget),
    };
    // Held until `welcome` has gone.
    let mut _slot = None;
    if let Some(offset) = client.offset {
        _slot = Some(match slots.enter() {
            Entry::Now(slot) => slot,
            Entry::Wait { ahead } => {
                live.counters.replays_queued.fetch_add(1, Ordering::Relaxed);
                let _ = client
                    .socket
                    .emit(event::REPLAY_WAITING, &ReplayWaiting { ahead });
                slots.wait().await
            }
        });
        if !client.socket.connected() {
            return forget(live, client.socket.id).await;
        }
        match start(history, offset, attaching.at).await {
            Ok(upto) => {
                progress.from = offset.at;
                match replay(history, &client, &mut progress, upto).await {
                    Ok(()) => {}
                    Err(Failed::Stop(stop)) => {
                        return give_up(live, &client, stop, &progress, &welcome).await;
                    }
                    Err(Failed::Unavailable(e)) => {
                        progress.failure = Some(unavailable(&e, progress.replayed));
                        progress.from = attaching.at;
                    }
                }
            }
            Err(mut failure) => {
                if failure.reason == Some(RecoveryFailure::Expired) {
                    // What the history still holds of what it missed is missed too.
                    failure.missed_at_least =
                        count(history, &client, offset.at, attaching.at).await.ok();
                }
                progress.failure = Some(failure);
            }
        }
        if progress.failure.is_some() {
            live.counters.unrecovered.fetch_add(1, Ordering::Relaxed);
        }
    }
    let started = Instant::now();
    let mut packet: Option<Welcome> = None;
    let mut backoff = Backoff::new();
    loop {
        if started
            .elapsed()
            .saturating_sub(progress.pacer.budget_waits)
            > ATTACH_LIMIT
        {
            return give_up(live, &client, Stop::Stalled, &progress, &welcome).await;
        }
        let mut cursor = live.lock().await;
        let Some(buffer) = cursor.attaching.get_mut(&client.socket.id) else {
            // Given up by live delivery: the socket died long ago.
            return Attached::Gone;
        };
        if buffer.lost_unwritten > 0 {
            let lost = std::mem::take(&mut buffer.lost_unwritten);
            let missed = progress
                .failure
                .get_or_insert_with(|| {
                    Recovery::failed(
                        RecoveryFailure::TooSlow,
                        "messages this instance delivered while Redis was away came faster \
                         than your connection took them, and could not be kept for you",
                    )
                })
                .missed_at_least
                .get_or_insert(0);
            *missed += lost;
        }
        if buffer.from > progress.from {
            // Entries were dropped from the full buffer: they are in the history.
            let upto = buffer.from;
            drop(cursor);
            match replay(history, &client, &mut progress, upto).await {
                Ok(()) => {}
                Err(Failed::Stop(stop)) => {
                    return give_up(live, &client, stop, &progress, &welcome).await;
                }
                Err(Failed::Unavailable(e)) => {
                    progress.failure = Some(unavailable(&e, progress.replayed));
                    progress.from = upto;
                }
            }
            continue;
        }
        if buffer.entries.is_empty() {
            // The last packet of attaching, under the lock: live delivery starts right after.
            let hello = packet.get_or_insert_with(|| {
                let outcome = client.offset.map(|_| match progress.failure.take() {
                    Some(failure) => failure,
                    None => {
                        live.counters
                            .replayed
                            .fetch_add(progress.replayed, Ordering::Relaxed);
                        Recovery::recovered(progress.replayed)
                    }
                });
                welcome(outcome)
            });
            match client.socket.emit(event::WELCOME, &*hello) {
                Ok(()) => {
                    cursor.attaching.remove(&client.socket.id);
                    client.socket.leave(ATTACHING);
                    return Attached::Live;
                }
                Err(e) => {
                    drop(cursor);
                    if let Err(stop) = pace::full(e) {
                        return give_up(live, &client, stop, &progress, &welcome).await;
                    }
                    if let Err(stop) = backoff.wait().await {
                        return give_up(live, &client, stop, &progress, &welcome).await;
                    }
                    continue;
                }
            }
        }
        let batch = std::mem::take(&mut buffer.entries);
        drop(cursor);
        backoff = Backoff::new();
        let rooms = (client.rooms)();
        for ready in batch {
            let had = client
                .offset
                .is_some_and(|o| o.covers(&ready.origin, ready.outbox_seq))
                || ready.id.is_some_and(|at| at <= progress.from)
                || !ready
                    .target
                    .reaches((client.id, client.user), &rooms, ready.id);
            if had || !progress.seen.insert(ready.payload.meta().id.clone()) {
                continue;
            }
            if let Err(stop) = progress
                .pacer
                .send(client.socket, ready.wire_bytes(), || {
                    ready.emit_to(client.socket)
                })
                .await
            {
                return give_up(live, &client, stop, &progress, &welcome).await;
            }
            if let Some(at) = ready.id {
                progress.from = at;
            }
        }
    }
}

/// Where the replay of a client with `offset` ends (the history's end now), or why there is none.
async fn start(
    history: &History,
    offset: &Offset,
    attached_at: StreamId,
) -> Result<StreamId, Recovery> {
    let known = offset.at == StreamId::ZERO
        || history
            .contains(offset.at)
            .await
            .map_err(|e| unavailable(&e, 0))?;
    // The replay ends where the history ends now, not where this instance's reader is: the
    // reader may lag (or the client come from an instance that was ahead), and what it has not
    // read yet would reach the client only after its `welcome` had counted the replay. What the
    // buffer also gets of it is skipped there (at or before what was replayed).
    let last = history.last_id().await.map_err(|e| unavailable(&e, 0))?;
    let upto = attached_at.max(last);
    if known {
        return Ok(upto);
    }
    let first = history.first_id().await.map_err(|e| unavailable(&e, 0))?;
    if offset.at > upto || first.is_some_and(|first| offset.at >= first) {
        return Err(Recovery::failed(
            RecoveryFailure::UnknownOffset,
            format!("offset {offset} is not in this cluster's history"),
        ));
    }
    let (max_len, max_age) = history.bounds();
    Err(Recovery::failed(
        RecoveryFailure::Expired,
        format!(
            "offset {offset} is older than the history kept (at most {max_len} messages, {} s); \
             what was sent before is lost for this client",
            max_age.as_secs()
        ),
    ))
}

/// Why a replay stopped early.
enum Failed {
    /// The socket is gone or too slow.
    Stop(Stop),
    /// The history could not be read.
    Unavailable(LinkError),
}

/// Sends the client what the history holds after `progress.from` up to `upto` and reaches it,
/// a page at a time, each message as soon as the socket has room.
async fn replay<R: Fn() -> Vec<(String, StreamId)>>(
    history: &History,
    client: &Client<'_, R>,
    progress: &mut Progress<'_>,
    upto: StreamId,
) -> Result<(), Failed> {
    let mark = client.offset.and_then(|o| o.mark.clone());
    loop {
        let page = history
            .range(progress.from, upto, PAGE)
            .await
            .map_err(Failed::Unavailable)?;
        // Full as read, unreadable entries included: a page they shortened is not the last.
        let full = page.read as u64 == PAGE;
        let rooms = (client.rooms)();
        for stored in page.entries {
            progress.from = stored.id;
            if client
                .offset
                .is_some_and(|o| o.covers(&stored.record.origin, stored.record.outbox_seq))
                || !progress.seen.insert(stored.record.message_id.clone())
            {
                continue;
            }
            let Some(ready) = Ready::from_stored(&stored) else {
                continue;
            };
            if !ready
                .target
                .reaches((client.id, client.user), &rooms, Some(stored.id))
            {
                continue;
            }
            let ready = ready.with_offset(Some(Offset {
                at: stored.id,
                mark: mark.clone(),
            }));
            progress
                .pacer
                .send(client.socket, ready.wire_bytes(), || {
                    ready.emit_to(client.socket)
                })
                .await
                .map_err(Failed::Stop)?;
            progress.replayed += 1;
        }
        // Past unreadable entries at the page's end too.
        if let Some(last) = page.last {
            progress.from = last;
        }
        if !full {
            return Ok(());
        }
    }
}

/// How many entries after `after` up to `upto` would reach the client: read a page at a time,
/// sent nowhere.
async fn count<R: Fn() -> Vec<(String, StreamId)>>(
    history: &History,
    client: &Client<'_, R>,
    mut after: StreamId,
    upto: StreamId,
) -> Result<u64, LinkError> {
    let rooms = (client.rooms)();
    let mut reaching = 0;
    loop {
        let page = history.range(after, upto, PAGE).await?;
        let full = page.read as u64 == PAGE;
        if let Some(last) = page.last {
            after = last;
        }
        for stored in page.entries {
            if Ready::from_stored(&stored).is_some_and(|r| {
                r.target
                    .reaches((client.id, client.user), &rooms, Some(stored.id))
            }) {
                reaching += 1;
            }
        }
        if !full {
            return Ok(reaching);
        }
    }
}

fn unavailable(e: &LinkError, sent: u64) -> Recovery {
    Recovery::failed(
        RecoveryFailure::HistoryUnavailable,
        format!(
            "the history cannot be read right now ({e}); {sent} messages since your offset were \
             replayed, the rest are not"
        ),
    )
}

/// Ends an attach that cannot finish: tells the client why in its `welcome` (`too_slow`) when one
/// still fits in its buffer, and disconnects it; it stays out of live delivery (in
/// [`ATTACHING`]) until it is gone, so it never receives anything after the hole.
async fn give_up<R: Fn() -> Vec<(String, StreamId)>>(
    live: &Live,
    client: &Client<'_, R>,
    stop: Stop,
    progress: &Progress<'_>,
    welcome: &impl Fn(Option<Recovery>) -> Welcome,
) -> Attached {
    forget(live, client.socket.id).await;
    if stop == Stop::Gone {
        return Attached::Gone;
    }
    live.counters.replay_stalled.fetch_add(1, Ordering::Relaxed);
    let recovery = Recovery::failed(
        RecoveryFailure::TooSlow,
        format!(
            "your connection took its replay too slowly (nothing read for {} s, or not caught up \
             within {} s); {} messages were replayed; reconnect with the last offset you \
             received to get the rest",
            STALL.as_secs(),
            ATTACH_LIMIT.as_secs(),
            progress.replayed
        ),
    );
    // Once there is room (the client may read again), the `welcome` saying so, then the
    // disconnect; until then the socket stays out of live delivery. Apart from this attach, which
    // gives its replay slot back now.
    let (socket, hello) = (client.socket.clone(), welcome(Some(recovery)));
    tokio::spawn(async move {
        let mut backoff = Backoff::new();
        while let Err(e) = socket.emit(event::WELCOME, &hello) {
            if pace::full(e).is_err() || backoff.wait().await.is_err() {
                break;
            }
        }
        // Its packets still buffered may never leave, and the disconnect packet must queue
        // behind them; the heartbeat closes a client that reads nothing at all.
        while socket.clone().disconnect().is_err() && socket.connected() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Attached::TooSlow
}

/// Forgets an attaching socket that went away.
pub(super) async fn forget(live: &Live, sid: Sid) -> Attached {
    live.lock().await.attaching.remove(&sid);
    Attached::Gone
}
