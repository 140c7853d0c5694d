//! Live delivery on one instance: where it stands in the history ([`Cursor`]), and emitting a
//! broadcast to the local sockets it targets while buffering it for attaching ones.
//!
//! Invariant: the cursor lock is held while a broadcast is delivered and while a socket starts or
//! ends attaching, so every broadcast is either emitted to a socket or buffered for it, never
//! both and never neither. Sockets in [`ATTACHING`] are skipped by live delivery.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use gridcast_shared::{
    event,
    recovery::{Offset, OutboxMark, StreamId},
};
use socketioxide::socket::Sid;
use tokio::sync::{Mutex, MutexGuard};

use super::{
    counters::HubCounters,
    recent::RecentIds,
    record::{Payload, Ready, Target},
};
use crate::{
    drops::Drops,
    redis::adapter::Io,
    rooms::{ATTACHING, own_room, room_key},
};

/// Entries buffered for one attaching socket before the oldest are dropped (and counted). The
/// buffers share each entry, so attaching sockets cost a pointer per entry each.
const ATTACH_BUFFER: usize = 16 * 1024;

/// How long a socket may take from its CONNECT to the end of its replay before its buffer is
/// given up (it died in between).
const ATTACH_LIMIT: Duration = Duration::from_secs(60);

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
    /// Deliveries buffered for attaching sockets, and since when each attaches.
    pub(super) attaching: HashMap<Sid, (Instant, VecDeque<Arc<Ready>>)>,
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

/// Live delivery of one instance: its cursor and what it counts.
#[derive(Debug)]
pub(super) struct Live {
    /// The instance's id.
    pub(super) own: String,
    cursor: Mutex<Cursor>,
    pub(super) counters: HubCounters,
    pub(super) drops: Arc<Drops>,
}

impl Live {
    pub(super) fn new(own: String, drops: Arc<Drops>) -> Self {
        Self {
            own,
            cursor: Mutex::default(),
            counters: HubCounters::default(),
            drops,
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
            .retain(|_, (since, _)| since.elapsed() < ATTACH_LIMIT);
        // One copy, shared by every attaching socket's buffer.
        let ready = Arc::new(ready);
        for (_, buffer) in cursor.attaching.values_mut() {
            if buffer.len() == ATTACH_BUFFER {
                buffer.pop_front();
                self.counters.attach_dropped.fetch_add(1, Ordering::Relaxed);
            }
            buffer.push_back(ready.clone());
        }
        let ops = io.local().except(ATTACHING);
        let ops = match &ready.target {
            Target::All => ops,
            Target::Room(room) => ops.to(room_key(room)),
            Target::Direct { to, from } => ops.to([own_room(to), own_room(from)]),
        };
        let sent = match &ready.payload {
            Payload::Message(text, meta) => ops.emit(event::MESSAGE, &(text, meta)).await,
            Payload::Routed(event, routed) => ops.emit(event, routed).await,
        };
        if let Err(e) = sent {
            self.drops
                .count_error(&self.own, ready.origin == self.own, e);
        }
    }
}
