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
//! the heartbeat (`XTRIM MINID ~`).

use std::{collections::HashMap, time::Duration};

use fred::{
    clients::{Client, SubscriberClient},
    interfaces::{ClientLike, StreamsInterface},
    prelude::{Builder, Config, Options, ReconnectPolicy, TcpConfig},
    types::streams::{XCap, XCapKind, XCapTrim},
};
use gridcast_shared::recovery::StreamId;

use super::LinkError;

/// One broadcast as the history holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The event name (`message`, `room_message`, `direct`).
    pub event: String,
    /// Who gets it: `*` (everyone), `r:<room>`, or `d:<to>:<from>` (public ids).
    pub target: String,
    /// The event arguments as JSON, without offsets.
    pub payload: String,
    /// The instance the sender was connected to.
    pub origin: String,
    /// The message id (`MessageMeta::id`), unique in the cluster.
    pub message_id: String,
    /// Its number in the origin's outbox, when it was delivered there during an outage first.
    pub outbox_seq: Option<u64>,
}

/// A record with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The entry id: the offset.
    pub id: StreamId,
    /// The broadcast.
    pub record: Record,
}

/// Access to the history of one cluster prefix.
#[derive(Clone)]
pub struct History {
    client: SubscriberClient,
    reader: Client,
    key: String,
    max_len: u64,
    options: Options,
    /// Entries skipped because they could not be read (written by something else).
    skipped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("key", &self.key)
            .field("max_len", &self.max_len)
            .finish()
    }
}

/// An entry as Redis returns it: id and fields.
type RawEntry = (String, HashMap<String, String>);

/// Longest a blocking read waits for new entries before it asks again.
pub const READ_BLOCK: Duration = Duration::from_secs(2);

fn parse_id(text: &str) -> Result<StreamId, LinkError> {
    text.parse().map_err(|e| {
        LinkError(fred::error::Error::new(
            fred::error::ErrorKind::Parse,
            format!("stream id {text:?}: {e}"),
        ))
    })
}

impl History {
    /// The history under `prefix`, written and ranged over `client`, read live over a connection
    /// of its own to `url`, capped at about `max_len` entries.
    pub(super) async fn connect(
        client: SubscriberClient,
        url: &str,
        prefix: &str,
        max_len: u64,
    ) -> Result<Self, String> {
        let config = Config::from_url(url).map_err(|e| e.to_string())?;
        let reader = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(3);
                c.tcp = TcpConfig {
                    nodelay: Some(true),
                    ..Default::default()
                };
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 500, 2))
            .build()
            .map_err(|e| e.to_string())?;
        reader.init().await.map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            reader,
            key: format!("{prefix}:history"),
            max_len,
            options: super::command_options(),
            skipped: Default::default(),
        })
    }

    fn fields(record: &Record) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("e", record.event.clone()),
            ("t", record.target.clone()),
            ("p", record.payload.clone()),
            ("o", record.origin.clone()),
            ("m", record.message_id.clone()),
        ];
        if let Some(q) = record.outbox_seq {
            fields.push(("q", q.to_string()));
        }
        fields
    }

    fn cap(&self) -> XCap {
        XCap::try_from((XCapKind::MaxLen, XCapTrim::AlmostExact, self.max_len as i64))
            .expect("a valid MAXLEN cap")
    }

    /// Appends `record`; its offset.
    pub async fn append(&self, record: &Record, options: &Options) -> Result<StreamId, LinkError> {
        let id: String = self
            .client
            .with_options(options)
            .xadd(&self.key, false, self.cap(), "*", Self::fields(record))
            .await
            .map_err(LinkError)?;
        parse_id(&id)
    }

    /// Appends `records` in order, pipelined; how many were written before the first failure.
    pub async fn append_all(&self, records: &[Record]) -> (usize, Option<LinkError>) {
        let client = self.client.with_options(&self.options);
        let writes = records.iter().map(|record| {
            client.xadd::<String, _, _, _, _>(
                &self.key,
                false,
                self.cap(),
                "*",
                Self::fields(record),
            )
        });
        let results = futures_util::future::join_all(writes).await;
        let written = results.iter().take_while(|r| r.is_ok()).count();
        let error = results.into_iter().find_map(Result::err).map(LinkError);
        (written, error)
    }

    fn to_stored(&self, id: String, mut fields: HashMap<String, String>) -> Option<Stored> {
        let mut take = |name: &str| fields.remove(name);
        let record = (|| {
            Some(Record {
                event: take("e")?,
                target: take("t")?,
                payload: take("p")?,
                origin: take("o")?,
                message_id: take("m")?,
                outbox_seq: match take("q") {
                    Some(q) => Some(q.parse().ok()?),
                    None => None,
                },
            })
        })();
        match (parse_id(&id), record) {
            (Ok(id), Some(record)) => Some(Stored { id, record }),
            _ => {
                self.skipped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(key = %self.key, %id, "unreadable history entry skipped");
                None
            }
        }
    }

    /// Up to `count` entries after `after`, waiting up to [`READ_BLOCK`] for the first one
    /// (empty when none came).
    pub async fn read_after(&self, after: StreamId, count: u64) -> Result<Vec<Stored>, LinkError> {
        let options = Options {
            timeout: Some(READ_BLOCK + Duration::from_secs(2)),
            fail_fast: true,
            max_attempts: Some(1),
            ..Default::default()
        };
        let read: fred::types::Value = self
            .reader
            .with_options(&options)
            .xread(
                Some(count),
                Some(READ_BLOCK.as_millis() as u64),
                &self.key,
                after.to_string(),
            )
            .await
            .map_err(LinkError)?;
        // A blocking read that timed out answers nil, which fred cannot turn into a map.
        if read.is_null() {
            return Ok(Vec::new());
        }
        let read: HashMap<String, Vec<RawEntry>> = read.into_xread_response().map_err(LinkError)?;
        Ok(read
            .into_values()
            .flatten()
            .filter_map(|(id, fields)| self.to_stored(id, fields))
            .collect())
    }

    /// Up to `count` entries after `after` (exclusive) up to `upto` (inclusive), in order.
    pub async fn range(
        &self,
        after: StreamId,
        upto: StreamId,
        count: u64,
    ) -> Result<Vec<Stored>, LinkError> {
        let entries: Vec<RawEntry> = self
            .client
            .with_options(&self.options)
            .xrange_values(
                &self.key,
                format!("({after}"),
                upto.to_string(),
                Some(count),
            )
            .await
            .map_err(LinkError)?;
        Ok(entries
            .into_iter()
            .filter_map(|(id, fields)| self.to_stored(id, fields))
            .collect())
    }

    /// Whether an entry with id `id` is still held.
    pub async fn contains(&self, id: StreamId) -> Result<bool, LinkError> {
        let entries: Vec<RawEntry> = self
            .client
            .with_options(&self.options)
            .xrange_values(&self.key, id.to_string(), id.to_string(), Some(1))
            .await
            .map_err(LinkError)?;
        Ok(!entries.is_empty())
    }

    /// The id of the newest entry ([`StreamId::ZERO`] when the stream is empty or absent).
    pub async fn last_id(&self) -> Result<StreamId, LinkError> {
        let entries: Vec<RawEntry> = self
            .client
            .with_options(&self.options)
            .xrevrange_values(&self.key, "+", "-", Some(1))
            .await
            .map_err(LinkError)?;
        match entries.first() {
            Some((id, _)) => parse_id(id),
            None => Ok(StreamId::ZERO),
        }
    }

    /// The id of the oldest entry still held, if any.
    pub async fn first_id(&self) -> Result<Option<StreamId>, LinkError> {
        let entries: Vec<RawEntry> = self
            .client
            .with_options(&self.options)
            .xrange_values(&self.key, "-", "+", Some(1))
            .await
            .map_err(LinkError)?;
        entries.first().map(|(id, _)| parse_id(id)).transpose()
    }

    /// Drops entries written more than `max_age` ago (by Redis' clock, roughly).
    pub async fn trim(&self, max_age: Duration) -> Result<(), LinkError> {
        let now_ms = crate::now_ms();
        let min = now_ms.saturating_sub(max_age.as_millis() as u64);
        let cap = XCap::try_from((XCapKind::MinID, XCapTrim::AlmostExact, format!("{min}-0")))
            .map_err(LinkError)?;
        self.client
            .with_options(&self.options)
            .xtrim::<(), _, _>(&self.key, cap)
            .await
            .map_err(LinkError)
    }

    /// Entries skipped so far because they could not be read.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Closes the reading connection.
    pub async fn quit(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.reader.quit()).await;
    }
}
