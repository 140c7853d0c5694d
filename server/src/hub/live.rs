//! Live delivery on one instance: where it stands in the history ([`Cursor`]), and emitting a
//! broadcast to the local sockets it targets while buffering it for attaching ones.
//!
//! Invariant: the cursor lock is held while a broadcast is delivered and while a socket starts or
//! ends attaching, so every broadcast is either emitted to a socket or buffered for it, never
//! both and never neither. Sockets in [`ATTACHING`] are skipped by live delivery. A full buffer
//! drops its oldest entry but records where the history must be read from instead
//! ([`Buffer::from`]), so a slow attach costs a re-read, never a gap.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use gridcast_shared::recovery::{Offset, OutboxMark, StreamId};
use socketioxide::socket::Sid;
use tokio::sync::{Mutex, MutexGuard, Notify};

use super::{
    counters::HubCounters,
    recent::RecentIds,
    record::{Args, Ready, Target},
};
use crate::{
    drops::Drops,
    redis::adapter::Io,
    rooms::{ATTACHING, own_room, room_key, user_room},
};

/// Entries buffered for one attaching socket before the oldest are dropped: the attaching side
/// then reads what was dropped from the history instead ([`Buffer::from`]). The buffers share
/// each entry, so an attaching socket costs a pointer per entry.
const ATTACH_BUFFER: usize = 4096;

/// How long a buffer is kept after its socket started attaching: longer than any attach may take
/// (`super::attach::ATTACH_LIMIT`), so only the buffers of sockets that died in between go.
const BUFFER_LIMIT: Duration = Duration::from_secs(120);

/// What live delivery kept for one attaching socket: every entry after `from`, in order.
#[derive(Debug)]
pub(super) struct Buffer {
    since: Instant,
    /// Every history entry after this one is in `entries` (or was sent by the attaching side).
    /// Dropping the oldest entry of a full buffer moves it forward.
    pub(super) from: StreamId,
    pub(super) entries: VecDeque<Arc<Ready>>,
    /// Entries dropped that the history cannot give back yet: this instance's own outbox entries,
    /// delivered during an outage and not written.
    pub(super) lost_unwritten: u64,
}

impl Buffer {
    pub(super) fn new(from: StreamId) -> Self {
        Self {
            since: Instant::now(),
            from,
            entries: VecDeque::new(),
            lost_unwritten: 0,
        }
    }
}

/// Where live delivery stands on this instance. Held (briefly) by the reader per batch, by the
/// outage path per message, and by attaching sockets twice.
#[derive(Debug, Default)]
pub(super) struct Cursor {
    /// The last history entry delivered.
    pub(super) at: StreamId,
    /// Outbox messages delivered locally so far (the outbox number of the last one).
    pub(super) own_delivered: u64,
    /// The highest outbox number read back from the history.
    pub(super) own_read: u64,
    /// Deliveries buffered for attaching sockets.
    pub(super) attaching: HashMap<Sid, Buffer>,
    /// Message ids delivered lately.
    pub(super) recent: RecentIds,
}

impl Cursor {
    /// The offset a client holds after the entry `at`, delivered live on instance `own`.
    pub(super) fn live_offset(&self, at: StreamId, own: &str) -> Offset {
        Offset {
            at,
            mark: (self.own_delivered > self.own_read).then(|| OutboxMark {
                instance: own.to_owned(),
                count: self.own_delivered,
            }),
        }
    }
}

/// How long a broadcast delivered here from the outbox waits for this instance's reader to
/// deliver the broadcasts this instance appended before it ([`Live::await_own_appends`]).
pub(super) const OWN_APPENDS_WAIT: Duration = Duration::from_secs(3);

/// A stream id as one ordered number: the milliseconds shifted left 16 bits, the sequence capped
/// at 65,535 (two ids of one millisecond past that compare equal).
fn pack(id: StreamId) -> u64 {
    (id.ms << 16) | id.seq.min(0xFFFF)
}

/// Live delivery of one instance: its cursor and what it counts.
#[derive(Debug)]
pub(super) struct Live {
    /// The instance's id.
    pub(super) own: String,
    cursor: Mutex<Cursor>,
    pub(super) counters: HubCounters,
    pub(super) drops: Arc<Drops>,
    /// The newest entry this instance appended ([`pack`]ed).
    appended: AtomicU64,
    /// The newest of those the outbox stopped waiting for ([`pack`]ed).
    given_up: AtomicU64,
    /// Notified each time the reader delivered a batch.
    advanced: Notify,
}

impl Live {
    pub(super) fn new(own: String, drops: Arc<Drops>) -> Self {
        Self {
            own,
            cursor: Mutex::default(),
            counters: HubCounters::default(),
            drops,
            appended: AtomicU64::new(0),
            given_up: AtomicU64::new(0),
            advanced: Notify::new(),
        }
    }

    /// Notes an entry this instance appended, at `id`.
    pub(super) fn appended(&self, id: StreamId) {
        self.appended.fetch_max(pack(id), Ordering::Relaxed);
    }

    /// Says that the reader delivered a batch.
    pub(super) fn advanced(&self) {
        self.advanced.notify_waiters();
    }

    /// Waits until the reader has delivered every entry this instance appended, for up to
    /// [`OWN_APPENDS_WAIT`] (once per newest entry: after that, the next broadcast does not wait
    /// for it again). A broadcast delivered here from the outbox calls it first. When Redis
    /// stalls just after answering an append, the reader (stalled too) has not delivered that
    /// entry yet, and the same socket's next messages went to the outbox and reached this
    /// instance's clients before it (a review: 8 of 27 runs with 1 to 3 s stalls, e.g. 38, 39,
    /// 40, 30, 41). Bounded, because a Redis that died may never give those entries back.
    pub(super) async fn await_own_appends(&self) -> bool {
        let target = self.appended.load(Ordering::Relaxed);
        if target <= self.given_up.load(Ordering::Relaxed) {
            return true;
        }
        let deadline = tokio::time::Instant::now() + OWN_APPENDS_WAIT;
        loop {
            let advanced = self.advanced.notified();
            tokio::pin!(advanced);
            advanced.as_mut().enable();
            if pack(self.lock().await.at) >= target {
                return true;
            }
            if tokio::time::timeout_at(deadline, advanced).await.is_err() {
                self.given_up.fetch_max(target, Ordering::Relaxed);
                return false;
            }
        }
    }

    /// The cursor, locked.
    pub(super) async fn lock(&self) -> MutexGuard<'_, Cursor> {
        self.cursor.lock().await
    }

    /// Counts an entry written twice and delivered once.
    pub(super) fn skip_duplicate(&self) {
        self.counters
            .duplicates_skipped
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Emits `ready` to the live sockets it targets and buffers it for attaching ones.
    pub(super) async fn deliver(&self, io: &Io, cursor: &mut Cursor, ready: Ready) {
        // A connection that died between the connect middleware and its handler never finishes.
        cursor
            .attaching
            .retain(|_, buffer| buffer.since.elapsed() < BUFFER_LIMIT);
        // One copy, shared by every attaching socket's buffer.
        let ready = Arc::new(ready);
        for buffer in cursor.attaching.values_mut() {
            if buffer.entries.len() == ATTACH_BUFFER
                && let Some(dropped) = buffer.entries.pop_front()
            {
                match dropped.id {
                    Some(id) => buffer.from = id,
                    None => {
                        buffer.lost_unwritten += 1;
                        self.counters.attach_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            buffer.entries.push_back(ready.clone());
        }
        let ops = io.local().except(ATTACHING);
        let ops = match &ready.target {
            Target::All => ops,
            Target::Room(room) => ops.to(room_key(room)),
            Target::Direct { to, from } => ops.to([own_room(to), own_room(from)]),
            Target::User { to, from } => ops.to([user_room(to), own_room(from)]),
        };
        let sent = ops.emit(ready.payload.event(), &Args(&ready.payload)).await;
        if let Err(e) = sent {
            self.drops
                .count_error(&self.own, ready.origin == self.own, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Arc<Live> {
        Arc::new(Live::new("own".into(), Arc::default()))
    }

    const APPENDED: StreamId = StreamId { ms: 1000, seq: 3 };

    #[tokio::test(start_paused = true)]
    async fn the_outbox_waits_until_the_reader_delivered_what_this_instance_appended() {
        let live = live();
        // Nothing appended: no wait.
        assert!(live.await_own_appends().await);
        live.appended(APPENDED);
        let waiting = tokio::spawn({
            let live = live.clone();
            async move { live.await_own_appends().await }
        });
        // The reader delivers up to just before it: still waiting.
        tokio::time::sleep(Duration::from_millis(100)).await;
        live.lock().await.at = StreamId { ms: 1000, seq: 2 };
        live.advanced();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished());
        live.lock().await.at = APPENDED;
        live.advanced();
        assert!(waiting.await.unwrap(), "it was delivered");
    }

    #[tokio::test(start_paused = true)]
    async fn the_outbox_gives_up_on_an_append_the_reader_never_delivers_once() {
        let live = live();
        live.appended(APPENDED);
        let started = tokio::time::Instant::now();
        assert!(!live.await_own_appends().await);
        assert_eq!(started.elapsed(), OWN_APPENDS_WAIT);
        // The next broadcast does not wait for it again, but does for a newer one.
        assert!(live.await_own_appends().await);
        assert_eq!(started.elapsed(), OWN_APPENDS_WAIT);
        live.appended(StreamId { ms: 2000, seq: 0 });
        assert!(!live.await_own_appends().await);
        assert_eq!(started.elapsed(), OWN_APPENDS_WAIT * 2);
    }

    #[test]
    fn packed_ids_keep_their_order() {
        let ids = [
            (0, 0),
            (1, 0),
            (1, 1),
            (1, 65_534),
            (2, 0),
            (1_800_000_000_000, 7),
        ];
        for pair in ids.windows(2) {
            let [(a_ms, a_seq), (b_ms, b_seq)] = [pair[0], pair[1]];
            let a = StreamId {
                ms: a_ms,
                seq: a_seq,
            };
            let b = StreamId {
                ms: b_ms,
                seq: b_seq,
            };
            assert!(pack(a) < pack(b), "{a} before {b}");
        }
    }
}
