//! gridcast on a real Redis Cluster (3 masters, 3 replicas on loopback): the same features as on
//! one Redis, `gridcast check`, and a master killed under load.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use crate::support::{
    QUIET, client,
    cluster::{NODE_TIMEOUT_MS, RedisCluster, instances_on},
    scenario::{self, next_broadcast, send},
    url,
};
use gridcast_server::tools::check;
use gridcast_shared::{Delivery, event};
use serde_json::json;
use tokio::time::Instant;

#[tokio::test]
async fn every_feature_works_on_a_cluster_and_the_check_passes() {
    let redis = RedisCluster::start().await;
    let cluster = instances_on(&redis, 2).await;
    // History, replay, sessions, rooms, direct messages, presence, registry.
    scenario::client_back_on_another_instance(&cluster).await;

    // Every client gets every message once, whichever instance sent it.
    let mut clients = Vec::new();
    for instance in cluster.iter().chain(cluster.iter()) {
        clients.push(client(instance).await);
    }
    let mut sent = HashSet::new();
    for (n, probe) in clients.iter_mut().enumerate() {
        for i in 0..5 {
            let (id, delivery) =
                send(probe, event::MESSAGE, vec![json!(format!("c{n}-{i}"))]).await;
            assert_eq!(delivery, Delivery::Cluster);
            sent.insert(id);
        }
    }
    for (n, probe) in clients.iter_mut().enumerate() {
        let mut got = HashMap::<String, u32>::new();
        while let Some((_, meta)) = next_broadcast(probe, QUIET * 3).await {
            *got.entry(meta.id).or_default() += 1;
        }
        assert_eq!(
            got.keys().cloned().collect::<HashSet<_>>(),
            sent,
            "client {n} got every message"
        );
        assert!(got.values().all(|&c| c == 1), "client {n}: once each");
    }

    // The registry lists both instances, wherever its keys live.
    let listed = crate::support::get(&format!("{}/instances", url(&cluster[0]))).await;
    for instance in &cluster {
        assert!(listed.contains(&url(instance)), "{listed}");
    }

    let urls: Vec<String> = cluster.iter().map(url).collect();
    let report = check::run(&urls, Duration::from_secs(10)).await;
    assert!(
        report.passed,
        "{}",
        check::render(&report, Duration::from_secs(10))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_fails_over_and_nothing_is_lost() {
    let mut redis = RedisCluster::start().await;
    let cluster = instances_on(&redis, 2).await;
    // Two clients per instance, connected before anyone sends.
    let mut connected = Vec::new();
    for (n, instance) in cluster.iter().enumerate() {
        for k in 0..2 {
            connected.push((n, k, client(instance).await));
        }
    }
    // The master holding the history (every broadcast goes through it).
    let victim = redis.master_of("gridcast:history").await;
    let start = Instant::now();
    let kill_at = Duration::from_millis(1500);
    let send_for = kill_at + Duration::from_millis(NODE_TIMEOUT_MS) + Duration::from_secs(5);
    let tasks = scenario::send_steadily(connected, start, send_for);
    tokio::time::sleep_until(start + kill_at).await;
    redis.kill(victim).await;
    let killed = start.elapsed();

    let mut probes = Vec::new();
    let mut everything = HashSet::new();
    // When each message was sent, and through what.
    let mut sent_at = HashMap::new();
    for task in tasks {
        let (n, probe, sent) = task.await.unwrap();
        for (at, id, delivery) in sent {
            assert_ne!(delivery, Delivery::LocalOnly, "the outbox holds a failover");
            everything.insert(id.clone());
            sent_at.insert(id, (at, n, delivery));
        }
        probes.push((n, probe));
    }
    let queued = sent_at
        .values()
        .filter(|(_, _, d)| *d == Delivery::Queued)
        .count();
    assert!(queued > 0, "the failover was felt");
    // Every client gets every message exactly once; note when cross-instance delivery resumed:
    // the first message sent after the kill that reached the other instance without the
    // outbox.
    let mut resumed = None::<Duration>;
    for (n, probe) in probes.iter_mut() {
        let mut counts: HashMap<String, u32> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !everything.iter().all(|id| counts.contains_key(id)) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some((_, meta)) = next_broadcast(probe, left).await else {
                let missing = everything.len() - counts.len();
                panic!("client on instance {n}: {missing} messages never arrived");
            };
            if let Some((at, from, Delivery::Cluster)) = sent_at.get(&meta.id)
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
        assert_eq!(counts.len(), everything.len());
    }
    let resumed = resumed.expect("cluster delivery resumed after the failover") - killed;
    eprintln!(
        "master killed (node timeout {NODE_TIMEOUT_MS} ms): cross-instance delivery resumed \
         {resumed:?} later; {queued} of {} messages went through the outbox, none lost",
        everything.len()
    );
    assert!(
        resumed < Duration::from_millis(NODE_TIMEOUT_MS) + Duration::from_secs(5),
        "resumed {resumed:?} after the kill"
    );
}
