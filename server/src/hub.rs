//! Broadcasts a client can miss (`message`, `room_message`, `direct`): written to the cluster's
//! history, delivered from it in one order on every instance, replayed to clients that come back,
//! and kept in an outbox while Redis is away.
//!
//! **Transport.** A handler appends the broadcast to the history stream
//! ([`crate::redis::History`]); every instance's [`Hub::run_reader`] reads the stream in order
//! and delivers each entry to its own sockets, with the entry id as the message's offset. So
//! every client of the cluster gets broadcasts in the same order, and "everything up to offset
//! X" means the same on every instance, which is what makes replay exact.
//!
//! **Attaching.** A socket that connects is *attaching* until its `welcome` and its replay are
//! sent: live deliveries skip it (room [`ATTACHING`]) and are buffered for it instead. Under the
//! cursor lock, the socket joins its rooms and the reader's position `P` is noted; the replay is
//! the history after the client's offset up to `P`; then the buffer (entries after `P`) is
//! drained and the socket joins live delivery, again under the lock. No entry is missed or sent
//! twice between replay and live.
//!
//! **Outage.** When Redis cannot take a broadcast (known down, or the append fails), the origin
//! delivers it to its own sockets at once and queues it in its outbox; the flusher writes the
//! outbox to the history when Redis is back (with its outbox number `q`), other instances deliver
//! it then, and the origin's reader skips it. Offsets delivered meanwhile carry an outbox mark
//! (`<P>.<instance>.<n>`) so a replay does not send those messages again. A full outbox is
//! counted, and the sender told its message reaches this instance only.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use gridcast_shared::{
    Delivery, MessageMeta, event,
    presence::Routed,
    recovery::{Offset, OutboxMark, Recovery, RecoveryFailure, StreamId},
};
use socketioxide::{extract::SocketRef, socket::Sid};
use socketioxide_core::adapter::errors::BroadcastError;
use tokio::sync::Notify;

use crate::{
    instance::{ClusterAdapter, Io},
    redis::{History, LinkDriver, history::Record, history::Stored},
    socket::{
        deliver::full_buffers,
        presence::{own_room, room_key},
    },
};

/// The room of sockets whose replay is not finished: live deliveries skip them.
pub const ATTACHING: &str = "~attaching";

/// Entries one read or one replay page takes from the history.
const PAGE: u64 = 512;

/// Message ids remembered to drop a broadcast written twice (an append that timed out but
/// landed, then written again from the outbox).
const RECENT_IDS: usize = 16 * 1024;

/// Entries buffered for one attaching socket before the oldest are dropped (and counted). The
/// buffers share each entry, so attaching sockets cost a pointer per entry each.
const ATTACH_BUFFER: usize = 16 * 1024;

/// How long a socket may take from its CONNECT to the end of its replay before its buffer is
/// given up (it died in between).
const ATTACH_LIMIT: Duration = Duration::from_secs(60);

/// How long a replay waits for this instance's reader to reach a client's offset (when the
/// client comes from an instance that was ahead).
const CATCH_UP: Duration = Duration::from_secs(3);

/// Who a broadcast is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every client.
    All,
    /// The members of a room (its user-facing name).
    Room(String),
    /// One client and the sender (public ids).
    Direct {
        /// The recipient.
        to: String,
        /// The sender, who gets its own copy.
        from: String,
    },
}

impl Target {
    fn encode(&self) -> String {
        match self {
            Target::All => "*".into(),
            Target::Room(room) => format!("r:{room}"),
            Target::Direct { to, from } => format!("d:{to}:{from}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        if text == "*" {
            return Some(Target::All);
        }
        if let Some(room) = text.strip_prefix("r:") {
            return Some(Target::Room(room.to_owned()));
        }
        let (to, from) = text.strip_prefix("d:")?.split_once(':')?;
        Some(Target::Direct {
            to: to.to_owned(),
            from: from.to_owned(),
        })
    }

    /// Whether a socket with public id `id` in `rooms` gets it.
    fn reaches(&self, id: &str, rooms: &[String]) -> bool {
        match self {
            Target::All => true,
            Target::Room(room) => rooms.contains(room),
            Target::Direct { to, from } => to == id || from == id,
        }
    }
}

/// A broadcast's arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `message`: the plain string, then its metadata.
    Message(String, MessageMeta),
    /// `room_message` or `direct`: one object.
    Routed(&'static str, Routed),
}

impl Payload {
    fn event(&self) -> &'static str {
        match self {
            Payload::Message(..) => event::MESSAGE,
            Payload::Routed(event, _) => event,
        }
    }

    fn meta_mut(&mut self) -> &mut MessageMeta {
        match self {
            Payload::Message(_, meta) => meta,
            Payload::Routed(_, routed) => &mut routed.meta,
        }
    }

    fn meta(&self) -> &MessageMeta {
        match self {
            Payload::Message(_, meta) => meta,
            Payload::Routed(_, routed) => &routed.meta,
        }
    }

    fn encode(&self) -> String {
        match self {
            Payload::Message(text, meta) => serde_json::to_string(&(text, meta)),
            Payload::Routed(_, routed) => serde_json::to_string(routed),
        }
        .expect("payloads serialize")
    }

    fn decode(event: &str, json: &str) -> Option<Self> {
        match event {
            event::MESSAGE => {
                let (text, meta) = serde_json::from_str(json).ok()?;
                Some(Payload::Message(text, meta))
            }
            event::ROOM_MESSAGE => Some(Payload::Routed(
                event::ROOM_MESSAGE,
                serde_json::from_str(json).ok()?,
            )),
            event::DIRECT => Some(Payload::Routed(
                event::DIRECT,
                serde_json::from_str(json).ok()?,
            )),
            _ => None,
        }
    }
}

/// A broadcast ready to emit: where it goes and what it carries (its offset set).
#[derive(Debug, Clone)]
pub struct Ready {
    id: Option<StreamId>,
    origin: String,
    outbox_seq: Option<u64>,
    target: Target,
    payload: Payload,
}

impl Ready {
    fn from_stored(stored: &Stored) -> Option<Self> {
        Some(Ready {
            id: Some(stored.id),
            origin: stored.record.origin.clone(),
            outbox_seq: stored.record.outbox_seq,
            target: Target::decode(&stored.record.target)?,
            payload: Payload::decode(&stored.record.event, &stored.record.payload)?,
        })
    }

    fn with_offset(mut self, offset: Option<Offset>) -> Self {
        self.payload.meta_mut().offset = offset;
        self
    }
}

/// Bounded set of recently delivered message ids, one allocation per id (shared by the set and
/// the order). Left to grow by itself, the full table doubles after about 150,000 more ids of a
/// steady stream (removals leave tombstones; once they use up the spare slots, a table more than
/// half full grows instead of rehashing in place): a heap profile of a soak showed that as a
/// 1.7 MB step in RSS three minutes in. So the first time it is full, the table is made large
/// enough to stay at most half full; a quiet instance never pays for that size.
#[derive(Debug, Default)]
struct RecentIds {
    order: VecDeque<Arc<str>>,
    set: HashSet<Arc<str>>,
    /// Whether the table has its final size.
    sized: bool,
}

impl RecentIds {
    /// Records `id`; false when it was already there.
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == RECENT_IDS {
            if !self.sized {
                self.set.reserve(RECENT_IDS);
                self.sized = true;
            }
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        let id: Arc<str> = Arc::from(id);
        self.order.push_back(id.clone());
        self.set.insert(id);
        true
    }
}

/// Where live delivery stands on this instance. Held (briefly) by the reader per batch, by the
/// outage path per message, and by attaching sockets twice.
#[derive(Debug, Default)]
struct Cursor {
    /// The last history entry delivered.
    at: StreamId,
    /// Outbox messages delivered locally so far (the outbox number of the last one).
    own_delivered: u64,
    /// The highest outbox number read back from the history.
    own_read: u64,
    /// Deliveries buffered for attaching sockets, and since when each attaches.
    attaching: HashMap<Sid, (std::time::Instant, VecDeque<Arc<Ready>>)>,
    recent: RecentIds,
}

impl Cursor {
    fn live_offset(&self, at: StreamId, own: &str) -> Offset {
        Offset {
            at,
            mark: (self.own_delivered > self.own_read).then(|| OutboxMark {
                instance: own.to_owned(),
                count: self.own_delivered,
            }),
        }
    }
}

#[derive(Debug, Default)]
struct Outbox {
    queue: VecDeque<Record>,
    next_seq: u64,
}

/// History settings.
#[derive(Debug, Clone, Copy)]
pub struct HistoryLimits {
    /// Entries kept at most (about).
    pub max_len: u64,
    /// How long entries are kept at most.
    pub max_age: Duration,
    /// Broadcasts queued at most while Redis is away.
    pub outbox: usize,
}

/// Counters of the hub, for `/health` and `/metrics`.
#[derive(Debug, Default)]
pub struct HubCounters {
    /// Broadcasts queued in the outbox (ever).
    pub queued: AtomicU64,
    /// Broadcasts that found the outbox full: delivered on this instance only.
    pub overflowed: AtomicU64,
    /// Messages replayed to reconnecting clients.
    pub replayed: AtomicU64,
    /// Reconnects that could not be recovered.
    pub unrecovered: AtomicU64,
    /// Buffered deliveries dropped for an attaching socket (buffer full).
    pub attach_dropped: AtomicU64,
    /// Entries written twice, delivered once.
    pub duplicates_skipped: AtomicU64,
    /// Packets of this instance's own broadcasts dropped for full client buffers.
    pub dropped_origin: AtomicU64,
    /// Packets of other instances' broadcasts dropped for full client buffers.
    pub dropped_relayed: AtomicU64,
}

/// The delivery core of one instance.
#[derive(Debug)]
pub struct Hub {
    own: String,
    history: History,
    link: LinkDriver,
    limits: HistoryLimits,
    publish_timeout: Duration,
    io: OnceLock<Io>,
    cursor: tokio::sync::Mutex<Cursor>,
    outbox: Mutex<Outbox>,
    flush: Notify,
    /// Counters.
    pub counters: HubCounters,
}

/// A socket between [`Hub::begin`] and [`Hub::finish`]: where live delivery stood when it joined.
#[derive(Debug, Clone)]
pub struct Attaching {
    at: StreamId,
}

impl Hub {
    /// The hub of instance `own`, over `history` and `link`, failing appends after
    /// `publish_timeout`.
    pub fn new(
        own: String,
        history: History,
        link: LinkDriver,
        limits: HistoryLimits,
        publish_timeout: Duration,
    ) -> Self {
        Self {
            own,
            history,
            link,
            limits,
            publish_timeout,
            io: OnceLock::new(),
            cursor: tokio::sync::Mutex::new(Cursor::default()),
            outbox: Mutex::new(Outbox::default()),
            flush: Notify::new(),
            counters: HubCounters::default(),
        }
    }

    /// The history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Drops history entries older than the configured age (called by the heartbeat).
    pub async fn trim_history(&self) -> Result<(), crate::redis::LinkError> {
        self.history.trim(self.limits.max_age).await
    }

    /// Broadcasts waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .queue
            .len()
    }

    /// Starts live delivery on `io` from the newest history entry: spawns the reader (on
    /// `delivery`, the runtime of the Redis connections: see [`crate::runtime`]) and the outbox
    /// flusher.
    pub async fn start(
        self: &Arc<Self>,
        io: Io,
        delivery: &tokio::runtime::Handle,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, String> {
        let at = self.history.last_id().await.map_err(|e| e.to_string())?;
        self.cursor.lock().await.at = at;
        self.io
            .set(io)
            .map_err(|_| "hub started twice".to_owned())?;
        Ok(vec![
            delivery.spawn(self.clone().run_reader()),
            tokio::spawn(self.clone().run_flusher()),
        ])
    }

    fn io(&self) -> &Io {
        self.io
            .get()
            .expect("the hub is started before sockets connect")
    }

    /// Sends `payload` to `target` through the history; when Redis cannot take it, delivers it
    /// here and queues it. Says how far it goes.
    pub async fn publish(&self, target: Target, payload: Payload) -> Delivery {
        let record = Record {
            event: payload.event().to_owned(),
            target: target.encode(),
            payload: payload.encode(),
            origin: self.own.clone(),
            message_id: payload.meta().id.clone(),
            outbox_seq: None,
        };
        let queued = self.outbox_len() > 0;
        if !queued && self.link.state() == gridcast_shared::RedisLink::Up {
            let started = std::time::Instant::now();
            let appended = self.history.append(&record, self.publish_timeout).await;
            self.link
                .publish_latency()
                .observe(started.elapsed().as_secs_f64());
            match appended {
                // The reader delivers it, here too, with its offset.
                Ok(_) => return Delivery::Cluster,
                Err(e) => {
                    tracing::warn!(instance = %self.own, "history append failed, delivering here and queueing: {e}")
                }
            }
        }
        self.deliver_during_outage(record, target, payload).await
    }

    async fn deliver_during_outage(
        &self,
        mut record: Record,
        target: Target,
        payload: Payload,
    ) -> Delivery {
        let mut cursor = self.cursor.lock().await;
        let seq = {
            let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
            if outbox.queue.len() >= self.limits.outbox {
                None
            } else {
                outbox.next_seq += 1;
                record.outbox_seq = Some(outbox.next_seq);
                outbox.queue.push_back(record);
                Some(outbox.next_seq)
            }
        };
        let (delivery, offset) = match seq {
            Some(seq) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                cursor.own_delivered = seq;
                (
                    Delivery::Queued,
                    Some(Offset {
                        at: cursor.at,
                        mark: Some(OutboxMark {
                            instance: self.own.clone(),
                            count: seq,
                        }),
                    }),
                )
            }
            None => {
                self.counters.overflowed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(instance = %self.own, capacity = self.limits.outbox, "outbox full: broadcast delivered on this instance only");
                (Delivery::LocalOnly, None)
            }
        };
        if !cursor.recent.insert(&payload.meta().id) {
            // An append that timed out had landed after all, and the reader delivered it.
            self.counters
                .duplicates_skipped
                .fetch_add(1, Ordering::Relaxed);
            drop(cursor);
            self.flush.notify_one();
            return delivery;
        }
        let ready = Ready {
            id: None,
            origin: self.own.clone(),
            outbox_seq: seq,
            target,
            payload,
        }
        .with_offset(offset);
        self.deliver(&mut cursor, ready).await;
        drop(cursor);
        self.flush.notify_one();
        delivery
    }

    /// Emits `ready` to the live sockets it targets and buffers it for attaching ones.
    async fn deliver(&self, cursor: &mut Cursor, ready: Ready) {
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
        let ops = self.io().local().except(ATTACHING);
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
            self.count_errors(&ready.origin, e);
        }
    }

    fn dropped(&self, origin: &str) -> &AtomicU64 {
        if origin == self.own {
            &self.counters.dropped_origin
        } else {
            &self.counters.dropped_relayed
        }
    }

    fn count_errors(&self, origin: &str, error: BroadcastError) {
        if let Some(full) = full_buffers(&self.own, error) {
            self.dropped(origin).fetch_add(full, Ordering::Relaxed);
        }
    }

    /// Delivers the history as it grows, in order, forever.
    pub async fn run_reader(self: Arc<Self>) {
        let mut failing = false;
        loop {
            let at = self.cursor.lock().await.at;
            match self.history.read_after(at, PAGE).await {
                Ok(entries) => {
                    if failing {
                        failing = false;
                        tracing::info!(instance = %self.own, %at, "history readable again, delivering from the last position");
                    }
                    if entries.is_empty() {
                        continue;
                    }
                    let mut cursor = self.cursor.lock().await;
                    for stored in entries {
                        self.deliver_stored(&mut cursor, stored).await;
                    }
                }
                Err(e) => {
                    if !failing {
                        failing = true;
                        tracing::warn!(instance = %self.own, "history read failed, retrying: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn deliver_stored(&self, cursor: &mut Cursor, stored: Stored) {
        if stored.id <= cursor.at {
            return;
        }
        cursor.at = stored.id;
        if stored.record.origin == self.own
            && let Some(seq) = stored.record.outbox_seq
        {
            // Delivered here when it was sent.
            cursor.own_read = cursor.own_read.max(seq);
            return;
        }
        if !cursor.recent.insert(&stored.record.message_id) {
            self.counters
                .duplicates_skipped
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(ready) = Ready::from_stored(&stored) else {
            tracing::warn!(instance = %self.own, id = %stored.id, "history entry with an unknown target or payload skipped");
            return;
        };
        let offset = cursor.live_offset(stored.id, &self.own);
        self.deliver(cursor, ready.with_offset(Some(offset))).await;
    }

    /// Writes the outbox to the history whenever Redis takes it, oldest first.
    pub async fn run_flusher(self: Arc<Self>) {
        loop {
            let batch: Vec<Record> = {
                let outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
                outbox.queue.iter().take(PAGE as usize).cloned().collect()
            };
            if batch.is_empty() {
                self.flush.notified().await;
                continue;
            }
            if self.link.state() != gridcast_shared::RedisLink::Up {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            match self.history.append_all(&batch).await {
                Ok(()) => {
                    let written = {
                        let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
                        let written = batch.len().min(outbox.queue.len());
                        outbox.queue.drain(..written);
                        written
                    };
                    tracing::info!(instance = %self.own, written, left = self.outbox_len(), "outbox written to the history")
                }
                // Part of the batch may be written: written again, each is delivered once
                // (readers skip a message id they delivered).
                Err(e) => {
                    tracing::warn!(instance = %self.own, batch = batch.len(), "outbox write failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// First step of a connect (in the connect middleware, before the socket can receive
    /// anything): under the cursor lock, the socket joins `rooms` (already
    /// prefixed) and [`ATTACHING`], and its buffer opens. Returns where live delivery stood.
    pub async fn begin(&self, socket: &SocketRef<ClusterAdapter>, rooms: Vec<String>) -> Attaching {
        let mut cursor = self.cursor.lock().await;
        socket.join(ATTACHING);
        socket.join(rooms);
        cursor
            .attaching
            .insert(socket.id, (std::time::Instant::now(), VecDeque::new()));
        Attaching { at: cursor.at }
    }

    /// Second step: what a client with `offset` (public id `id`, in `rooms`) missed up to where
    /// live delivery stood, and how the recovery went.
    pub async fn plan(
        &self,
        attaching: &Attaching,
        offset: &Offset,
        id: &str,
        rooms: &[String],
    ) -> (Recovery, Vec<Ready>) {
        let unavailable = |e: crate::redis::LinkError| {
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
            || match self.history.contains(offset.at).await {
                Ok(known) => known,
                Err(e) => return unavailable(e),
            };
        let mut upto = attaching.at;
        if known && offset.at > upto {
            // The client comes from an instance that was ahead of this one: wait for the reader.
            let deadline = tokio::time::Instant::now() + CATCH_UP;
            loop {
                upto = self.cursor.lock().await.at;
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
            let page = match self.history.range(from, upto, PAGE).await {
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
        if known && offset.at <= upto {
            self.counters
                .replayed
                .fetch_add(replay.len() as u64, Ordering::Relaxed);
            return (Recovery::recovered(replay.len() as u64), replay);
        }
        self.counters.unrecovered.fetch_add(1, Ordering::Relaxed);
        let first = match self.history.first_id().await {
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
        let mut recovery = Recovery::failed(
            RecoveryFailure::Expired,
            format!(
                "offset {offset} is older than the history kept (at most {} messages, {} s); what was sent before is lost for this client",
                self.limits.max_len,
                self.limits.max_age.as_secs()
            ),
        );
        recovery.missed_at_least = Some(replay.len() as u64);
        (recovery, Vec::new())
    }

    /// Last step: sends `replay`, then what was buffered meanwhile (for public id `id` in
    /// `rooms`, after `after` and not covered by `offset`'s mark), and joins live delivery.
    pub async fn finish(
        &self,
        socket: &SocketRef<ClusterAdapter>,
        replay: Vec<Ready>,
        offset: Option<&Offset>,
        id: &str,
        rooms: impl Fn() -> Vec<String>,
    ) {
        let mut seen: HashSet<String> = HashSet::new();
        for ready in replay {
            seen.insert(ready.payload.meta().id.clone());
            self.emit_to(socket, &ready);
        }
        let mut cursor = self.cursor.lock().await;
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
            if had
                || !ready.target.reaches(id, &rooms)
                || !seen.insert(ready.payload.meta().id.clone())
            {
                continue;
            }
            self.emit_to(socket, &ready);
        }
        socket.leave(ATTACHING);
    }

    /// Forgets an attaching socket that went away.
    pub async fn forget(&self, sid: Sid) {
        self.cursor.lock().await.attaching.remove(&sid);
    }

    fn emit_to(&self, socket: &SocketRef<ClusterAdapter>, ready: &Ready) {
        let sent = match &ready.payload {
            Payload::Message(text, meta) => socket.emit(event::MESSAGE, &(text, meta)),
            Payload::Routed(event, routed) => socket.emit(*event, routed),
        };
        if sent.is_err() {
            self.dropped(&ready.origin).fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_and_reach_the_right_sockets() {
        let rooms = vec!["a".to_owned()];
        for target in [
            Target::All,
            Target::Room("a".into()),
            Target::Direct {
                to: "x".into(),
                from: "y".into(),
            },
        ] {
            assert_eq!(Target::decode(&target.encode()), Some(target.clone()));
        }
        assert!(Target::Room("a".into()).reaches("z", &rooms));
        assert!(!Target::Room("b".into()).reaches("z", &rooms));
        let direct = Target::Direct {
            to: "x".into(),
            from: "y".into(),
        };
        assert!(direct.reaches("x", &[]) && direct.reaches("y", &[]) && !direct.reaches("z", &[]));
        assert_eq!(Target::decode("?"), None);
    }

    #[test]
    fn recent_ids_forget_the_oldest() {
        let mut recent = RecentIds::default();
        assert!(recent.insert("a"));
        assert!(!recent.insert("a"));
        for n in 0..RECENT_IDS {
            recent.insert(&n.to_string());
        }
        assert!(recent.insert("a"), "forgotten after RECENT_IDS others");
    }

    #[test]
    fn recent_ids_keep_their_size_under_a_steady_stream() {
        let mut recent = RecentIds::default();
        for n in 0..100 {
            recent.insert(&format!("i{n}"));
        }
        assert!(
            recent.set.capacity() < 1000,
            "a quiet instance keeps a small table"
        );
        for n in 100..=RECENT_IDS {
            recent.insert(&format!("i{n}"));
        }
        // What the table holds without reallocating; tombstones lower it until a rehash, a
        // larger table would raise it.
        let (set, order) = (recent.set.capacity(), recent.order.capacity());
        for n in RECENT_IDS + 1..16 * RECENT_IDS {
            assert!(recent.insert(&format!("i{n}")));
            assert!(
                recent.set.capacity() <= set && recent.order.capacity() == order,
                "the tables grew after {n} ids"
            );
        }
        assert_eq!(recent.set.len(), RECENT_IDS);
    }
}
