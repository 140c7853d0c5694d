//! A run's records summarised into its [`BenchReport`]: deliveries expected, received, lost and
//! duplicated, latency percentiles, each client's longest silence, and how the cluster took each
//! fault.
//!
//! Invariant: a pure function of what the run recorded (no clock, no I/O). A message counts as
//! expected at every client once any client received it; one no client received is counted as
//! reaching nobody, not as lost deliveries. Times are compared on the run's one clock
//! (µs since the start), send times by sequence number from [`Sent::at_us`].

use std::{collections::HashSet, time::Duration};

use super::{
    record::{Delivery, Seen},
    report::{BenchReport, FaultReport, PERCENTILES, ms},
};

/// How the clients connected at the start.
pub(super) struct Connected {
    /// Clients asked for.
    pub(super) clients: usize,
    /// Of those, the ones that could not connect.
    pub(super) failed: usize,
    /// How long connecting them all took, in milliseconds.
    pub(super) ms: f64,
}

/// What the senders did.
pub(super) struct Sent<'a> {
    /// Messages handed to a live connection.
    pub(super) count: u64,
    /// When each message was sent (µs since the start), by sequence number; also those whose
    /// send failed.
    pub(super) at_us: &'a [u64],
    /// From the start until the last message was sent.
    pub(super) window: Duration,
}

/// A `--fault` command as it ran.
pub(super) struct FaultRun {
    /// When it started, after the start of the load.
    pub(super) at: Duration,
    /// The command.
    pub(super) command: String,
    /// Its exit code (none: killed by a signal, or could not run).
    pub(super) exit_code: Option<i32>,
}

/// The report of a run against `urls`, from each client's record (`all_seen`) and the faults
/// that ran.
pub(super) fn summarise(
    urls: &[String],
    connected: &Connected,
    sent: &Sent,
    all_seen: Vec<Seen>,
    faults_run: Vec<FaultRun>,
) -> BenchReport {
    let refused: u64 = all_seen.iter().map(|s| s.refused).sum();
    let reached: HashSet<u32> = all_seen
        .iter()
        .flat_map(|s| s.deliveries.iter().map(|d| d.seq))
        .collect();
    let reached_count = reached.len() as u64;
    let mut received = 0u64;
    let mut duplicates = 0u64;
    let mut longest_gap_ms = Vec::new();
    let mut latencies: Vec<u32> = Vec::new();
    let window_us = sent.window.as_micros() as u64;
    for seen in &all_seen {
        let unique: HashSet<u32> = seen.deliveries.iter().map(|d| d.seq).collect();
        duplicates += seen.deliveries.len() as u64 - unique.len() as u64;
        received += unique.len() as u64;
        latencies.extend(&seen.latencies);
        longest_gap_ms.push(longest_gap_us(seen, window_us) as f64 / 1000.0);
    }
    let expected = reached_count * all_seen.len() as u64;
    let recovered: u64 = all_seen.iter().map(|s| s.recovered).sum();
    latencies.sort_unstable();
    let pct = |p: f64| {
        if latencies.is_empty() {
            f64::NAN
        } else {
            let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
            f64::from(latencies[i]) / 1000.0
        }
    };
    let faults = faults_run
        .into_iter()
        .map(|fault| fault_report(fault, &all_seen, sent.at_us))
        .collect();
    BenchReport {
        urls: urls.to_vec(),
        clients: connected.clients,
        connect_failed: connected.failed,
        welcomed: all_seen.iter().filter(|s| s.welcomed).count(),
        connect_ms: connected.ms,
        sent: sent.count,
        refused,
        reached: reached_count,
        reached_nobody: sent
            .count
            .saturating_sub(refused)
            .saturating_sub(reached_count),
        expected,
        received,
        live: received.saturating_sub(recovered),
        recovered,
        lost: expected.saturating_sub(received),
        duplicates,
        deliveries_per_sec: received as f64 / sent.window.as_secs_f64(),
        latency_ms: PERCENTILES.map(|(_, p)| pct(p)),
        longest_gap_ms,
        connections_lost: all_seen.into_iter().flat_map(|s| s.lost).collect(),
        faults,
    }
}

/// The longest silence of one client during the send window (µs), edges included.
fn longest_gap_us(seen: &Seen, window_us: u64) -> u64 {
    let mut last = 0u64;
    let mut gap = 0u64;
    for at in seen
        .deliveries
        .iter()
        .map(|d| d.at_us)
        .filter(|at| *at <= window_us)
    {
        gap = gap.max(at.saturating_sub(last));
        last = at;
    }
    gap.max(window_us.saturating_sub(last))
}

/// How the cluster took `fault`: until every client received a message sent after it, and until
/// everything sent before it was everywhere.
fn fault_report(fault: FaultRun, all_seen: &[Seen], sent_at: &[u64]) -> FaultReport {
    let sent_of = |d: &Delivery| sent_at.get(d.seq as usize).copied().unwrap_or(u64::MAX);
    let at_us = fault.at.as_micros() as u64;
    // For each client: its first delivery of a message sent after the fault.
    let firsts: Vec<Option<u64>> = all_seen
        .iter()
        .map(|seen| {
            seen.deliveries
                .iter()
                .filter(|d| sent_of(d) >= at_us)
                .map(|d| d.at_us)
                .min()
        })
        .collect();
    let all_delivering_after_ms = firsts
        .iter()
        .map(|f| f.map(|t| (t - at_us) as f64 / 1000.0))
        .try_fold(0f64, |acc, f| f.map(|f| acc.max(f)));
    // Every message sent before the fault (that reached the cluster), at every client.
    let before: HashSet<u32> = all_seen
        .iter()
        .flat_map(|s| s.deliveries.iter())
        .filter(|d| sent_of(d) < at_us)
        .map(|d| d.seq)
        .collect();
    let backlog_delivered_after_ms = all_seen
        .iter()
        .map(|seen| {
            let mut got = HashSet::new();
            let mut last = at_us;
            for d in &seen.deliveries {
                if sent_of(d) < at_us {
                    got.insert(d.seq);
                    last = last.max(d.at_us);
                }
            }
            (got.len() == before.len()).then(|| (last - at_us) as f64 / 1000.0)
        })
        .try_fold(0f64, |acc, t| t.map(|t| acc.max(t)));
    FaultReport {
        at_ms: ms(fault.at),
        command: fault.command,
        exit_code: fault.exit_code,
        all_delivering_after_ms,
        backlog_delivered_after_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_losses_duplicates_gaps_and_fault_recovery_from_the_send_times() {
        let seen = |deliveries: &[(u32, u64)]| Seen {
            deliveries: deliveries
                .iter()
                .map(|&(seq, at_us)| Delivery { seq, at_us })
                .collect(),
            welcomed: true,
            ..Seen::default()
        };
        let sent_at = [0, 1000, 2000, 3000];
        let report = summarise(
            &["http://a".to_owned()],
            &Connected {
                clients: 2,
                failed: 0,
                ms: 1.0,
            },
            &Sent {
                count: 4,
                at_us: &sent_at,
                window: Duration::from_millis(4),
            },
            vec![
                seen(&[(0, 500), (1, 1200), (2, 2600), (3, 3100)]),
                // Message 1 arrives after the fault, 2 twice, 3 never.
                seen(&[(0, 600), (1, 1900), (2, 2500), (2, 2700)]),
            ],
            vec![FaultRun {
                at: Duration::from_micros(1500),
                command: "kill".to_owned(),
                exit_code: Some(0),
            }],
        );
        assert_eq!(
            (report.reached, report.expected, report.received),
            (4, 8, 7)
        );
        assert_eq!((report.lost, report.duplicates), (1, 1));
        assert_eq!(report.longest_gap_ms, vec![1.4, 1.3]);
        let fault = &report.faults[0];
        // The first message sent after the fault reached the slower client 1.1 ms after it.
        assert_eq!(fault.all_delivering_after_ms, Some(1.1));
        // What was sent before it was everywhere 0.4 ms after it.
        assert_eq!(fault.backlog_delivered_after_ms, Some(0.4));
    }
}
