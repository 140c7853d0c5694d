//! `gridcast bench`: load and latency across a cluster, optionally side by side with another.
//!
//! `clients` probes connect round-robin to the URLs; together they send `rate` plain `message`
//! strings per second for `duration` (each client an equal share, below the per-socket rate
//! limit), and every client must receive every message. Each text carries its send time on the
//! benchmark's one monotonic clock, so a delivery's latency (sender → server → Redis → other
//! server → receiver) needs no clock agreement. Only the seed-compatible `message` contract is
//! used, so the same load runs against a Node.js socket.io + @socket.io/redis-adapter cluster.

use std::{
    borrow::Cow,
    collections::HashSet,
    process::ExitCode,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use gridcast_shared::event;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::{Instant, MissedTickBehavior};

use super::{
    follow::{Follower, Update, offset_of},
    probe::{ProbeError, SharedTap, Tap},
};
use crate::cli::{BenchConfig, Fault};

/// What one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    /// The cluster.
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
    /// How long all clients took to connect, [`CONNECTING_AT_ONCE`] at a time (a connect
    /// storm: each connection's cost includes telling the others it arrived).
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
    /// The instance.
    pub url: String,
    /// Why.
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
    /// The command.
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

const LABELS: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

/// One delivery: which message, and when it arrived (µs since the start). Packed into 12 bytes: a
/// soak keeps one per delivery per client (346M in ten minutes at half saturation); the send
/// times are kept once per message, not per delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed(4))]
struct Delivery {
    seq: u32,
    at_us: u64,
}

const _: () = assert!(std::mem::size_of::<Delivery>() == 12);

/// What one client saw.
#[derive(Debug, Default)]
struct Seen {
    /// In arrival order.
    deliveries: Vec<Delivery>,
    latencies: Vec<u32>,
    recovered: u64,
    refused: u64,
    welcomed: bool,
    lost: Vec<ConnectionLost>,
}

/// One client's [`Tap`]: records each `message` of the run as its frame is read, in the
/// connection's reader task, reading only the text and the offset out of the JSON (no tree, no
/// channel hop per delivery: a generator that costs less than the servers it measures).
struct Recorder {
    /// Texts of this run start with it.
    prefix: Arc<str>,
    /// The run's clock (set when the load starts).
    start: Instant,
    /// Deliveries of the run so far, all clients together (for progress).
    received: Arc<AtomicU64>,
    seen: Seen,
    /// How many of the next deliveries are replays (from the last `welcome`), not live.
    replaying: u64,
    /// The offset of the last broadcast, to resume from after a reconnect.
    offset: Option<String>,
}

/// A broadcast `message` frame's arguments, borrowed from the frame: `[event, text, meta?]` (the
/// event name is checked on the raw JSON before).
#[derive(Deserialize)]
struct MessageArgs<'a>(
    serde::de::IgnoredAny,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow, default)] Option<MetaOffset<'a>>,
);

/// The one field of [`MessageMeta`](gridcast_shared::MessageMeta) the generator needs.
#[derive(Deserialize)]
struct MetaOffset<'a> {
    #[serde(borrow, default)]
    offset: Option<Cow<'a, str>>,
}

impl Recorder {
    fn new(prefix: Arc<str>, received: Arc<AtomicU64>, capacity: usize) -> Self {
        Self {
            prefix,
            start: Instant::now(),
            received,
            // Room for every delivery up front: grown by doubling, the 200 clients of a soak
            // reallocated their records at the same moments (65,536, 131,072, 262,144 messages
            // in), stalling the generator long enough to leave steps in the servers' RSS.
            seen: Seen {
                deliveries: Vec::with_capacity(capacity),
                latencies: Vec::with_capacity(capacity),
                ..Seen::default()
            },
            replaying: 0,
            offset: None,
        }
    }

    /// A broadcast `message`, its arguments still in JSON; false if it is not one.
    fn message(&mut self, json: &str, at: Instant) -> bool {
        if !json.starts_with("[\"message\",") {
            return false;
        }
        let Ok(MessageArgs(_, text, meta)) = serde_json::from_str::<MessageArgs>(json) else {
            return false;
        };
        if let Some(offset) = meta.and_then(|m| m.offset) {
            // Into the same buffer every time: this runs for every delivery.
            let kept = self.offset.get_or_insert_with(String::new);
            kept.clear();
            kept.push_str(&offset);
        }
        let Some((seq, sent_us)) = parse(&text, &self.prefix) else {
            return true;
        };
        let Ok(seq) = u32::try_from(seq) else {
            return true;
        };
        self.received.fetch_add(1, Ordering::Relaxed);
        let at_us = at.saturating_duration_since(self.start).as_micros() as u64;
        self.seen.deliveries.push(Delivery { seq, at_us });
        if self.replaying > 0 {
            self.replaying -= 1;
        } else {
            let latency = at_us.saturating_sub(sent_us);
            self.seen
                .latencies
                .push(latency.min(u64::from(u32::MAX)) as u32);
        }
        true
    }

    /// Any other event: decoded in full (they are few), and left to the follower.
    fn other(&mut self, json: &str) {
        let Ok(all) = serde_json::from_str::<Vec<Value>>(json) else {
            return;
        };
        let Some((Value::String(event), args)) = all.split_first() else {
            return;
        };
        if let Some(offset) = offset_of(event, args) {
            self.offset = Some(offset);
        }
        match event.as_str() {
            event::WELCOME => {
                let replayed = args
                    .first()
                    .and_then(|w| w["recovery"]["replayed"].as_u64())
                    .unwrap_or(0);
                self.replaying = replayed;
                self.seen.recovered += replayed;
                self.seen.welcomed = true;
            }
            // Our own sends that the server refused (a gridcast server says why).
            event::ERROR if args.first().is_some_and(|e| e["code"] == "rate_limited") => {
                self.seen.refused += 1;
            }
            _ => {}
        }
    }
}

fn lock(recorder: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    recorder.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tap for Recorder {
    fn event(&mut self, json: &str, at: Instant) -> bool {
        if self.message(json, at) {
            return true;
        }
        self.other(json);
        false
    }

    fn offset(&self) -> Option<String> {
        self.offset.clone()
    }
}

/// Clients connecting at the same time at the start (each waits for its namespace connection).
pub const CONNECTING_AT_ONCE: usize = 100;

/// Runs the load against `urls`, with `faults`. A cluster that fails under it is a result: the
/// report says what was lost and when connections went; only a bad invocation is an error.
pub async fn run(
    urls: &[String],
    clients: usize,
    rate: u32,
    duration: Duration,
    faults: &[Fault],
    progress: Option<&str>,
) -> Result<BenchReport, ProbeError> {
    use futures_util::StreamExt;
    let run_id = format!("{:08x}", rand::random::<u32>());
    let prefix: Arc<str> = format!("gcb {run_id} ").into();
    let received = Arc::new(AtomicU64::new(0));
    // Every client receives every message.
    let total = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let mut followers = Vec::with_capacity(clients);
    let mut connect_failed = 0;
    let connecting = Instant::now();
    let mut connects = futures_util::stream::iter(0..clients)
        .map(|i| {
            let recorder = Arc::new(Mutex::new(Recorder::new(
                prefix.clone(),
                received.clone(),
                total as usize,
            )));
            let tap: SharedTap = recorder.clone();
            async move {
                Follower::connect_tapped(urls.to_vec(), i % urls.len().max(1), Some(tap))
                    .await
                    .map(|follower| (follower, recorder))
            }
        })
        .buffer_unordered(CONNECTING_AT_ONCE);
    while let Some(connected) = connects.next().await {
        match connected {
            Ok(follower) => followers.push(follower),
            Err(e) => {
                connect_failed += 1;
                if connect_failed == 1 {
                    eprintln!("gridcast bench: a client could not connect: {e}");
                }
            }
        }
    }
    drop(connects);
    let connect_ms = ms(connecting.elapsed());
    if let Some(label) = progress {
        eprintln!(
            "gridcast bench [{label}] {} clients connected in {connect_ms:.0} ms",
            followers.len()
        );
    }
    // Let every subscription settle before the clock starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    for (_, recorder) in &followers {
        lock(recorder).start = start;
    }
    let senders: Vec<_> = followers.iter().map(|(f, _)| f.sender()).collect();

    // Receivers: the recorders take the deliveries; one task per client follows its connection
    // (moves, losses) and hands the record over when the time is up.
    let stop_at = start + duration + Duration::from_secs(3);
    let mut readers = Vec::with_capacity(followers.len());
    for (mut follower, recorder) in followers {
        readers.push(tokio::spawn(async move {
            let mut lost = Vec::new();
            let mut lost_at: Option<(Instant, String, String)> = None;
            // One timer for the whole run, not one per message; a follower still looking for an
            // instance when the time is up is given up on.
            let stop = tokio::time::sleep_until(stop_at);
            tokio::pin!(stop);
            loop {
                let next = tokio::select! {
                    biased;
                    () = &mut stop => break,
                    next = follower.recv() => next,
                };
                match next {
                    Ok(Update::Event { .. }) => {}
                    Ok(Update::Lost { url, reason, at }) => lost_at = Some((at, url, reason)),
                    Ok(Update::Moved { to, at, .. }) => {
                        if let Some((at_lost, url, reason)) = lost_at.take() {
                            lost.push(ConnectionLost {
                                at_ms: ms(at_lost.duration_since(start)),
                                url,
                                reason,
                                moved_to: Some(to),
                                moved_after_ms: Some(ms(at.duration_since(at_lost))),
                            });
                        }
                    }
                    Err(_) => {
                        // No live instance answered: this client is gone; the rest is lost.
                        if let Some((at_lost, url, reason)) = lost_at.take() {
                            lost.push(ConnectionLost {
                                at_ms: ms(at_lost.duration_since(start)),
                                url,
                                reason,
                                moved_to: None,
                                moved_after_ms: None,
                            });
                        }
                        break;
                    }
                }
            }
            // Frames read from now on are recorded into a record nobody reads.
            let mut seen = std::mem::take(&mut lock(&recorder).seen);
            seen.lost = lost;
            seen
        }));
    }

    // Faults, each at its time.
    let fault_tasks: Vec<_> = faults
        .iter()
        .cloned()
        .map(|fault| {
            tokio::spawn(async move {
                tokio::time::sleep_until(start + fault.after).await;
                let at = start.elapsed();
                let status = tokio::process::Command::new("sh")
                    .args(["-c", &fault.command])
                    .stdin(std::process::Stdio::null())
                    .status()
                    .await;
                (at, fault.command, status.ok().and_then(|s| s.code()))
            })
        })
        .collect();

    // Senders: a shared ticker; each tick the next client in turn sends.
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut sent = 0u64;
    // When each message was sent (µs since the start), by sequence number.
    let mut sent_at = Vec::with_capacity(total as usize);
    let mut last_progress = Instant::now();
    for seq in 0..total {
        tick.tick().await;
        if senders.is_empty() {
            break;
        }
        let sent_us = start.elapsed().as_micros() as u64;
        sent_at.push(sent_us);
        let text = format!("{prefix}{seq} {sent_us}");
        if senders[(seq as usize) % senders.len()](text).is_ok() {
            sent += 1;
        }
        if let Some(label) = progress
            && last_progress.elapsed() >= Duration::from_secs(1)
        {
            last_progress = Instant::now();
            eprintln!(
                "gridcast bench [{label}] {:>5.1}s sent {sent} of {total}, deliveries {}",
                start.elapsed().as_secs_f64(),
                received.load(Ordering::Relaxed)
            );
        }
    }
    let send_window = start.elapsed();

    let mut faults_run = Vec::new();
    for task in fault_tasks {
        if let Ok(fault) = task.await {
            faults_run.push(fault);
        }
    }
    let mut all_seen = Vec::new();
    for reader in readers {
        all_seen.push(reader.await.expect("reader task"));
    }
    Ok(summarise(
        urls,
        clients,
        (connect_failed, connect_ms),
        (sent, &sent_at),
        send_window,
        all_seen,
        faults_run,
    ))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    urls: &[String],
    clients: usize,
    (connect_failed, connect_ms): (usize, f64),
    (sent, sent_at): (u64, &[u64]),
    send_window: Duration,
    all_seen: Vec<Seen>,
    faults_run: Vec<(Duration, String, Option<i32>)>,
) -> BenchReport {
    let refused: u64 = all_seen.iter().map(|s| s.refused).sum();
    let sent_of = |d: &Delivery| sent_at.get(d.seq as usize).copied().unwrap_or(u64::MAX);
    let reached: HashSet<u32> = all_seen
        .iter()
        .flat_map(|s| s.deliveries.iter().map(|d| d.seq))
        .collect();
    let reached_count = reached.len() as u64;
    let mut received = 0u64;
    let mut duplicates = 0u64;
    let mut longest_gap_ms = Vec::new();
    let mut latencies: Vec<u32> = Vec::new();
    let window_us = send_window.as_micros() as u64;
    for seen in &all_seen {
        let unique: HashSet<u32> = seen.deliveries.iter().map(|d| d.seq).collect();
        duplicates += seen.deliveries.len() as u64 - unique.len() as u64;
        received += unique.len() as u64;
        latencies.extend(&seen.latencies);
        // The longest silence during the send window, edges included.
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
        gap = gap.max(window_us.saturating_sub(last));
        longest_gap_ms.push(gap as f64 / 1000.0);
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
        .map(|(at, command, exit_code)| {
            let at_us = at.as_micros() as u64;
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
                at_ms: ms(at),
                command,
                exit_code,
                all_delivering_after_ms,
                backlog_delivered_after_ms,
            }
        })
        .collect();
    BenchReport {
        urls: urls.to_vec(),
        clients,
        connect_failed,
        welcomed: all_seen.iter().filter(|s| s.welcomed).count(),
        connect_ms,
        sent,
        refused,
        reached: reached_count,
        reached_nobody: sent.saturating_sub(refused).saturating_sub(reached_count),
        expected,
        received,
        live: received.saturating_sub(recovered),
        recovered,
        lost: expected.saturating_sub(received),
        duplicates,
        deliveries_per_sec: received as f64 / send_window.as_secs_f64(),
        latency_ms: [pct(0.5), pct(0.9), pct(0.99), pct(0.999), pct(1.0)],
        longest_gap_ms,
        connections_lost: all_seen.into_iter().flat_map(|s| s.lost).collect(),
        faults,
    }
}

fn parse(text: &str, prefix: &str) -> Option<(u64, u64)> {
    let (seq, sent) = text.strip_prefix(prefix)?.split_once(' ')?;
    Some((seq.parse().ok()?, sent.parse().ok()?))
}

/// `gridcast bench` as a command: the load against `--urls`, then against `--against` if given,
/// printed side by side (or as JSON with `--json`) on stdout.
pub async fn command(config: &BenchConfig) -> Result<ExitCode, ProbeError> {
    if config.ramp {
        return ramp_command(config).await;
    }
    let mut reports = Vec::new();
    let runs = [
        (&config.urls, &config.fault),
        (&config.against, &config.against_fault),
    ];
    for (i, (urls, faults)) in runs.into_iter().enumerate() {
        if urls.is_empty() {
            continue;
        }
        let label = label(config, i, urls);
        let progress = (!config.quiet).then_some(label.as_str());
        reports.push(
            run(
                urls,
                config.clients,
                config.rate,
                config.duration,
                faults,
                progress,
            )
            .await?,
        );
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
    let lossy = reports
        .iter()
        .any(|r| r.lost > 0 || r.duplicates > 0 || r.unwelcomed() > 0);
    Ok(if lossy {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The name of cluster `i` (0: `--urls`, 1: `--against`): its `--labels` entry, else its first URL.
fn label(config: &BenchConfig, i: usize, urls: &[String]) -> String {
    config
        .labels
        .get(i)
        .cloned()
        .unwrap_or_else(|| urls[0].clone())
}

/// `gridcast bench --ramp`: a ramp per cluster, the tables (or JSON), the plot if asked for.
async fn ramp_command(config: &BenchConfig) -> Result<ExitCode, ProbeError> {
    use super::ramp::{RampPlan, ramp, render, svg};
    if config.ramp_factor <= 1.0 || config.ramp_factor.is_nan() {
        eprintln!("gridcast bench: --ramp-factor must be above 1");
        return Ok(ExitCode::from(2));
    }
    let plan = RampPlan {
        from: config.ramp_from,
        factor: config.ramp_factor,
        step: config.duration,
        max_steps: config.ramp_steps.max(1),
        p99_limit_ms: ms(config.p99_limit),
    };
    let mut reports = Vec::new();
    for (i, urls) in [&config.urls, &config.against].into_iter().enumerate() {
        if urls.is_empty() {
            continue;
        }
        let label = label(config, i, urls);
        reports.push(ramp(&label, urls, config.clients, &plan, config.quiet).await?);
    }
    if config.json {
        println!(
            "{}",
            serde_json::to_string(&reports).expect("ramp reports serialise")
        );
    } else {
        print!("{}", render(&reports, &plan));
    }
    if let Some(path) = &config.plot {
        let title = format!(
            "gridcast bench --ramp: {} clients, every client receives every message",
            config.clients
        );
        if let Err(e) = std::fs::write(path, svg(&reports, &title)) {
            eprintln!("gridcast bench: cannot write {}: {e}", path.display());
            return Ok(ExitCode::FAILURE);
        }
        eprintln!("gridcast bench: plot written to {}", path.display());
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
    let count_row = |label: &str, f: &dyn Fn(&BenchReport) -> u64| {
        row(label, reports.iter().map(|r| f(r) as f64).collect(), &|v| {
            format!("{v}")
        })
    };
    out.push_str(&count_row("sent", &|r| r.sent));
    out.push_str(&count_row("reached the cluster", &|r| r.reached));
    out.push_str(&count_row("reached no client", &|r| r.reached_nobody));
    out.push_str(&count_row("delivered live", &|r| r.live));
    out.push_str(&count_row("recovered by replay", &|r| r.recovered));
    out.push_str(&count_row("lost", &|r| r.lost));
    out.push_str(&count_row("connections lost", &|r| {
        r.connections_lost.len() as u64
    }));
    out.push_str(&count_row("clients not connected", &|r| {
        r.connect_failed as u64
    }));
    out.push_str(&count_row("welcomed (gridcast)", &|r| r.welcomed as u64));
    out.push_str(&row(
        "all connected in",
        reports.iter().map(|r| r.connect_ms).collect(),
        &|v| format!("{v:.0} ms"),
    ));
    out.push_str(&row(
        "longest gap (max)",
        reports
            .iter()
            .map(|r| r.longest_gap_ms.iter().copied().fold(0.0, f64::max))
            .collect(),
        &|v| format!("{v:.0} ms"),
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
    for (i, r) in reports.iter().enumerate() {
        for fault in &r.faults {
            let resumed = fault
                .all_delivering_after_ms
                .map_or("some client never received again".to_owned(), |t| {
                    format!("every client receiving again {t:.0} ms later")
                });
            let backlog = fault.backlog_delivered_after_ms.map_or(
                "some message sent before it never reached every client".to_owned(),
                |t| format!("everything sent before it everywhere {t:.0} ms later"),
            );
            out.push_str(&format!(
                "\nfault on cluster {} at {:.1} s: `{}` (exit {}): {resumed}; {backlog}",
                i + 1,
                fault.at_ms / 1000.0,
                fault.command,
                fault
                    .exit_code
                    .map_or("by signal".to_owned(), |c| c.to_string()),
            ));
        }
        // Grouped by instance: a killed instance loses all its clients at once.
        let mut by_url: std::collections::BTreeMap<&str, Vec<&ConnectionLost>> = Default::default();
        for lost in &r.connections_lost {
            by_url.entry(&lost.url).or_default().push(lost);
        }
        for (url, lost) in by_url {
            let first = lost.iter().map(|l| l.at_ms).fold(f64::INFINITY, f64::min);
            let moved: Vec<f64> = lost.iter().filter_map(|l| l.moved_after_ms).collect();
            let slowest = moved.iter().copied().fold(0.0, f64::max);
            out.push_str(&format!(
                "\nconnections lost on cluster {}: {} to {url} from {:.1} s ({}); {} moved to another instance (the slowest {slowest:.0} ms later), {} found none",
                i + 1,
                lost.len(),
                first / 1000.0,
                lost[0].reason,
                moved.len(),
                lost.len() - moved.len(),
            ));
        }
    }
    if reports
        .iter()
        .any(|r| !r.faults.is_empty() || !r.connections_lost.is_empty())
    {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> Recorder {
        let mut recorder = Recorder::new("gcb r1 ".into(), Arc::default(), 4);
        recorder.start = Instant::now();
        recorder
    }

    #[test]
    fn the_recorder_takes_this_runs_messages_with_or_without_metadata() {
        let mut r = recorder();
        let at = r.start + Duration::from_millis(5);
        // From a gridcast server: text, then metadata with the offset.
        let gridcast = r#"["message","gcb r1 7 1000",{"id":"a-1","origin":"a","origin_url":"http://x","sender":"p","received_at":1,"offset":"1700000000000-3"}]"#;
        assert!(r.event(gridcast, at));
        assert_eq!(r.offset().as_deref(), Some("1700000000000-3"));
        // From a server that sends the text alone (Node.js reference, bare peer).
        assert!(r.event(r#"["message","gcb r1 8 2000"]"#, at));
        // An escaped text is read as what it says.
        assert!(r.event(r#"["message","gcb\u0020r1 9 3000"]"#, at));
        // Someone else's message is taken (nobody else wants it) but not recorded; its offset is.
        assert!(r.event(
            r#"["message","hello",{"id":"b-1","origin":"b","origin_url":"http://y","sender":"q","received_at":2,"offset":"1700000000000-4"}]"#,
            at
        ));
        assert_eq!(r.offset().as_deref(), Some("1700000000000-4"));
        let delivered: Vec<(u32, u64)> =
            r.seen.deliveries.iter().map(|d| (d.seq, d.at_us)).collect();
        assert_eq!(delivered, vec![(7, 5000), (8, 5000), (9, 5000)]);
        assert_eq!(r.seen.latencies, vec![4000, 3000, 2000]);
        assert_eq!(r.received.load(Ordering::Relaxed), 3);
    }

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
            2,
            (0, 1.0),
            (4, &sent_at),
            Duration::from_millis(4),
            vec![
                seen(&[(0, 500), (1, 1200), (2, 2600), (3, 3100)]),
                // Message 1 arrives after the fault, 2 twice, 3 never.
                seen(&[(0, 600), (1, 1900), (2, 2500), (2, 2700)]),
            ],
            vec![(Duration::from_micros(1500), "kill".to_owned(), Some(0))],
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

    #[test]
    fn the_recorder_leaves_other_events_to_the_follower_and_reads_what_it_needs() {
        let mut r = recorder();
        let at = r.start + Duration::from_millis(9);
        // A welcome after a reconnect: the next two deliveries are replays, not latency samples.
        assert!(!r.event(
            r#"["welcome",{"id":"p","session":"s","recovery":{"replayed":2}}]"#,
            at
        ));
        assert!(r.seen.welcomed);
        assert_eq!(r.seen.recovered, 2);
        for seq in 1..=3 {
            assert!(r.event(&format!(r#"["message","gcb r1 {seq} 1000"]"#), at));
        }
        assert_eq!(r.seen.deliveries.len(), 3);
        assert_eq!(r.seen.latencies, vec![8000]);
        // A refusal of our own send is counted.
        assert!(!r.event(
            r#"["error",{"event":"message","code":"rate_limited","message":"slow down"}]"#,
            at
        ));
        assert_eq!(r.seen.refused, 1);
        // Offsets of other broadcasts are kept too, for the resume.
        assert!(!r.event(
            r#"["room_message",{"room":"r","from_name":"P","text":"t","meta":{"id":"a-2","origin":"a","origin_url":"http://x","sender":"p","received_at":3,"offset":"1700000000001-0"}}]"#,
            at
        ));
        assert_eq!(r.offset().as_deref(), Some("1700000000001-0"));
        // Not JSON, or not a message after all: left alone, nothing recorded.
        assert!(!r.event(r#"["message",5]"#, at));
        assert!(!r.event("[oops", at));
        assert_eq!(r.seen.deliveries.len(), 3);
    }
}
