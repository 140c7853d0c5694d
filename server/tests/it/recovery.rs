//! Zero loss: offsets, replay on reconnect (to the same or another instance), session restore,
//! the outbox during Redis outages, and what a client is told when catching up is impossible.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use crate::support::{
    QUIET, WAIT, client, instances, redis,
    scenario::{connect_with, next_broadcast, send},
    url,
};
use gridcast_shared::{
    Delivery, event,
    recovery::{Offset, RecoveryFailure},
};
use serde_json::json;
use tokio::time::Instant;

#[tokio::test]
async fn a_client_back_on_another_instance_gets_exactly_what_it_missed_and_its_session() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    crate::support::scenario::client_back_on_another_instance(&cluster).await;
}

#[tokio::test]
async fn offsets_that_cannot_be_recovered_are_told_and_the_connection_works() {
    let redis = redis().await;
    let cluster = instances(&redis, 1).await;
    let a = url(&cluster[0]);
    let mut y = client(&cluster[0]).await;
    for n in 0..3 {
        send(&mut y, event::MESSAGE, vec![json!(format!("m{n}"))]).await;
    }
    let (_, meta) = next_broadcast(&mut y, WAIT).await.unwrap();
    let first: Offset = meta.offset.unwrap();

    let cases = [
        (
            json!({"offset": "nope"}),
            Some(RecoveryFailure::MalformedOffset),
        ),
        (
            json!({"offset": 12}),
            Some(RecoveryFailure::MalformedOffset),
        ),
        (
            json!({"offset": "x".repeat(10_000)}),
            Some(RecoveryFailure::MalformedOffset),
        ),
        (
            json!({"offset": "99999999999999-0"}),
            Some(RecoveryFailure::UnknownOffset),
        ),
        (
            json!({"offset": format!("{}-{}", first.at.ms, first.at.seq + 1000)}),
            Some(RecoveryFailure::UnknownOffset),
        ),
        (json!({"offset": "1-0"}), Some(RecoveryFailure::Expired)),
        (json!("not an object"), None),
        (json!({"session": "../../etc"}), None),
    ];
    for (auth, reason) in cases {
        let (mut probe, welcome) = connect_with(&a, auth.clone()).await;
        let recovery = welcome.recovery.expect("told");
        assert!(!recovery.recovered, "{auth}: {recovery:?}");
        assert_eq!(recovery.reason, reason, "{auth}");
        assert!(
            !recovery.detail.unwrap_or_default().is_empty(),
            "{auth}: readable detail"
        );
        assert!(!welcome.restored);
        if reason == Some(RecoveryFailure::Expired) {
            assert!(
                recovery.missed_at_least.unwrap() >= 3,
                "counts what it still holds"
            );
        }
        // And the connection is an ordinary one.
        let (id, _) = send(&mut probe, event::MESSAGE, vec![json!("still here")]).await;
        assert_eq!(next_broadcast(&mut probe, WAIT).await.unwrap().1.id, id);
    }
    // An unknown (well-formed) session token is a fresh session.
    let (_, welcome) = connect_with(&a, json!({"session": "0".repeat(32)})).await;
    assert!(!welcome.restored);
    assert_ne!(welcome.session, "0".repeat(32));
}

/// Clients sending steadily on three instances while Redis is stopped for `outage`: every client
/// ends with every accepted message exactly once.
async fn outage_under_load(outage: Duration) {
    let mut redis = redis().await;
    let cluster = instances(&redis, 3).await;
    let per_instance = 2;
    // Everyone connected before anyone sends: each client is owed every message.
    let mut connected = Vec::new();
    for (n, instance) in cluster.iter().enumerate() {
        for k in 0..per_instance {
            connected.push((n, k, client(instance).await));
        }
    }
    let start = Instant::now();
    let send_for = Duration::from_secs(2) + outage;
    let tasks = crate::support::scenario::send_steadily(connected, start, send_for);
    tokio::time::sleep(Duration::from_millis(700)).await;
    redis.stop().await;
    tokio::time::sleep(outage).await;
    redis.restart().await.unwrap();

    let mut probes = Vec::new();
    let mut everything = HashSet::new();
    for task in tasks {
        let (_, probe, sent) = task.await.unwrap();
        for (_, id, delivery) in sent {
            assert_ne!(
                delivery,
                Delivery::LocalOnly,
                "the outbox holds a short outage"
            );
            everything.insert(id);
        }
        probes.push(probe);
    }
    assert!(
        everything.len() > 6 * 10,
        "load was sent: {}",
        everything.len()
    );
    let queued: u64 = cluster
        .iter()
        .flat_map(|c| c.instances())
        .map(|i| i.health(0).history.queued)
        .sum();
    assert!(queued > 0, "the outage was felt");
    for (n, probe) in probes.iter_mut().enumerate() {
        let mut counts: HashMap<String, u32> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !everything.iter().all(|id| counts.contains_key(id)) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some((_, meta)) = next_broadcast(probe, left).await else {
                let missing: Vec<_> = everything
                    .iter()
                    .filter(|id| !counts.contains_key(*id))
                    .collect();
                panic!(
                    "client {n}: {} of {} messages never arrived: {missing:?}",
                    missing.len(),
                    everything.len()
                );
            };
            *counts.entry(meta.id).or_default() += 1;
        }
        while let Some((_, meta)) = next_broadcast(probe, QUIET).await {
            *counts.entry(meta.id).or_default() += 1;
        }
        let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
        assert!(twice.is_empty(), "client {n} got duplicates: {twice:?}");
        assert_eq!(
            counts.len(),
            everything.len(),
            "client {n}: nothing unexpected"
        );
    }
}

#[tokio::test]
async fn a_one_second_redis_outage_under_load_loses_nothing() {
    outage_under_load(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_ten_second_redis_outage_under_load_loses_nothing() {
    outage_under_load(Duration::from_secs(10)).await;
}

/// What a follower saw until `stop` and then `quiet` without a message: the message texts in
/// arrival order, and every other update.
async fn follow_until(
    mut follower: gridcast_server::tools::follow::Follower,
    stop: Instant,
    quiet: Duration,
) -> (Vec<String>, Vec<gridcast_server::tools::follow::Update>) {
    use gridcast_server::tools::{follow::Update, probe::ProbeError};
    let mut got = Vec::new();
    let mut updates = Vec::new();
    let mut quiet_since = Instant::now();
    while Instant::now() < stop || quiet_since.elapsed() < quiet {
        match follower.next(Duration::from_millis(200)).await {
            Ok(Update::Event { event, args, .. }) if event == event::MESSAGE => {
                got.push(args[0].as_str().unwrap_or_default().to_owned());
                quiet_since = Instant::now();
            }
            Ok(update) => updates.push(update),
            Err(ProbeError::Timeout(..)) => {}
            Err(e) => panic!("follower gave up: {e}"),
        }
    }
    (got, updates)
}

/// The (from, to) of every move in `updates`.
fn moves(updates: &[gridcast_server::tools::follow::Update]) -> Vec<(String, String)> {
    use gridcast_server::tools::follow::Update;
    updates
        .iter()
        .filter_map(|u| match u {
            Update::Moved { from, to, .. } => Some((from.clone(), to.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_under_load_loses_nothing_its_clients_fail_over() {
    use gridcast_server::tools::follow::Follower;
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let port = gridcast_server::free_port().unwrap();
    let mut victim = crate::support::spawn_gridcast(port, &redis.url());
    let victim_url = format!("http://127.0.0.1:{port}");
    crate::support::connect_with_retry(&victim_url).await;
    let urls = vec![url(&cluster[0]), url(&cluster[1]), victim_url.clone()];

    // 21 clients, 7 per instance, all connected before the first message.
    let mut followers = Vec::new();
    for n in 0..21 {
        followers.push(Follower::connect(urls.clone(), n).await.unwrap());
    }
    let senders: Vec<_> = followers.iter().map(Follower::sender).collect();
    let start = Instant::now();
    let stop = start + Duration::from_secs(5);
    let mut readers = Vec::new();
    for follower in followers {
        readers.push(tokio::spawn(follow_until(
            follower,
            stop,
            Duration::from_secs(2),
        )));
    }
    let mut seq = 0;
    let mut killed = false;
    while Instant::now() < start + Duration::from_secs(4) {
        // A send on a connection that is dying can be lost before it reaches any server: that
        // is no loss of the cluster's, and is told apart below (reached nobody).
        let _ = senders[seq % senders.len()](format!("k{seq}"));
        seq += 1;
        if !killed && start.elapsed() > Duration::from_millis(1200) {
            victim.start_kill().unwrap(); // SIGKILL
            killed = true;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let mut results = Vec::new();
    for reader in readers {
        results.push(reader.await.unwrap());
    }
    let reached: HashSet<&String> = results.iter().flat_map(|(got, _)| got).collect();
    assert!(
        reached.len() as f64 > seq as f64 * 0.9,
        "{} of {seq} sent reached the cluster",
        reached.len()
    );
    let movers = results.iter().filter(|(_, u)| !moves(u).is_empty()).count();
    assert_eq!(movers, 7, "the victim's clients moved, and only they");
    for (n, (got, updates)) in results.iter().enumerate() {
        let moved = moves(updates);
        for (from, to) in &moved {
            assert_eq!(*from, victim_url);
            assert_ne!(*to, victim_url);
        }
        let unique: HashSet<&String> = got.iter().collect();
        assert_eq!(unique.len(), got.len(), "client {n} got a message twice");
        let missing: Vec<_> = reached.iter().filter(|t| !unique.contains(*t)).collect();
        assert!(
            missing.is_empty(),
            "client {n} (moved: {moved:?}) never got {missing:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_instance_s_clients_move_at_once_and_lose_nothing() {
    use gridcast_server::tools::follow::{Follower, Update};
    let redis = redis().await;
    let mut cluster = instances(&redis, 3).await;
    let urls: Vec<String> = cluster.iter().map(url).collect();
    let leaving = urls[2].clone();
    let mut followers = Vec::new();
    for n in 0..9 {
        followers.push(Follower::connect(urls.clone(), n).await.unwrap());
    }
    let senders: Vec<_> = followers.iter().map(Follower::sender).collect();
    let start = Instant::now();
    let stop = start + Duration::from_secs(3);
    let mut readers = Vec::new();
    for follower in followers {
        readers.push(tokio::spawn(follow_until(
            follower,
            stop,
            Duration::from_secs(1),
        )));
    }
    let mut seq = 0;
    let mut stopping = None;
    while Instant::now() < start + Duration::from_secs(2) {
        let _ = senders[seq % senders.len()](format!("d{seq}"));
        seq += 1;
        if stopping.is_none() && start.elapsed() > Duration::from_millis(700) {
            let drained = cluster.pop().unwrap();
            stopping = Some(tokio::spawn(drained.stop()));
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stopping.unwrap().await.unwrap();
    let mut results = Vec::new();
    for reader in readers {
        results.push(reader.await.unwrap());
    }
    let reached: HashSet<&String> = results.iter().flat_map(|(got, _)| got).collect();
    for (n, (got, updates)) in results.iter().enumerate() {
        let drained = updates
            .iter()
            .any(|u| matches!(u, Update::Event { event, .. } if event == event::DRAINING));
        if n % 3 == 2 {
            assert!(drained, "client {n} was told to move");
            let changes: Vec<&Update> = updates
                .iter()
                .filter(|u| !matches!(u, Update::Event { .. }))
                .collect();
            let [
                Update::Lost { at: lost, .. },
                Update::Moved { to, at: moved, .. },
            ] = changes[..]
            else {
                panic!("client {n} moved once: {updates:?}");
            };
            assert_ne!(*to, leaving);
            // Told where to go, it does not retry the leaving instance (which takes 600 ms).
            let took = moved.duration_since(*lost);
            assert!(took < Duration::from_millis(590), "moved after {took:?}");
        } else {
            assert!(moves(updates).is_empty() && !drained, "client {n}");
        }
        let unique: HashSet<&String> = got.iter().collect();
        assert_eq!(unique.len(), got.len(), "client {n} got a message twice");
        let missing: Vec<_> = reached.iter().filter(|t| !unique.contains(*t)).collect();
        assert!(missing.is_empty(), "client {n} never got {missing:?}");
    }
}

#[tokio::test]
async fn a_full_outbox_is_counted_and_the_sender_told_its_message_stays_here() {
    let mut redis = redis().await;
    let mut cluster = Vec::new();
    for capacity in [2, 10_000] {
        let mut config = gridcast_server::ServeConfig::new(vec![0], Some(redis.url()));
        config.static_dir = "/nonexistent-gridcast-dist".into();
        config.outbox_capacity = capacity;
        cluster.push(gridcast_server::Cluster::start(config).await.unwrap());
    }
    let mut a = client(&cluster[0]).await;
    let mut b = client(&cluster[1]).await;
    redis.stop().await;
    let instance = cluster[0].instances().next().unwrap().clone();
    while instance.health(1).redis == gridcast_shared::RedisLink::Up {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut deliveries = Vec::new();
    for n in 0..4 {
        let (_, delivery) = send(&mut a, event::MESSAGE, vec![json!(format!("o{n}"))]).await;
        deliveries.push(delivery);
        // A's own clients get every one at once.
        assert_eq!(a.next_message(WAIT).await.unwrap().0, format!("o{n}"));
    }
    use Delivery::{LocalOnly, Queued};
    assert_eq!(deliveries, [Queued, Queued, LocalOnly, LocalOnly]);
    let health = instance.health(1);
    assert_eq!(health.history.outbox, 2);
    assert_eq!(health.history.outbox_overflowed, 2);
    assert_eq!(health.local_only_broadcasts, 2);

    redis.restart().await.unwrap();
    // B gets what was queued, and only that; A nothing twice.
    assert_eq!(b.next_message(WAIT * 4).await.unwrap().0, "o0");
    assert_eq!(b.next_message(WAIT).await.unwrap().0, "o1");
    assert!(b.drain(QUIET).await.is_empty());
    assert!(a.drain(QUIET).await.is_empty());
    assert_eq!(instance.health(1).history.outbox, 0);
}
