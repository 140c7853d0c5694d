//! A run's clients in one process: connected with a recorder each, sending this process's part
//! of the messages, then followed until the end of recording. The bench process and each
//! `--procs` worker hold their share this way.
//!
//! Invariants: client `i` of the run connects to `urls[i % urls.len()]` from
//! `local_addrs[i % local_addrs.len()]`, whichever process holds it, so a run spreads over
//! instances and addresses the same with or without workers. Process `k` of `P` sends the
//! messages `seq` with `seq % P == k`, each at its tick (`seq / rate` after the start; a late
//! tick is made up at once, not skipped), from its clients in turn: every client sends about
//! `rate / clients` messages per second however many processes hold them.

use std::{
    net::IpAddr,
    ops::Range,
    sync::{Arc, Mutex, atomic::AtomicU64},
};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::{
    task::JoinHandle,
    time::{Duration, Instant, MissedTickBehavior},
};

use super::record::{self, Recorder, Seen, message_text};
use crate::tools::{
    follow::Follower,
    probe::{ProbeError, SharedTap},
};

/// Clients connecting at the same time at the start (each waits for its namespace connection),
/// all processes of a run together: a connect storm of the same shape with or without workers.
const CONNECTING_AT_ONCE: usize = 100;

/// Clients one of `procs` processes connects at the same time.
pub(super) fn at_once(procs: usize) -> usize {
    (CONNECTING_AT_ONCE / procs.max(1)).max(1)
}

/// A connected client and the recorder its connections report to.
pub(super) type Client = (Follower, Arc<Mutex<Recorder>>);

/// The clients of one process.
pub(super) struct Clients {
    /// Those that connected.
    pub(super) connected: Vec<Client>,
    /// How many could not.
    pub(super) failed: usize,
}

impl Clients {
    /// Connects the run's clients `indices`, `at_once` at a time (see [`at_once`]), each with a
    /// recorder for texts starting with `prefix` and room for `capacity` deliveries.
    pub(super) async fn connect(
        urls: &[String],
        (indices, at_once): (Range<usize>, usize),
        local_addrs: &[IpAddr],
        prefix: &Arc<str>,
        received: &Arc<AtomicU64>,
        capacity: u64,
    ) -> Self {
        let mut connected = Vec::with_capacity(indices.len());
        let mut failed = 0;
        let mut connects = futures_util::stream::iter(indices)
            .map(|i| {
                let recorder = Arc::new(Mutex::new(Recorder::new(
                    prefix.clone(),
                    received.clone(),
                    capacity as usize,
                )));
                let tap: SharedTap = recorder.clone();
                let local = (!local_addrs.is_empty()).then(|| local_addrs[i % local_addrs.len()]);
                async move {
                    Follower::connect_tapped(urls.to_vec(), i % urls.len().max(1), Some(tap), local)
                        .await
                        .map(|follower| (follower, recorder))
                }
            })
            .buffer_unordered(at_once);
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
        Self { connected, failed }
    }
}

impl Clients {
    /// Starts the run for these clients at `start`: their recorders date deliveries from it, and
    /// one task per client follows its connection (moves, losses; the recorder takes the
    /// deliveries meanwhile) until `stop_at`.
    pub(super) fn start(
        self,
        start: Instant,
        stop_at: Instant,
    ) -> Started<impl Fn(String) -> Result<(), ProbeError> + Send + Sync + 'static> {
        let mut senders = Vec::with_capacity(self.connected.len());
        let mut readers = Vec::with_capacity(self.connected.len());
        for (follower, recorder) in self.connected {
            record::lock(&recorder).start_at(start);
            senders.push(follower.sender());
            readers.push(tokio::spawn(record::follow(
                follower, recorder, start, stop_at,
            )));
        }
        let records = tokio::spawn(async move {
            let mut all_seen = Vec::with_capacity(readers.len());
            for reader in readers {
                all_seen.push(reader.await.expect("reader task"));
            }
            all_seen
        });
        Started { senders, records }
    }
}

/// The clients of one process once the run started ([`Clients::start`]).
pub(super) struct Started<S> {
    /// Their senders, for [`send_share`].
    pub(super) senders: Vec<S>,
    /// The task that hands over what each saw, in the clients' order, after the end.
    pub(super) records: JoinHandle<Vec<Seen>>,
}

/// Which messages a process sends, and when (see the module docs).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct SendPlan {
    /// Messages per second, all processes together.
    pub(super) rate: u32,
    /// Messages of the run, all processes together.
    pub(super) total: u64,
    /// This process's number, 0 for the bench itself.
    pub(super) index: usize,
    /// Processes in the run.
    pub(super) procs: usize,
}

/// What one process sent.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Sends {
    /// Messages handed to a live connection.
    pub(super) count: u64,
    /// Each message it sent or tried to send: `(seq, µs after the start)`.
    pub(super) at_us: Vec<(u64, u64)>,
}

/// Sends this process's messages of `plan` through `senders` (its clients'
/// senders, from [`Clients::start`]) in turn, the run starting at `start`; `progress` is called after each
/// message with the count so far. Nothing is sent when no client of this process is connected.
pub(super) async fn send_share(
    senders: &[impl Fn(String) -> Result<(), ProbeError>],
    prefix: &str,
    start: Instant,
    plan: SendPlan,
    mut progress: impl FnMut(u64),
) -> Sends {
    let mut sends = Sends::default();
    if senders.is_empty() {
        return sends;
    }
    let rate = f64::from(plan.rate.max(1));
    let procs = plan.procs.max(1);
    let mut tick = tokio::time::interval_at(
        start + Duration::from_secs_f64(plan.index as f64 / rate),
        Duration::from_secs_f64(procs as f64 / rate),
    );
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    for (turn, seq) in (plan.index as u64..plan.total).step_by(procs).enumerate() {
        tick.tick().await;
        let sent_us = start.elapsed().as_micros() as u64;
        sends.at_us.push((seq, sent_us));
        if senders[turn % senders.len()](message_text(prefix, seq, sent_us)).is_ok() {
            sends.count += 1;
        }
        progress(sends.count);
    }
    sends
}
