//! The load of one run: connects the clients, starts the run's clock, sends the messages at the
//! asked rate from the clients in turn, runs the faults at their times, and hands what the
//! clients recorded to the summary.
//!
//! Invariants: every time of a run is on one monotonic clock, started after all clients
//! connected and settled; message `seq` is sent at the `seq`-th tick (a late tick is made up at
//! once, not skipped), by client `seq % connected`; the clients keep recording until [`DRAIN`]
//! after the planned end of sending, so late deliveries count as received, not lost.

use std::os::fd::AsFd;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::StreamExt;
use tokio::{
    task::JoinHandle,
    time::{Instant, MissedTickBehavior},
};

use super::{
    record::{self, Recorder, lock, message_text},
    report::{BenchReport, ms},
    summary::{Connected, FaultRun, Sent, summarise},
};
use crate::{
    cli::Fault,
    tools::{
        follow::Follower,
        probe::{ProbeError, SharedTap},
    },
};

/// Clients connecting at the same time at the start (each waits for its namespace connection).
const CONNECTING_AT_ONCE: usize = 100;

/// How long the clients keep reading after the last send, for deliveries still under way.
const DRAIN: Duration = Duration::from_secs(3);

/// What one run offers a cluster.
pub(super) struct Load<'a> {
    /// The cluster's base URLs; client `i` starts on `urls[i % urls.len()]`.
    pub(super) urls: &'a [String],
    /// Clients, each a [`Follower`] that receives every message.
    pub(super) clients: usize,
    /// Messages per second, all clients together.
    pub(super) rate: u32,
    /// How long the clients send.
    pub(super) duration: Duration,
    /// Commands to run during the load, each at its time.
    pub(super) faults: &'a [Fault],
}

/// A connected client and the recorder its connections report to.
type Client = (Follower, Arc<Mutex<Recorder>>);

/// Runs `load`, with progress on stderr under the name `progress` if given. A cluster that fails
/// under it is a result: the report says what was lost and when connections went.
pub(super) async fn run(
    load: &Load<'_>,
    progress: Option<&str>,
) -> Result<BenchReport, ProbeError> {
    let run_id = format!("{:08x}", rand::random::<u32>());
    let prefix: Arc<str> = format!("gcb {run_id} ").into();
    let received = Arc::new(AtomicU64::new(0));
    // Every client receives every message.
    let total = (f64::from(load.rate) * load.duration.as_secs_f64()).round() as u64;
    let connecting = Instant::now();
    let (clients, connect_failed) =
        connect_all(load.urls, load.clients, &prefix, &received, total).await;
    let connect_ms = ms(connecting.elapsed());
    if let Some(label) = progress {
        eprintln!(
            "gridcast bench [{label}] {} clients connected in {connect_ms:.0} ms",
            clients.len()
        );
    }
    // Let every subscription settle before the clock starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    for (_, recorder) in &clients {
        lock(recorder).start_at(start);
    }
    let senders: Vec<_> = clients.iter().map(|(f, _)| f.sender()).collect();

    // Receivers: the recorders take the deliveries; one task per client follows its connection
    // (moves, losses) and hands the record over when the time is up.
    let stop_at = start + load.duration + DRAIN;
    let readers: Vec<_> = clients
        .into_iter()
        .map(|(follower, recorder)| {
            tokio::spawn(record::follow(follower, recorder, start, stop_at))
        })
        .collect();

    let fault_tasks: Vec<_> = load
        .faults
        .iter()
        .cloned()
        .map(|fault| run_fault(fault, start))
        .collect();

    // Senders: a shared ticker; each tick the next client in turn sends.
    let mut tick =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(load.rate.max(1))));
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
        if senders[(seq as usize) % senders.len()](message_text(&prefix, seq, sent_us)).is_ok() {
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
        load.urls,
        &Connected {
            clients: load.clients,
            failed: connect_failed,
            ms: connect_ms,
        },
        &Sent {
            count: sent,
            at_us: &sent_at,
            window: send_window,
        },
        all_seen,
        faults_run,
    ))
}

/// Connects `clients` followers round-robin to `urls`, [`CONNECTING_AT_ONCE`] at a time, each
/// with a recorder for texts starting with `prefix` and room for `capacity` deliveries; the
/// connected ones, and how many could not connect.
async fn connect_all(
    urls: &[String],
    clients: usize,
    prefix: &Arc<str>,
    received: &Arc<AtomicU64>,
    capacity: u64,
) -> (Vec<Client>, usize) {
    let mut connected = Vec::with_capacity(clients);
    let mut failed = 0;
    let mut connects = futures_util::stream::iter(0..clients)
        .map(|i| {
            let recorder = Arc::new(Mutex::new(Recorder::new(
                prefix.clone(),
                received.clone(),
                capacity as usize,
            )));
            let tap: SharedTap = recorder.clone();
            async move {
                Follower::connect_tapped(urls.to_vec(), i % urls.len().max(1), Some(tap))
                    .await
                    .map(|follower| (follower, recorder))
            }
        })
        .buffer_unordered(CONNECTING_AT_ONCE);
    while let Some(client) = connects.next().await {
        match client {
            Ok(client) => connected.push(client),
            Err(e) => {
                failed += 1;
                if failed == 1 {
                    eprintln!("gridcast bench: a client could not connect: {e}");
                }
            }
        }
    }
    (connected, failed)
}

/// Runs `fault`'s command with `sh -c` at its time after `start`. What it prints goes to stderr:
/// stdout carries only the report (`--json` is one JSON object).
fn run_fault(fault: Fault, start: Instant) -> JoinHandle<FaultRun> {
    tokio::spawn(async move {
        tokio::time::sleep_until(start + fault.after).await;
        let at = start.elapsed();
        let mut command = tokio::process::Command::new("sh");
        command
            .args(["-c", &fault.command])
            .stdin(std::process::Stdio::null());
        if let Ok(stderr) = std::io::stderr().as_fd().try_clone_to_owned() {
            command.stdout(std::process::Stdio::from(stderr));
        }
        let status = command.status().await;
        FaultRun {
            at,
            command: fault.command,
            exit_code: status.ok().and_then(|s| s.code()),
        }
    })
}
