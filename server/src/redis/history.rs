//! The cluster's history: one bounded Redis Stream, `{prefix}:history`, that is also the transport
//! of every broadcast a client can miss.
//!
//! Each entry is one broadcast: `e` (event name), `t` (target, see [`Record::target`]), `p` (the
//! event arguments as JSON, without offsets), `o` (origin instance id), `m` (message id) and, for
//! a message delivered locally during a Redis outage and written later, `q` (its number in the
//! origin's outbox). The entry id is the message's offset.
//!
//! Writers `XADD ... MAXLEN ~ <max>`; every instance reads the stream in order with a blocking
//! `XREAD` on a connection of its own (a blocked read would hold up everything else on a shared
//! one), and replays ranges with `XRANGE`. Entries older than the configured age are trimmed by
//! the heartbeat (`XTRIM MINID ~`). On a Sentinel link, the entries this instance appended lately
//! are kept in a [`Journal`], to write again those a failover lost ([`History::rewrite_lost`]).

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use gridcast_shared::recovery::StreamId;
use redis::Value;
use tokio::sync::watch;

pub(crate) use super::entry::{Page, Record, Stored};
use super::{
    entry::{page, parse_id, read_page},
    journal::Journal,
    link::{COMMAND_TIMEOUT, Conn, LinkDriver, LinkError, query},
};

/// Access to the history of one cluster prefix.
#[derive(Clone)]
pub(crate) struct History {
    link: LinkDriver,
    /// The connection blocking reads wait on.
    reader: Conn,
    /// The connection of replays and other reads that may return much: never the one holding
    /// the pub/sub subscriptions (Redis closes a subscribed connection whose replies pile up
    /// past its pub/sub output-buffer limit), nor the blocked reader's.
    bulk: Conn,
    /// Reads on `bulk` that timed out in a row while the link was up (see [`BULK_SUSPECT_AFTER`]).
    bulk_timeouts: Arc<AtomicU32>,
    /// The millisecond part of the newest entry id this instance saw (appended or read): an
    /// append sent from now on is written after it ([`History::seen`]).
    seen_ms: Arc<AtomicU64>,
    /// On a Sentinel link: how many times it moved to another master, and what was appended
    /// lately.
    failover: Option<(watch::Receiver<u64>, Arc<Journal<Record>>)>,
    key: String,
    max_len: u64,
    max_age: Duration,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("key", &self.key)
            .field("max_len", &self.max_len)
            .finish()
    }
}

/// The most an entry may take in Redis: a text at the largest a message may be, and the rest
/// (metadata, target, field names) well under 2 KiB. The history's byte bound is kept by holding
/// no more entries than fit at this size.
pub(crate) const ENTRY_BYTES_MAX: u64 = gridcast_shared::limits::MAX_MESSAGE_BYTES as u64 + 2048;

/// Entries [`History::landed_since`] reads per script call.
const LANDED_PAGE: u64 = 1024;

/// Reads `KEYS[1]`'s entries after `ARGV[1]` (exclusive) up to `ARGV[2]` (`+`: the newest entry
/// now), at most `ARGV[3]`, and answers with four things: the end it used, the last id it read,
/// how many it read, and the message ids (field `m`) of those whose origin (field `o`) is
/// `ARGV[4]`. Only ids travel back, not the entries.
const IDS_OF_ORIGIN: &str = r#"
local top = ARGV[2]
if top == '+' then
  local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if #newest == 0 then return {ARGV[1], ARGV[1], 0, {}} end
  top = newest[1][1]
end
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], top, 'COUNT', ARGV[3])
local ids = {}
local last = ARGV[1]
for _, entry in ipairs(entries) do
  last = entry[1]
  local fields = entry[2]
  local origin, id
  for i = 1, #fields, 2 do
    if fields[i] == 'o' then origin = fields[i + 1] elseif fields[i] == 'm' then id = fields[i + 1] end
  end
  if origin == ARGV[4] and id then ids[#ids + 1] = id end
end
return {top, last, #entries, ids}
"#;

/// The entries a history of `max_len` entries and `max_bytes` bytes keeps at most.
pub(crate) fn capacity(max_len: u64, max_bytes: u64) -> u64 {
    max_len.min(max_bytes / ENTRY_BYTES_MAX).max(1)
}

/// Reads on the bulk connection that timed out in a row, while the link was up, after which that
/// connection counts as dead and the link opens its connections again: the health probe cannot
/// see it, and redis-rs never replaces a connection that only stopped answering, so every replay
/// failed (`history_unavailable`) until the kernel gave up on it.
const BULK_SUSPECT_AFTER: u32 = 2;

/// Longest a blocking read waits for new entries before it asks again.
pub(crate) const READ_BLOCK: Duration = Duration::from_secs(2);

/// The stream's key for key prefix `prefix`.
pub(crate) fn key(prefix: &str) -> String {
    format!("{prefix}:history")
}

impl History {
    /// The history under `prefix`, written and ranged over `link`, read live over a connection
    /// of its own, capped at about `max_len` entries and trimmed of entries older than `max_age`.
    pub(crate) async fn connect(
        link: LinkDriver,
        prefix: &str,
        max_len: u64,
        max_age: Duration,
    ) -> Result<Self, crate::error::Error> {
        let reader = link
            .open_another(READ_BLOCK + Duration::from_secs(2))
            .await?;
        let bulk = link.open_another(COMMAND_TIMEOUT).await?;
        let failover = link.master_moves().map(|moves| (moves, Arc::default()));
        Ok(Self {
            link,
            reader,
            bulk,
            bulk_timeouts: Arc::default(),
            seen_ms: Arc::default(),
            failover,
            key: key(prefix),
            max_len,
            max_age,
        })
    }

    /// The `XADD` of `record` (fields borrowed, not copied: this runs for every broadcast).
    fn xadd(&self, record: &Record) -> redis::Cmd {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.max_len)
            .arg("*")
            .arg("e")
            .arg(&record.event)
            .arg("t")
            .arg(&record.target)
            .arg("p")
            .arg(&record.payload)
            .arg("o")
            .arg(&record.origin)
            .arg("m")
            .arg(&record.message_id);
        if let Some(text) = &record.text {
            cmd.arg("x").arg(text);
        }
        if let Some(q) = record.outbox_seq {
            cmd.arg("q").arg(q);
        }
        cmd
    }

    /// Appends `record`, waiting up to `timeout`; its offset. `place` is dropped once the append
    /// is queued on the link's connection, behind every command queued before it.
    pub(crate) async fn append<P>(
        &self,
        record: &Record,
        timeout: Duration,
        place: P,
    ) -> Result<StreamId, LinkError> {
        let master = self.master();
        let id: String = self
            .link
            .command_placed(&self.xadd(record), timeout, place)
            .await?;
        let id = parse_id(&id)?;
        self.saw(id);
        self.note(master, [(id, record)]);
        Ok(id)
    }

    /// A point in the history that every append sent from now on is written after: if one
    /// gets no answer, [`History::landed_since`] this point says whether it was written.
    pub(crate) fn seen(&self) -> StreamId {
        StreamId {
            ms: self.seen_ms.load(Ordering::Relaxed),
            seq: 0,
        }
    }

    fn saw(&self, id: StreamId) {
        self.seen_ms.fetch_max(id.ms, Ordering::Relaxed);
    }

    /// The message ids of `origin`'s entries after `after`, up to the newest entry when the first
    /// page is read. Read on the link's command connection, the one appends go on: Redis serves
    /// a connection's commands in order, so an append sent on it before this call that got no
    /// answer has been written by the time the first page answers, or never will be (unless its
    /// connection was replaced meanwhile).
    pub(crate) async fn landed_since(
        &self,
        after: StreamId,
        origin: &str,
    ) -> Result<HashSet<String>, LinkError> {
        let mut landed = HashSet::new();
        let (mut start, mut top) = (after.to_string(), "+".to_owned());
        loop {
            let (newest, last, read, ids): (String, String, u64, Vec<String>) = self
                .link
                .command(
                    redis::cmd("EVAL")
                        .arg(IDS_OF_ORIGIN)
                        .arg(1)
                        .arg(&self.key)
                        .arg(&start)
                        .arg(&top)
                        .arg(LANDED_PAGE)
                        .arg(origin),
                )
                .await?;
            landed.extend(ids);
            if read < LANDED_PAGE || last == newest {
                return Ok(landed);
            }
            (start, top) = (last, newest);
        }
    }

    /// The link's move count now (0 when it is not a Sentinel link).
    fn master(&self) -> u64 {
        self.failover
            .as_ref()
            .map_or(0, |(moves, _)| *moves.borrow())
    }

    /// Notes appends in the journal, if any.
    fn note<'a>(&self, master: u64, appended: impl IntoIterator<Item = (StreamId, &'a Record)>) {
        if let Some((_, journal)) = &self.failover {
            for (id, record) in appended {
                journal.note(master, id, record);
            }
        }
    }

    /// The state of the link the history is read and written over.
    pub(crate) fn link_state(&self) -> gridcast_shared::RedisLink {
        self.link.state()
    }

    /// The link's renewal count, changed each time its connections (the reader's among them)
    /// are opened again.
    pub(crate) fn renewals(&self) -> watch::Receiver<u64> {
        self.link.renewals()
    }

    /// Says that the reader's connection timed out while the link was up: the link opens its
    /// connections again soon (its probe cannot see this one). The bulk connection's reads say
    /// so themselves ([`BULK_SUSPECT_AFTER`]).
    pub(crate) fn suspect_reader(&self) {
        self.link.suspect();
    }

    /// On a Sentinel link, the link's move count, changed at each move to another master.
    pub(crate) fn master_moves(&self) -> Option<watch::Receiver<u64>> {
        self.failover.as_ref().map(|(moves, _)| moves.clone())
    }

    /// Appends `records` in order, in one pipeline (one key, so one node of a cluster): all of
    /// them, or an error (some may have been written then; readers deliver a message id once).
    pub(crate) async fn append_all(&self, records: &[Record]) -> Result<(), LinkError> {
        let mut pipe = redis::pipe();
        for record in records {
            pipe.add_command(self.xadd(record));
        }
        let master = self.master();
        let ids: Vec<String> = self.link.pipeline(&pipe).await?;
        let ids = ids
            .iter()
            .map(|id| parse_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(newest) = ids.last() {
            self.saw(*newest);
        }
        self.note(master, ids.into_iter().zip(records));
        Ok(())
    }

    /// After the link moved to another master (Sentinel): appends again, in their order, the
    /// entries this instance appended to earlier masters that the new one lacks (asynchronous
    /// replication loses a master's last writes when it dies). Readers deliver a message id
    /// once, so instances that had delivered an entry skip its new copy. How many were written.
    pub(crate) async fn rewrite_lost(&self) -> Result<usize, LinkError> {
        let Some((moves, journal)) = &self.failover else {
            return Ok(0);
        };
        let master = *moves.borrow();
        let earlier = journal.before(master);
        let (Some((first, _)), Some((last, _))) = (earlier.first(), earlier.last()) else {
            return Ok(0);
        };
        // What the new master holds of that span, a page at a time: an id with the same message
        // (another master, whose clock is ahead, may have given the id to another entry).
        let mut held = HashSet::new();
        let mut start = first.to_string();
        loop {
            let page = self
                .entries_between(&start, &last.to_string(), 512, false)
                .await?;
            for stored in &page.entries {
                held.insert((stored.id, stored.record.message_id.clone()));
            }
            match page.last {
                Some(id) if page.read == 512 => start = format!("({id}"),
                _ => break,
            }
        }
        let lost: Vec<Record> = earlier
            .iter()
            .filter(|(id, record)| !held.contains(&(*id, record.message_id.clone())))
            .map(|(_, record)| record.clone())
            .collect();
        for batch in lost.chunks(512) {
            self.append_all(batch).await?;
        }
        let checked: HashSet<StreamId> = earlier.iter().map(|(id, _)| *id).collect();
        journal.forget(master, &checked);
        Ok(lost.len())
    }

    /// Up to `count` entries after `after`, waiting up to [`READ_BLOCK`] for the first one
    /// (empty when none came).
    pub(crate) async fn read_after(&self, after: StreamId, count: u64) -> Result<Page, LinkError> {
        let read: Value = query(
            &self.reader,
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(count)
                .arg("BLOCK")
                .arg(READ_BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(after.to_string()),
            READ_BLOCK + Duration::from_secs(2),
        )
        .await?;
        let page = read_page(read, &self.key)?;
        if let Some(last) = page.last {
            self.saw(last);
        }
        Ok(page)
    }

    /// `XRANGE` (or `XREVRANGE` with `newest_first`) from `start` to `end`, at most `count`.
    async fn entries_between(
        &self,
        start: &str,
        end: &str,
        count: u64,
        newest_first: bool,
    ) -> Result<Page, LinkError> {
        let command = if newest_first { "XREVRANGE" } else { "XRANGE" };
        let answer: Result<Value, _> = self
            .link
            .command_on(
                &self.bulk,
                redis::cmd(command)
                    .arg(&self.key)
                    .arg(start)
                    .arg(end)
                    .arg("COUNT")
                    .arg(count),
            )
            .await;
        self.note_bulk(&answer);
        page(answer?, &self.key)
    }

    /// Counts a bulk read's timeout while the link is up, and after [`BULK_SUSPECT_AFTER`] in a
    /// row says the connection is suspect; an answer resets the count.
    fn note_bulk<T>(&self, answer: &Result<T, LinkError>) {
        match answer {
            Ok(_) => self.bulk_timeouts.store(0, Ordering::Relaxed),
            Err(e) if e.is_timeout() && self.link_state() == gridcast_shared::RedisLink::Up => {
                if self.bulk_timeouts.fetch_add(1, Ordering::Relaxed) + 1 >= BULK_SUSPECT_AFTER {
                    self.bulk_timeouts.store(0, Ordering::Relaxed);
                    tracing::warn!(key = %self.key, "history range reads timed out {BULK_SUSPECT_AFTER} times in a row: their connection is suspect");
                    self.link.suspect();
                }
            }
            Err(_) => {}
        }
    }

    /// Up to `count` entries after `after` (exclusive) up to `upto` (inclusive), in order.
    pub(crate) async fn range(
        &self,
        after: StreamId,
        upto: StreamId,
        count: u64,
    ) -> Result<Page, LinkError> {
        self.entries_between(&format!("({after}"), &upto.to_string(), count, false)
            .await
    }

    /// Whether an entry with id `id` is still held.
    pub(crate) async fn contains(&self, id: StreamId) -> Result<bool, LinkError> {
        let id = id.to_string();
        Ok(self.entries_between(&id, &id, 1, false).await?.read > 0)
    }

    /// Up to `count` entries at or before `upto`, newest first.
    pub(crate) async fn newest_up_to(
        &self,
        upto: StreamId,
        count: u64,
    ) -> Result<Vec<Stored>, LinkError> {
        Ok(self
            .entries_between(&upto.to_string(), "-", count, true)
            .await?
            .entries)
    }

    /// The id of the newest entry ([`StreamId::ZERO`] when the stream is empty or absent).
    pub(crate) async fn last_id(&self) -> Result<StreamId, LinkError> {
        let newest = self.entries_between("+", "-", 1, true).await?;
        let last = newest.first.unwrap_or(StreamId::ZERO);
        self.saw(last);
        Ok(last)
    }

    /// The id of the oldest entry still held, if any.
    pub(crate) async fn first_id(&self) -> Result<Option<StreamId>, LinkError> {
        Ok(self.entries_between("-", "+", 1, false).await?.first)
    }

    /// How much the history keeps at most: about this many entries, none older than this.
    pub(crate) fn bounds(&self) -> (u64, Duration) {
        (self.max_len, self.max_age)
    }

    /// Drops entries written more than the configured age ago (by Redis' clock, roughly).
    pub(crate) async fn trim(&self) -> Result<(), LinkError> {
        let now_ms = crate::clock::now_ms();
        let min = now_ms.saturating_sub(self.max_age.as_millis() as u64);
        self.link
            .command(
                redis::cmd("XTRIM")
                    .arg(&self.key)
                    .arg("MINID")
                    .arg("~")
                    .arg(format!("{min}-0")),
            )
            .await
    }
}
