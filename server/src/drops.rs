//! Packets dropped for clients that cannot keep up: counted on every instance ([`Drops`]), logged
//! as one summary line per interval ([`report`]).
//!
//! socketioxide gives each client a bounded buffer; when it is full the packet is dropped
//! (`InternalChannelFull`). Where gridcast emits (the hub's live delivery and replay, presence
//! batches), the error comes back to the caller, which counts it with [`Drops::count_error`] or
//! [`Drops::count`]: as *origin* when this instance originated the broadcast, as *relayed* when
//! another one did. Presence batches that arrive *through Redis* from another instance are
//! delivered by socketioxide's adapter inside its own task, which only logs a warning per packet
//! (naming its `node_id`): that flooded the log and was counted nowhere. [`DropLayer`] is a
//! `tracing` layer that turns those warnings into counts on the instance with that node id;
//! `logging::quiet` keeps them out of the log.
//!
//! What happens to the slow client: the first packet that does not fit in its buffer closes its
//! connection (gridcast's socketioxide patch: `DisconnectReason::BufferFull`), counted in
//! [`Drops::closed`], so it reconnects with its last offset and gets what it missed from the
//! history. It used to stay connected with a hole: socketioxide's public API cannot close a socket
//! whose buffer is full (its `disconnect` must queue a packet first), and the heartbeat only
//! closed one whose buffer was still full when a ping was due; a review saw a receiver that kept
//! up between pings miss 512 to 1,762 of 5,000 messages, told nothing. A client that stops
//! reading altogether is also closed by the heartbeat, `--ping-interval` + `--ping-timeout` after
//! the last pong (20 s by default; Node.js' defaults give 45 s).

use std::{
    collections::HashMap,
    fmt::Write,
    sync::{
        Arc, Mutex, OnceLock, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    filter::FilterFn,
    layer::{Context, Layer},
};

use socketioxide_core::adapter::errors::{BroadcastError, SocketError};

/// The module of socketioxide that logs a warning per packet it could not deliver.
pub(crate) const SOURCE: &str = "socketioxide_core::adapter::request";

/// The crate whose warnings repeat for as long as a node is away (redis-rs logs "Failed to
/// connect to node" for a dead Redis Cluster master every second until shutdown): counted and
/// summarised like the drops, not logged one by one. Its errors still are.
pub(crate) const REDIS_RS: &str = "redis";

/// redis-rs warnings since the last summary, and the last one's text.
fn redis_warnings() -> &'static Mutex<(u64, String)> {
    static WARNINGS: OnceLock<Mutex<(u64, String)>> = OnceLock::new();
    WARNINGS.get_or_init(Default::default)
}

/// Relayed-drop counters by socketioxide node id (one per instance of this process).
fn counters() -> &'static Mutex<HashMap<String, Weak<AtomicU64>>> {
    static COUNTERS: OnceLock<Mutex<HashMap<String, Weak<AtomicU64>>>> = OnceLock::new();
    COUNTERS.get_or_init(Default::default)
}

/// The packets one instance dropped for full client buffers.
#[derive(Debug, Default)]
pub(crate) struct Drops {
    /// Of broadcasts this instance originated.
    origin: AtomicU64,
    /// Of broadcasts other instances originated (also fed by [`DropLayer`]).
    relayed: Arc<AtomicU64>,
    /// Clients closed because a packet did not fit in their buffer.
    closed: AtomicU64,
}

impl Drops {
    /// Counts `n` packets dropped, of a broadcast this instance originated (`own`) or not.
    pub(crate) fn count(&self, own: bool, n: u64) {
        let counter = if own { &self.origin } else { &*self.relayed };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts the full buffers among the failures of a broadcast; other failures are logged (for
    /// `instance`), since a full buffer is the only one a client can cause.
    pub(crate) fn count_error(&self, instance: &str, own: bool, error: BroadcastError) {
        match error {
            BroadcastError::Socket(errors) => {
                let full = errors
                    .iter()
                    .filter(|e| matches!(e, SocketError::InternalChannelFull))
                    .count() as u64;
                if full > 0 {
                    self.count(own, full);
                }
            }
            other => tracing::warn!(instance, "broadcast failed: {other}"),
        }
    }

    /// Counts a client closed because a packet did not fit in its buffer.
    pub(crate) fn client_closed(&self) {
        self.closed.fetch_add(1, Ordering::Relaxed);
    }

    /// Clients closed so far because a packet did not fit in their buffer.
    pub(crate) fn closed(&self) -> u64 {
        self.closed.load(Ordering::Relaxed)
    }

    /// Packets dropped so far: (of broadcasts this instance originated, of relayed ones).
    pub(crate) fn totals(&self) -> (u64, u64) {
        (
            self.origin.load(Ordering::Relaxed),
            self.relayed.load(Ordering::Relaxed),
        )
    }

    /// Counts, as relayed, the packets socketioxide drops while relaying to the instance whose
    /// socketioxide node id is `node_id`, for as long as these counters live.
    pub(crate) fn watch(&self, node_id: String) {
        let mut map = counters().lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, c| c.strong_count() > 0);
        map.insert(node_id, Arc::downgrade(&self.relayed));
    }
}

/// A `tracing` layer that counts socketioxide's per-packet drop warnings (see the module doc).
/// Install it with [`counting_layer`] (filtered to those warnings only, so that it does not make
/// every debug and trace event of the hot path reach the subscriber), and `logging::quiet` on the
/// log filter.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DropLayer;

fn is_redis_rs(target: &str) -> bool {
    target == REDIS_RS || target.starts_with("redis::")
}

fn is_counted(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == tracing::Level::WARN && (meta.target() == SOURCE || is_redis_rs(meta.target()))
}

/// `DropLayer`, seeing only the warnings it counts.
pub fn counting_layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    // The hint keeps tracing's global max level where the log filter puts it, so disabled
    // debug/trace callsites of the hot path stay free.
    DropLayer.with_filter(
        FilterFn::new(is_counted as fn(&tracing::Metadata<'_>) -> bool)
            .with_max_level_hint(tracing::level_filters::LevelFilter::WARN),
    )
}

#[derive(Default)]
struct Fields {
    message: String,
    node_id: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "node_id" => {
                let _ = write!(self.node_id, "{value:?}");
            }
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "node_id" {
            self.node_id.push_str(value);
        }
    }
}

impl<S: Subscriber> Layer<S> for DropLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let target = event.metadata().target();
        if is_redis_rs(target) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            let mut warnings = redis_warnings().lock().unwrap_or_else(|p| p.into_inner());
            warnings.0 += 1;
            warnings.1 = fields.message;
            return;
        }
        if target != SOURCE {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let dropped = fields.message.matches("InternalChannelFull").count() as u64;
        if dropped == 0 {
            return;
        }
        let counter = counters()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fields.node_id)
            .and_then(Weak::upgrade);
        if let Some(counter) = counter {
            counter.fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

/// Logs, once per `every` in which something was dropped, how many packets `instance` dropped
/// for clients that could not keep up.
pub(crate) async fn report(drops: Arc<Drops>, instance: String, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last_origin, mut last_relayed) = (0, 0);
    loop {
        tick.tick().await;
        // Process-wide: whichever instance's report comes first says it.
        let (repeated, last) =
            std::mem::take(&mut *redis_warnings().lock().unwrap_or_else(|p| p.into_inner()));
        if repeated > 0 {
            tracing::warn!(
                count = repeated,
                "redis-rs warned {repeated} times in the last {every:?}; the last: {last}"
            );
        }
        let (origin, relayed) = drops.totals();
        if (origin, relayed) != (last_origin, last_relayed) {
            tracing::warn!(
                %instance,
                origin = origin - last_origin,
                relayed = relayed - last_relayed,
                total = origin + relayed,
                "packets dropped for clients that cannot keep up in the last {every:?} \
                 (their buffer was full); the heartbeat disconnects such clients"
            );
            (last_origin, last_relayed) = (origin, relayed);
        }
    }
}
