//! The load of one run: connects the clients (in this process, and with `--procs` in workers),
//! starts the run's clock, sends this process's part of the messages at the asked rate (the
//! workers send theirs), runs the faults at their times, and hands what all clients sent and
//! recorded to the summary.
//!
//! Invariants: every time of a run is on one monotonic clock, started [`SETTLE`] after all
//! clients connected, once every worker knows it; which process sends which message, and when,
//! is `clients::send_share`'s; the clients keep recording until `--drain` (3 s unless told)
//! after the planned end of sending, so late deliveries count as received, not lost.

use std::{
    net::IpAddr,
    os::fd::AsFd,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{task::JoinHandle, time::Instant};

use super::{
    clients::{Clients, SendPlan, Started, at_once, send_share},
    procs::{Share, Worker, shares},
    report::{BenchReport, ms},
    summary::{Connected, FaultRun, Sent, summarise},
};
use crate::{cli::Fault, tools::probe::ProbeError};

/// From all clients connected until the start: their subscriptions settle, and the workers are
/// told the start before it comes.
const SETTLE: Duration = Duration::from_millis(300);

/// What one run offers a cluster.
pub(super) struct Load<'a> {
    /// The cluster's base URLs; client `i` starts on `urls[i % urls.len()]`.
    pub(super) urls: &'a [String],
    /// Clients, each a [`Follower`](crate::tools::follow::Follower) that receives every message.
    pub(super) clients: usize,
    /// Messages per second, all clients together.
    pub(super) rate: u32,
    /// How long the clients send.
    pub(super) duration: Duration,
    /// How long the clients keep reading after the last send.
    pub(super) drain: Duration,
    /// Commands to run during the load, each at its time.
    pub(super) faults: &'a [Fault],
    /// Processes holding the clients, each sending its part: this one and `procs - 1` workers.
    pub(super) procs: usize,
    /// Local addresses the clients connect from, in turn (empty: the system's choice).
    pub(super) local_addrs: &'a [IpAddr],
}

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
    // The workers connect their shares while this process connects its own (the first).
    let shares = shares(load.clients, load.procs.clamp(1, load.clients.max(1)));
    let at_once = at_once(shares.len());
    let mut workers = Vec::with_capacity(shares.len() - 1);
    for clients in &shares[1..] {
        let share = Share {
            urls: load.urls.to_vec(),
            clients: clients.clone(),
            at_once,
            local_addrs: load.local_addrs.to_vec(),
            prefix: prefix.to_string(),
            capacity: total,
        };
        workers.push(Worker::start(&share).await?);
    }
    let own = Clients::connect(
        load.urls,
        (shares[0].clone(), at_once),
        load.local_addrs,
        &prefix,
        &received,
        total,
    )
    .await;
    let (mut connected, mut connect_failed) = (own.connected.len(), own.failed);
    for worker in &mut workers {
        let (ok, failed) = worker.ready().await?;
        connected += ok;
        connect_failed += failed;
    }
    let connect_ms = ms(connecting.elapsed());
    if let Some(label) = progress {
        eprintln!(
            "gridcast bench [{label}] {connected} clients connected in {connect_ms:.0} ms{}",
            if workers.is_empty() {
                String::new()
            } else {
                format!(" ({} processes)", workers.len() + 1)
            }
        );
    }
    // Every subscription settles before the clock starts, and every worker knows the start
    // before it comes (a delivery read before a recorder knows the start would be misdated).
    let start = Instant::now() + SETTLE;
    let stop_at = start + load.duration + load.drain;
    let procs = shares.len();
    let plan = |index| SendPlan {
        rate: load.rate,
        total,
        index,
        procs,
    };
    for (i, worker) in workers.iter_mut().enumerate() {
        worker.go(start, stop_at, plan(i + 1)).await?;
    }

    let fault_tasks: Vec<_> = load
        .faults
        .iter()
        .cloned()
        .map(|fault| run_fault(fault, start))
        .collect();

    let Started { senders, records } = own.start(start, stop_at);

    // This process's part of the messages (all of them without workers), with progress.
    let (part, to) = if workers.is_empty() {
        (format!("{total}"), "")
    } else {
        (
            format!("this process's {}", total.div_ceil(procs as u64)),
            " to its clients",
        )
    };
    let mut last_progress = start;
    let own_sends = send_share(&senders, &prefix, start, plan(0), |sent| {
        if let Some(label) = progress
            && last_progress.elapsed() >= Duration::from_secs(1)
        {
            last_progress = Instant::now();
            eprintln!(
                "gridcast bench [{label}] {:>5.1}s sent {sent} of {part}, deliveries{to} {}",
                start.elapsed().as_secs_f64(),
                received.load(Ordering::Relaxed)
            );
        }
    })
    .await;
    // The window ends with the last planned message, whichever process sends it.
    let last_tick =
        Duration::from_secs_f64(total.saturating_sub(1) as f64 / f64::from(load.rate.max(1)));
    tokio::time::sleep_until(start + last_tick).await;
    let send_window = start.elapsed();

    let mut faults_run = Vec::new();
    for task in fault_tasks {
        if let Ok(fault) = task.await {
            faults_run.push(fault);
        }
    }
    let mut all_seen = records.await.expect("reader tasks");
    let mut all_sends = vec![own_sends];
    for worker in workers {
        let (sends, seen) = worker.done(stop_at).await?;
        all_sends.push(sends);
        all_seen.extend(seen);
    }
    let sent: u64 = all_sends.iter().map(|s| s.count).sum();
    // When each message was sent (µs since the start), by sequence number; never for one whose
    // process had no client to send it.
    let mut sent_at = vec![u64::MAX; total as usize];
    for (seq, at) in all_sends.iter().flat_map(|s| &s.at_us) {
        if let Some(slot) = sent_at.get_mut(*seq as usize) {
            *slot = *at;
        }
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
