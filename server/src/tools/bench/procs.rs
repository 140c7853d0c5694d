//! `--procs N`: a run's clients spread over N processes, for loads beyond what one process may
//! hold (every connection is an open file, and the limit per process cannot always be raised).
//! The process running `gridcast bench` holds the first share; it starts `N - 1` copies of
//! itself as `gridcast bench-worker` for the others. Every process sends its part of the
//! messages from its own clients (see [`super::clients`]).
//!
//! The conversation, one JSON line each way over the worker's stdin and stdout:
//! 1. bench → worker: a [`Share`] (which clients, the run's prefix);
//! 2. worker → bench: [`Ready`], once its clients connected;
//! 3. bench → worker: [`Go`], the run's start and end on `CLOCK_MONOTONIC`, and which messages
//!    it sends;
//! 4. worker → bench: [`Done`]: what it sent, and what each of its clients saw, after the end.
//!
//! A worker whose stdin closes (the bench is gone) exits at once, wherever it is; the bench
//! gives a worker a deadline for each answer, so a stuck worker fails the run instead of
//! hanging it.
//!
//! Invariants: every process measures on the same clock. `CLOCK_MONOTONIC` is one clock for the
//! whole machine, and Rust's `Instant` reads it on Linux, so a start sent as its nanoseconds is
//! the same instant in every process, and a latency measured in a worker compares a send time
//! and an arrival time of the same clock, as in one process. A worker that fails or dies is an
//! error of the run, never a quiet share of missing clients.

use std::{net::IpAddr, ops::Range, process::Stdio, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, ChildStdout},
    time::Instant,
};

use super::{
    clients::{Clients, SendPlan, Sends, Started, send_share},
    record::{Delivery, Seen},
    report::ConnectionLost,
};
use crate::tools::probe::ProbeError;

/// Which clients a worker holds, and what it needs to record them.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Share {
    /// The cluster's base URLs; client `i` starts on `urls[i % urls.len()]`.
    pub(super) urls: Vec<String>,
    /// The clients' indices in the run.
    pub(super) clients: Range<usize>,
    /// How many of them connect at the same time.
    pub(super) at_once: usize,
    /// Local addresses to connect from, client `i` from `local_addrs[i % len]` (empty: any).
    pub(super) local_addrs: Vec<IpAddr>,
    /// Texts of this run start with it.
    pub(super) prefix: String,
    /// Messages the run sends (room reserved per client).
    pub(super) capacity: u64,
}

/// A worker's clients are connected.
#[derive(Debug, Serialize, Deserialize)]
struct Ready {
    connected: usize,
    failed: usize,
}

/// The run's clock: start and end of recording, in `CLOCK_MONOTONIC` nanoseconds, and the
/// worker's part of the sending.
#[derive(Debug, Serialize, Deserialize)]
struct Go {
    start_ns: u64,
    stop_ns: u64,
    plan: SendPlan,
}

/// What a worker did: its sends, and what each of its clients saw.
#[derive(Debug, Serialize, Deserialize)]
struct Done {
    sends: Sends,
    seen: Vec<SeenWire>,
}

/// How long a worker may take to connect its clients, beyond its clients' own connect timeouts
/// (5 s each, `at_once` at a time).
const READY_SLACK: Duration = Duration::from_secs(30);

/// How long after the end of recording a worker may take to hand its records over.
const DONE_SLACK: Duration = Duration::from_secs(30);

/// One client's [`Seen`] on the wire: deliveries as `[seq, at_us]` pairs.
#[derive(Debug, Serialize, Deserialize)]
struct SeenWire {
    deliveries: Vec<(u32, u64)>,
    latencies: Vec<u32>,
    recovered: u64,
    refused: u64,
    welcomed: bool,
    lost: Vec<ConnectionLost>,
}

impl From<Seen> for SeenWire {
    fn from(seen: Seen) -> Self {
        Self {
            deliveries: seen
                .deliveries
                .iter()
                .map(|d| {
                    let Delivery { seq, at_us } = *d;
                    (seq, at_us)
                })
                .collect(),
            latencies: seen.latencies,
            recovered: seen.recovered,
            refused: seen.refused,
            welcomed: seen.welcomed,
            lost: seen.lost,
        }
    }
}

impl From<SeenWire> for Seen {
    fn from(wire: SeenWire) -> Self {
        Self {
            deliveries: wire
                .deliveries
                .into_iter()
                .map(|(seq, at_us)| Delivery { seq, at_us })
                .collect(),
            latencies: wire.latencies,
            recovered: wire.recovered,
            refused: wire.refused,
            welcomed: wire.welcomed,
            lost: wire.lost,
        }
    }
}

/// Now on `CLOCK_MONOTONIC`, in nanoseconds.
fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// `at` in `CLOCK_MONOTONIC` nanoseconds (`at` in the past or the near future).
fn to_ns(at: Instant) -> u64 {
    let (now, ns) = (Instant::now(), monotonic_ns());
    if at <= now {
        ns - (now - at).as_nanos() as u64
    } else {
        ns + (at - now).as_nanos() as u64
    }
}

/// The instant of `CLOCK_MONOTONIC` nanoseconds `ns` in this process.
fn from_ns(ns: u64) -> Instant {
    let (now, now_ns) = (Instant::now(), monotonic_ns());
    if ns >= now_ns {
        now + Duration::from_nanos(ns - now_ns)
    } else {
        now.checked_sub(Duration::from_nanos(now_ns - ns))
            .unwrap_or(now)
    }
}

/// Splits `clients` into `procs` shares of consecutive indices, as even as they go.
pub(super) fn shares(clients: usize, procs: usize) -> Vec<Range<usize>> {
    let procs = procs.max(1);
    (0..procs)
        .map(|p| clients * p / procs..clients * (p + 1) / procs)
        .collect()
}

fn worker_error(what: impl std::fmt::Display) -> ProbeError {
    ProbeError::Worker(what.to_string())
}

async fn send_line(to: &mut ChildStdin, value: &impl Serialize) -> Result<(), ProbeError> {
    let mut line = serde_json::to_vec(value).expect("worker messages serialise");
    line.push(b'\n');
    to.write_all(&line).await.map_err(worker_error)?;
    to.flush().await.map_err(worker_error)
}

async fn read_line<T: DeserializeOwned>(
    from: &mut BufReader<ChildStdout>,
) -> Result<T, ProbeError> {
    let mut line = String::new();
    match from.read_line(&mut line).await {
        Ok(0) => Err(worker_error("exited early (its stderr says why)")),
        Ok(_) => serde_json::from_str(&line).map_err(worker_error),
        Err(e) => Err(worker_error(e)),
    }
}

/// A worker process, seen from the bench.
pub(super) struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Its clients, and how many connect at once (for its deadline).
    clients: usize,
    at_once: usize,
}

impl Worker {
    /// Starts a worker (this executable, `bench-worker`) and hands it `share`.
    pub(super) async fn start(share: &Share) -> Result<Self, ProbeError> {
        let exe = std::env::current_exe().map_err(worker_error)?;
        let mut child = tokio::process::Command::new(exe)
            .arg("bench-worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(worker_error)?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        send_line(&mut stdin, share).await?;
        Ok(Self {
            child,
            stdin,
            stdout,
            clients: share.clients.len(),
            at_once: share.at_once.max(1),
        })
    }

    /// Waits until the worker's clients connected: how many did, and how many could not. Fails
    /// when it takes longer than its clients could (each gives up after 5 s), plus
    /// [`READY_SLACK`].
    pub(super) async fn ready(&mut self) -> Result<(usize, usize), ProbeError> {
        let rounds = self.clients.div_ceil(self.at_once) as u32;
        let deadline = Duration::from_secs(5) * rounds + READY_SLACK;
        let ready: Ready = tokio::time::timeout(deadline, read_line(&mut self.stdout))
            .await
            .map_err(|_| worker_error(format!("its clients not connected after {deadline:?}")))??;
        Ok((ready.connected, ready.failed))
    }

    /// Starts the worker's clock at `start` (its clients record until `stop_at`) with its part of
    /// the sending.
    pub(super) async fn go(
        &mut self,
        start: Instant,
        stop_at: Instant,
        plan: SendPlan,
    ) -> Result<(), ProbeError> {
        let go = Go {
            start_ns: to_ns(start),
            stop_ns: to_ns(stop_at),
            plan,
        };
        send_line(&mut self.stdin, &go).await
    }

    /// What the worker sent and what each of its clients saw, once it stopped recording at
    /// `stop_at` (at most [`DONE_SLACK`] later).
    pub(super) async fn done(mut self, stop_at: Instant) -> Result<(Sends, Vec<Seen>), ProbeError> {
        let done: Done = tokio::time::timeout_at(stop_at + DONE_SLACK, read_line(&mut self.stdout))
            .await
            .map_err(|_| worker_error(format!("no records {DONE_SLACK:?} after the end")))??;
        // Closing its stdin is the worker's signal to leave, should it still be there.
        drop(self.stdin);
        let _ = self.child.wait().await;
        Ok((done.sends, done.seen.into_iter().map(Seen::from).collect()))
    }
}

/// `gridcast bench-worker`: holds the clients of the share read from stdin (see the module
/// docs), for the bench that started it.
pub async fn worker() -> Result<std::process::ExitCode, ProbeError> {
    // Returns only with an error: it leaves the process itself when done (see the end).
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = String::new();
    stdin.read_line(&mut line).await.map_err(worker_error)?;
    let share: Share = serde_json::from_str(&line).map_err(worker_error)?;
    let received = Arc::default();
    let clients = Clients::connect(
        &share.urls,
        (share.clients.clone(), share.at_once),
        &share.local_addrs,
        &share.prefix.as_str().into(),
        &received,
        share.capacity,
    )
    .await;
    let mut stdout = tokio::io::stdout();
    let ready = Ready {
        connected: clients.connected.len(),
        failed: clients.failed,
    };
    let mut out = serde_json::to_vec(&ready).expect("serialises");
    out.push(b'\n');
    stdout.write_all(&out).await.map_err(worker_error)?;
    stdout.flush().await.map_err(worker_error)?;

    line.clear();
    stdin.read_line(&mut line).await.map_err(worker_error)?;
    let go: Go = serde_json::from_str(&line).map_err(worker_error)?;
    // From now on the bench says nothing more: its stdin closing means it is gone, and so are
    // this worker's clients, at once (not at the end of a run nobody will read).
    tokio::spawn(async move {
        let mut rest = String::new();
        while !matches!(stdin.read_line(&mut rest).await, Ok(0) | Err(_)) {
            rest.clear();
        }
        std::process::exit(1);
    });
    let (start, stop_at) = (from_ns(go.start_ns), from_ns(go.stop_ns));
    let Started { senders, records } = clients.start(start, stop_at);
    let sends = send_share(&senders, &share.prefix, start, go.plan, |_| {}).await;
    let seen = records
        .await
        .expect("reader tasks")
        .into_iter()
        .map(SeenWire::from)
        .collect();
    let mut out = serde_json::to_vec(&Done { sends, seen }).expect("serialises");
    out.push(b'\n');
    stdout.write_all(&out).await.map_err(worker_error)?;
    stdout.flush().await.map_err(worker_error)?;
    // Not a return to `main`: the runtime would wait at shutdown for the stdin watcher's
    // blocking read, which only ends when the bench closes the pipe.
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_client_once_as_evenly_as_they_go() {
        assert_eq!(shares(10, 3), vec![0..3, 3..6, 6..10]);
        assert_eq!(shares(2, 4), vec![0..0, 0..1, 1..1, 1..2]);
        assert_eq!(shares(5, 1), vec![0..5]);
    }

    #[test]
    fn an_instant_survives_the_trip_through_monotonic_nanoseconds() {
        let now = Instant::now();
        for at in [
            now - Duration::from_millis(300),
            now + Duration::from_secs(2),
        ] {
            let back = from_ns(to_ns(at));
            let off = if back > at { back - at } else { at - back };
            assert!(off < Duration::from_millis(1), "{off:?} off");
        }
    }

    #[test]
    fn a_record_crosses_the_pipe_unchanged() {
        let seen = Seen {
            deliveries: vec![
                Delivery { seq: 3, at_us: 9 },
                Delivery { seq: 4, at_us: 11 },
            ],
            latencies: vec![5, 6],
            recovered: 1,
            refused: 2,
            welcomed: true,
            lost: Vec::new(),
        };
        let wire = serde_json::to_string(&SeenWire::from(seen)).unwrap();
        let back = Seen::from(serde_json::from_str::<SeenWire>(&wire).unwrap());
        assert_eq!(
            back.deliveries,
            vec![
                Delivery { seq: 3, at_us: 9 },
                Delivery { seq: 4, at_us: 11 }
            ]
        );
        assert_eq!(
            (back.latencies, back.recovered, back.refused, back.welcomed),
            (vec![5, 6], 1, 2, true)
        );
    }
}
