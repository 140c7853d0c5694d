//! `gridcast bench`: load and latency across a cluster, optionally side by side with another.
//!
//! `clients` probes connect round-robin to the URLs; together they send `rate` plain `message`
//! strings per second for `duration` (each client an equal share, below the per-socket rate
//! limit), and every client must receive every message. Each text carries its send time on the
//! benchmark's one monotonic clock, so a delivery's latency (sender → server → Redis → other
//! server → receiver) needs no clock agreement. Only the seed-compatible `message` contract is
//! used, so the same load runs against a Node.js socket.io + @socket.io/redis-adapter cluster.

use std::{process::ExitCode, time::Duration};

use gridcast_shared::event;
use serde::Serialize;
use serde_json::Value;
use tokio::time::{Instant, MissedTickBehavior};

use super::probe::{Incoming, Probe, ProbeError};
use crate::cli::BenchConfig;

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The cluster.
    pub urls: Vec<String>,
    /// Clients connected.
    pub clients: usize,
    /// Messages sent.
    pub sent: u64,
    /// Messages the cluster refused with a readable `rate_limited` error (never broadcast, so
    /// not expected anywhere; counted, not lost).
    pub refused: u64,
    /// Deliveries expected ((sent − refused) × clients).
    pub expected: u64,
    /// Deliveries received.
    pub received: u64,
    /// Deliveries that arrived more than once (counted beyond the first).
    pub duplicates: u64,
    /// Deliveries per second over the send window.
    pub deliveries_per_sec: f64,
    /// Latency percentiles in milliseconds: p50, p90, p99, p99.9, max.
    pub latency_ms: [f64; 5],
}

const LABELS: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

/// Runs the load against `urls`.
pub async fn run(
    urls: &[String],
    clients: usize,
    rate: u32,
    duration: Duration,
) -> Result<BenchReport, ProbeError> {
    let run_id = format!("{:08x}", rand::random::<u32>());
    let mut probes = Vec::with_capacity(clients);
    for i in 0..clients {
        let mut p = Probe::connect(&urls[i % urls.len()]).await?;
        p.ignore(event::PRESENCE);
        probes.push(p);
    }
    // Let every subscription settle before the clock starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    let senders: Vec<_> = probes.iter().map(Probe::sender).collect();
    let prefix = format!("gcb {run_id} ");

    // Receivers: one task per client, recording latencies in microseconds.
    let stop_at = start + duration + Duration::from_secs(3);
    let mut readers = Vec::with_capacity(clients);
    for mut probe in probes {
        let prefix = prefix.clone();
        readers.push(tokio::spawn(async move {
            let mut seen: Vec<u64> = Vec::new();
            let mut latencies: Vec<u32> = Vec::new();
            let mut refused = 0u64;
            loop {
                let left = stop_at.saturating_duration_since(Instant::now());
                match probe.next(left).await {
                    Ok(Incoming::Event { event, args, at }) if event == event::MESSAGE => {
                        let Some(text) = args.first().and_then(Value::as_str) else {
                            continue;
                        };
                        let Some((seq, sent_us)) = parse(text, &prefix) else {
                            continue;
                        };
                        seen.push(seq);
                        let latency =
                            (at.duration_since(start).as_micros() as u64).saturating_sub(sent_us);
                        latencies.push(latency.min(u64::from(u32::MAX)) as u32);
                    }
                    // Our own sends that the server refused (a gridcast server says why).
                    Ok(Incoming::Event { event, args, .. })
                        if event == event::ERROR
                            && args.first().is_some_and(|e| e["code"] == "rate_limited") =>
                    {
                        refused += 1;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            probe.close();
            (seen, latencies, refused)
        }));
    }

    // Senders: a shared ticker; each tick the next client in turn sends.
    let total = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    for seq in 0..total {
        tick.tick().await;
        let sent_us = start.elapsed().as_micros() as u64;
        let text = format!("{prefix}{seq} {sent_us}");
        senders[(seq as usize) % senders.len()](text)?;
    }
    let send_window = start.elapsed();

    let mut received = 0u64;
    let mut duplicates = 0u64;
    let mut refused = 0u64;
    let mut all: Vec<u32> = Vec::with_capacity((total as usize) * clients);
    for reader in readers {
        let (mut seen, latencies, refused_here) = reader.await.expect("reader task");
        refused += refused_here;
        let n = seen.len() as u64;
        seen.sort_unstable();
        seen.dedup();
        duplicates += n - seen.len() as u64;
        received += seen.len() as u64;
        all.extend(latencies);
    }
    all.sort_unstable();
    let pct = |p: f64| {
        if all.is_empty() {
            f64::NAN
        } else {
            let i = ((all.len() as f64 - 1.0) * p).round() as usize;
            f64::from(all[i]) / 1000.0
        }
    };
    Ok(BenchReport {
        urls: urls.to_vec(),
        clients,
        sent: total,
        refused,
        expected: total.saturating_sub(refused) * clients as u64,
        received,
        duplicates,
        deliveries_per_sec: received as f64 / send_window.as_secs_f64(),
        latency_ms: [pct(0.5), pct(0.9), pct(0.99), pct(0.999), pct(1.0)],
    })
}

fn parse(text: &str, prefix: &str) -> Option<(u64, u64)> {
    let (seq, sent) = text.strip_prefix(prefix)?.split_once(' ')?;
    Some((seq.parse().ok()?, sent.parse().ok()?))
}

/// `gridcast bench` as a command: the load against `--urls`, then against `--against` if given,
/// printed side by side (or as JSON with `--json`) on stdout.
pub async fn command(config: &BenchConfig) -> Result<ExitCode, ProbeError> {
    let mut reports = Vec::new();
    for urls in [&config.urls, &config.against] {
        if !urls.is_empty() {
            reports.push(run(urls, config.clients, config.rate, config.duration).await?);
        }
    }
    if config.json {
        println!(
            "{}",
            serde_json::to_string(&reports).expect("reports serialise")
        );
    } else {
        print!(
            "{}",
            render(&reports, &config.labels, config.rate, config.duration)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One report, or two side by side with the ratio (second ÷ first) per row; columns are named by
/// `labels`, or by their first URL.
pub fn render(reports: &[BenchReport], labels: &[String], rate: u32, duration: Duration) -> String {
    let mut out = format!(
        "gridcast bench: {} clients, {rate} msg/s for {duration:?} (every client receives every message)\n\n",
        reports.first().map_or(0, |r| r.clients)
    );
    out.push_str(&format!("{:<22}", ""));
    for (i, r) in reports.iter().enumerate() {
        let name = labels
            .get(i)
            .cloned()
            .or_else(|| r.urls.first().cloned())
            .unwrap_or_default();
        out.push_str(&format!("{name:>26}"));
    }
    if reports.len() == 2 {
        out.push_str(&format!("{:>12}", "ratio 2/1"));
    }
    out.push('\n');
    let row = |label: &str, values: Vec<f64>, fmt: &dyn Fn(f64) -> String| {
        let mut line = format!("{label:<22}");
        for v in &values {
            line.push_str(&format!("{:>26}", fmt(*v)));
        }
        if let [a, b] = values[..] {
            let ratio = if a == 0.0 && b == 0.0 {
                "–".to_owned()
            } else {
                format!("{:.2}", b / a)
            };
            line.push_str(&format!("{ratio:>12}"));
        }
        line.push('\n');
        line
    };
    out.push_str(&row(
        "delivered / expected",
        reports
            .iter()
            .map(|r| r.received as f64 / r.expected.max(1) as f64 * 100.0)
            .collect(),
        &|v| format!("{v:.3} %"),
    ));
    out.push_str(&row(
        "refused (rate limit)",
        reports.iter().map(|r| r.refused as f64).collect(),
        &|v| format!("{v}"),
    ));
    out.push_str(&row(
        "duplicates",
        reports.iter().map(|r| r.duplicates as f64).collect(),
        &|v| format!("{v}"),
    ));
    out.push_str(&row(
        "deliveries/s",
        reports.iter().map(|r| r.deliveries_per_sec).collect(),
        &|v| format!("{v:.0}"),
    ));
    for (i, label) in LABELS.iter().enumerate() {
        out.push_str(&row(
            &format!("latency {label}"),
            reports.iter().map(|r| r.latency_ms[i]).collect(),
            &|v| format!("{v:.2} ms"),
        ));
    }
    out
}
