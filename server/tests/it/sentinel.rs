//! gridcast on one Redis with Sentinel (a master, a replica, three sentinels on loopback), two
//! instances in separate processes under a steady load: the master is killed (SIGKILL), the
//! sentinels promote the replica, and the instances follow it. Once as it comes; once with the
//! replica held behind, so that the promoted replica lacks the last writes the old master
//! acknowledged (asynchronous replication), which gridcast must write again or tell.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use gridcast_server::{free_port, tools::probe::Probe};
use gridcast_shared::{Delivery, event, recovery::RecoveryFailure};
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    time::Instant,
};

use crate::support::{
    QUIET, WAIT, connect_with_retry,
    scenario::{self, connect_with, next_broadcast, send},
    sentinel::{DOWN_AFTER_MS, RedisSentinel, query},
    spawn_serve,
};

/// Two instances in their own processes on `redis`, their log lines collected.
struct Instances {
    urls: Vec<String>,
    log: Arc<Mutex<Vec<String>>>,
    _children: Vec<tokio::process::Child>,
}

async fn instances(redis: &RedisSentinel) -> Instances {
    let spec = redis.spec();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut urls = Vec::new();
    let mut children = Vec::new();
    for _ in 0..2 {
        let port = free_port().unwrap();
        let flags = ["--publish-timeout", "300ms"];
        let mut child = spawn_serve(
            port,
            &["--redis-sentinel", &spec],
            &flags,
            None,
            true,
            "info",
        );
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().unwrap().push(line);
            }
        });
        urls.push(format!("http://127.0.0.1:{port}"));
        children.push(child);
    }
    for url in &urls {
        connect_with_retry(url).await.close();
    }
    Instances {
        urls,
        log,
        _children: children,
    }
}

impl Instances {
    /// The log lines that contain `needle`.
    fn lines(&self, needle: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(needle)).cloned().collect()
    }
}

/// The message ids the history on `port` holds.
async fn history_ids(port: u16) -> HashSet<String> {
    let entries: Vec<(String, HashMap<String, String>)> = query(
        port,
        redis::cmd("XRANGE")
            .arg("gridcast:history")
            .arg("-")
            .arg("+"),
    )
    .await
    .unwrap();
    entries
        .into_iter()
        .filter_map(|(_, mut f)| f.remove("m"))
        .collect()
}

/// What the senders sent: id → (when after the start, instance index, delivery).
type Sent = HashMap<String, (Duration, usize, Delivery)>;

/// Checks that every probe gets every message of `sent` exactly once (waiting for each, bounded);
/// returns when cross-instance delivery resumed after `killed`: the first message sent after it
/// that reached the other instance through the history.
async fn every_message_once(
    probes: &mut [(usize, Probe)],
    sent: &Sent,
    killed: Duration,
) -> Duration {
    let mut resumed = None::<Duration>;
    for (n, probe) in probes.iter_mut() {
        let mut counts: HashMap<String, u32> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !sent.keys().all(|id| counts.contains_key(id)) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some((_, meta)) = next_broadcast(probe, left).await else {
                let missing = sent.len() - counts.len();
                panic!("client on instance {n}: {missing} messages never arrived");
            };
            if let Some((at, from, Delivery::Cluster)) = sent.get(&meta.id)
                && from != n
                && *at > killed
            {
                resumed = Some(resumed.map_or(*at, |r| r.min(*at)));
            }
            *counts.entry(meta.id).or_default() += 1;
        }
        while let Some((_, meta)) = next_broadcast(probe, QUIET).await {
            *counts.entry(meta.id).or_default() += 1;
        }
        let twice = counts.values().filter(|&&c| c > 1).count();
        assert_eq!(twice, 0, "client on instance {n} got duplicates");
        assert_eq!(
            counts.len(),
            sent.len(),
            "client on instance {n}: only what was sent"
        );
    }
    resumed.expect("cluster delivery resumed after the failover") - killed
}

/// Two clients per instance send a message every 100 ms for `send_for`, while `fail` makes the
/// master fail (given the start, it says when it did) and the sentinels promote the replica.
/// Returns the probes, what was sent, and when the master failed.
async fn load_through_a_failover(
    redis: &mut RedisSentinel,
    urls: &[String],
    send_for: Duration,
    fail: impl AsyncFnOnce(&mut RedisSentinel, Instant) -> Duration,
) -> (Vec<(usize, Probe)>, Sent, Duration) {
    let mut connected = Vec::new();
    for (n, url) in urls.iter().enumerate() {
        for k in 0..2 {
            connected.push((n, k, connect_with_retry(url).await));
        }
    }
    let start = Instant::now();
    let tasks = scenario::send_steadily(connected, start, send_for);
    let failed = fail(redis, start).await;
    let promoted = redis.wait_promoted(Duration::from_secs(30)).await;
    eprintln!("sentinels promoted the replica {promoted:?} after the master failed");
    let mut probes = Vec::new();
    let mut sent = Sent::new();
    for task in tasks {
        let (n, probe, log) = task.await.unwrap();
        for (at, id, delivery) in log {
            assert_ne!(delivery, Delivery::LocalOnly, "the outbox holds a failover");
            sent.insert(id, (at, n, delivery));
        }
        probes.push((n, probe));
    }
    (probes, sent, failed)
}

/// Kills the master `at` after `start`; when it did.
async fn kill_at(redis: &mut RedisSentinel, start: Instant, at: Duration) -> Duration {
    tokio::time::sleep_until(start + at).await;
    redis.kill_master().await;
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_is_followed_to_the_promoted_replica() {
    let mut redis = RedisSentinel::start().await;
    let gridcast = instances(&redis).await;
    let kill = async |redis: &mut RedisSentinel, start| {
        kill_at(redis, start, Duration::from_millis(1500)).await
    };
    let (mut probes, sent, killed) =
        load_through_a_failover(&mut redis, &gridcast.urls, Duration::from_secs(8), kill).await;
    let queued = sent
        .values()
        .filter(|(_, _, d)| *d == Delivery::Queued)
        .count();
    assert!(queued > 0, "the failover was felt");
    let resumed = every_message_once(&mut probes, &sent, killed).await;
    // The new master's history holds every message (written again if the failover lost it).
    let held = history_ids(redis.replica_port()).await;
    let missing = sent.keys().filter(|id| !held.contains(*id)).count();
    assert_eq!(missing, 0, "every message is in the new master's history");
    assert_eq!(
        gridcast.lines("every connection moved to it").len(),
        2,
        "both followed"
    );
    let rewritten = gridcast.lines("written again");
    eprintln!(
        "master killed (down-after {DOWN_AFTER_MS} ms): cross-instance delivery resumed \
         {resumed:?} later; {queued} of {} messages went through the outbox; lost by the \
         failover and written again: {rewritten:?}",
        sent.len()
    );
    assert!(
        resumed < Duration::from_secs(15),
        "resumed {resumed:?} after the kill"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_the_replica_never_got_are_written_again_and_lost_offsets_are_told() {
    let mut redis = RedisSentinel::start().await;
    let gridcast = instances(&redis).await;
    // Two more clients, that leave during the load and come back after the failover: one with
    // an offset from before the replica was held (still in the new master's history), one with an
    // offset from the held window (lost with the old master).
    let mut early = connect_with_retry(&gridcast.urls[1]).await;
    let mut late = connect_with_retry(&gridcast.urls[0]).await;
    let (hold_at, kill_after) = (Duration::from_millis(1000), Duration::from_millis(1600));
    let (early_seen, late_seen) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
    let (early_out, late_out) = (early_seen.clone(), late_seen.clone());
    let fail = async move |redis: &mut RedisSentinel, start: Instant| {
        *early_out.lock().unwrap() = Some(read_until(&mut early, start + hold_at / 2).await);
        early.close();
        tokio::time::sleep_until(start + hold_at).await;
        redis.hold_replication();
        // A message of its own, appended once the replica is held: its offset is lost.
        let (id, delivery) = send(&mut late, event::MESSAGE, vec![json!("late")]).await;
        assert_eq!(delivery, Delivery::Cluster);
        let offset = loop {
            let (_, meta) = next_broadcast(&mut late, WAIT)
                .await
                .expect("its own message");
            if meta.id == id {
                break meta.offset.expect("an offset").to_string();
            }
        };
        *late_out.lock().unwrap() = Some((offset, id, start.elapsed()));
        late.close();
        kill_at(redis, start, kill_after).await
    };
    let (mut probes, mut sent, killed) =
        load_through_a_failover(&mut redis, &gridcast.urls, Duration::from_secs(8), fail).await;
    let (late_offset, late_id, late_at) = late_seen.lock().unwrap().take().unwrap();
    sent.insert(late_id, (late_at, 0, Delivery::Cluster));
    let resumed = every_message_once(&mut probes, &sent, killed).await;

    // Messages the old master acknowledged during the hold were missing on the new master and
    // were written again: the history holds every message.
    let rewritten = gridcast.lines("written again");
    assert!(!rewritten.is_empty(), "the hold lost acknowledged writes");
    let held = history_ids(redis.replica_port()).await;
    let missing = sent.keys().filter(|id| !held.contains(*id)).count();
    assert_eq!(missing, 0, "every message is in the new master's history");

    // A client whose offset is still held gets everything it missed, once.
    let (early_offset, early_got) = early_seen.lock().unwrap().take().unwrap();
    let auth = json!({ "offset": early_offset });
    let (mut early, welcome) = connect_with(&gridcast.urls[0], auth).await;
    let recovery = welcome.recovery.expect("a recovery outcome");
    assert!(recovery.recovered, "{recovery:?}");
    let mut replayed = HashMap::<String, u32>::new();
    while let Some((_, meta)) = next_broadcast(&mut early, QUIET * 2).await {
        *replayed.entry(meta.id).or_default() += 1;
    }
    let expected: HashSet<&String> = sent.keys().filter(|id| !early_got.contains(*id)).collect();
    assert_eq!(
        replayed.keys().collect::<HashSet<_>>(),
        expected,
        "what it missed"
    );
    assert!(replayed.values().all(|&c| c == 1), "once each");

    // A client whose offset the failover lost is told so, not left with a silent gap.
    let auth = json!({ "offset": late_offset });
    let (_late, welcome) = connect_with(&gridcast.urls[1], auth).await;
    let recovery = welcome.recovery.expect("a recovery outcome");
    assert!(!recovery.recovered, "{recovery:?}");
    assert_eq!(recovery.reason, Some(RecoveryFailure::UnknownOffset));
    eprintln!(
        "master killed with the replica {:?} behind: cross-instance delivery resumed {resumed:?} \
         later; {rewritten:?}; a client back with an offset from that window was told {:?}",
        kill_after - hold_at,
        recovery.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_master_is_left_for_the_promoted_replica() {
    let mut redis = RedisSentinel::start().await;
    let gridcast = instances(&redis).await;
    // A manual failover: the old master lives on, demoted to a replica of the new one; until the
    // sentinels convert it, it still takes writes, which its resync with the new master erases.
    let failover = async |redis: &mut RedisSentinel, start: Instant| {
        tokio::time::sleep_until(start + Duration::from_millis(1500)).await;
        redis.failover().await;
        start.elapsed()
    };
    let (mut probes, sent, failed) =
        load_through_a_failover(&mut redis, &gridcast.urls, Duration::from_secs(8), failover).await;
    every_message_once(&mut probes, &sent, failed).await;
    let held = history_ids(redis.replica_port()).await;
    let missing = sent.keys().filter(|id| !held.contains(*id)).count();
    assert_eq!(missing, 0, "every message is in the new master's history");
    let moved = gridcast.lines("while the old one still answers: every connection moved to it");
    assert_eq!(moved.len(), 2, "both followed the sentinels");
    eprintln!(
        "manual failover at {failed:?}: {moved:?}; {:?}",
        gridcast.lines("written again")
    );
}

/// Reads `probe` until `until`: the offset of the last broadcast it got and the ids of all.
async fn read_until(probe: &mut Probe, until: Instant) -> (String, HashSet<String>) {
    let (mut last, mut got) = (None, HashSet::new());
    let left = || until.saturating_duration_since(Instant::now());
    while let Some((_, meta)) = next_broadcast(probe, left()).await {
        last = meta.offset.map(|o| o.to_string());
        got.insert(meta.id);
        if Instant::now() >= until {
            break;
        }
    }
    (last.expect("messages arrived"), got)
}
