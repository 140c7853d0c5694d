//! What a bench run reports: [`BenchReport`] and its parts, as `--json` prints them and the
//! tables read them.
//!
//! Invariant: these types are the JSON output format. Field names, their order and their units
//! (milliseconds wherever a name ends in `_ms`, counted from the load's start for `at_ms`) change
//! only together with everything that reads the JSON (the tests, the scripts, the README's runs).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    /// The cluster's base URLs, in the order clients were spread over them.
    pub urls: Vec<String>,
    /// Clients asked for.
    pub clients: usize,
    /// Clients that could not connect at the start (the load ran with the others).
    pub connect_failed: usize,
    /// Clients that received gridcast's `welcome` (at least once: again after a reconnect). A
    /// gridcast cluster welcomes every client; servers that send none (the Node.js reference,
    /// the bare peer) show 0.
    #[serde(default)]
    pub welcomed: usize,
    /// How long all clients took to connect, `CONNECTING_AT_ONCE` (100, all processes of a run
    /// together) at a time (a connect storm: each connection's cost includes telling the others
    /// it arrived).
    pub connect_ms: f64,
    /// Messages sent.
    pub sent: u64,
    /// Messages the cluster refused with a readable `rate_limited` error (never broadcast, so
    /// not expected anywhere; counted, not lost).
    pub refused: u64,
    /// Messages that reached the cluster (received by at least one client).
    pub reached: u64,
    /// Messages sent that no client ever received: written to a connection as it died, or lost
    /// by the cluster for everyone.
    pub reached_nobody: u64,
    /// Deliveries expected: every message that reached the cluster, to every client.
    pub expected: u64,
    /// Deliveries received (each message once per client).
    pub received: u64,
    /// Of those, delivered live.
    pub live: u64,
    /// Of those, replayed after a reconnect (as the servers' `welcome.recovery` counted them).
    pub recovered: u64,
    /// Deliveries expected and never received.
    pub lost: u64,
    /// Deliveries that arrived more than once (counted beyond the first).
    pub duplicates: u64,
    /// Deliveries per second over the send window.
    pub deliveries_per_sec: f64,
    /// Live-delivery latency percentiles in milliseconds: p50, p90, p99, p99.9, max.
    pub latency_ms: [f64; 5],
    /// Per client, the longest time without a delivery during the load, in milliseconds.
    pub longest_gap_ms: Vec<f64>,
    /// Connections lost, with when (ms after the start) and what happened next.
    pub connections_lost: Vec<ConnectionLost>,
    /// The faults run, and how the cluster took them.
    pub faults: Vec<FaultReport>,
}

impl BenchReport {
    /// Connected clients of a cluster that welcomes (some client got a `welcome`) that never
    /// got theirs.
    pub fn unwelcomed(&self) -> usize {
        if self.welcomed == 0 {
            return 0;
        }
        (self.clients - self.connect_failed).saturating_sub(self.welcomed)
    }
}

/// A client's connection that ended during the load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionLost {
    /// Milliseconds after the start.
    pub at_ms: f64,
    /// The instance the client was connected to.
    pub url: String,
    /// Why the connection ended, as the client saw it (a close frame, a transport error).
    pub reason: String,
    /// Where the client went on (absent: it found no live instance).
    pub moved_to: Option<String>,
    /// How long that took, in milliseconds.
    pub moved_after_ms: Option<f64>,
}

/// One `--fault` as it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultReport {
    /// When, in milliseconds after the start.
    pub at_ms: f64,
    /// The command, as given to `sh -c`.
    pub command: String,
    /// Its exit code (absent: killed by a signal, or could not run).
    pub exit_code: Option<i32>,
    /// The time from the fault until every client had received a message sent after it
    /// (the slowest client: after a kill, one that had to move), in milliseconds; absent if
    /// some client never did.
    pub all_delivering_after_ms: Option<f64>,
    /// The time from the fault until every message sent before it (that reached the cluster)
    /// was at every client, in milliseconds (after a Redis restart: until what was queued
    /// crossed; after a kill: until the moved clients had their replay); absent if never.
    pub backlog_delivered_after_ms: Option<f64>,
}

/// The latency percentiles of [`BenchReport::latency_ms`], in its order: each one's row label
/// and its quantile.
pub(super) const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("max", 1.0),
];

/// `d` in the reports' unit, milliseconds.
pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
