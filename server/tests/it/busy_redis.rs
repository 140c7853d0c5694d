//! A Redis that answers slowly because the instance asked a lot (a mass disconnect's session and
//! presence writes, a burst of presence reads) is busy, not lost: the link stays up, and clients
//! are not told that Redis is unreachable. And connections that stop answering altogether are
//! replaced: redis-rs never replaces one that only times out.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::support::{
    WAIT, client, get, instances, next_link_state, scenario::connect_with, send, url, watcher,
};
use gridcast_server::{Cluster, ServeConfig, tools::probe::Incoming};
use gridcast_shared::{Delivery, event, recovery::RecoveryFailure};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::watch,
    task::JoinSet,
};

/// While throttled, the proxy passes Redis' answers on in slices of this many bytes...
const SLICE: usize = 256;
/// ...one slice every this long (~5 KB/s per connection): a page of presence members then takes
/// about a second and a half, and a burst of them queues the command connection for many seconds.
const SLICE_EVERY: Duration = Duration::from_millis(50);

/// A TCP proxy in front of Redis that can slow every connection's answers down to ~5 KB/s
/// (`slow`), or stop forwarding anything on connections open now (the first an instance opens,
/// its command connection: [`Throttle::freeze_first`]; all: [`Throttle::freeze_open`]), as
/// connections that silently stopped answering; connections opened later pass. It runs on a
/// thread of its own: the test's runtime may be held while an instance starts.
struct Throttle {
    port: u16,
    slow: Arc<watch::Sender<bool>>,
    /// Whether each connection accepted so far is frozen, in the order they came.
    frozen: Arc<Mutex<Vec<watch::Sender<bool>>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Throttle {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Forwards `from` to `to`; while `slow` is on, in slices ([`SLICE`] every [`SLICE_EVERY`]);
/// while `frozen` is on, not at all (the bytes wait).
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    slow: Option<watch::Receiver<bool>>,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            if frozen.wait_for(|frozen| !frozen).await.is_err() {
                return;
            }
            let throttled = slow.as_ref().is_some_and(|slow| *slow.borrow());
            let take = if throttled {
                SLICE.min(rest.len())
            } else {
                rest.len()
            };
            if to.write_all(&rest[..take]).await.is_err() {
                return;
            }
            rest = &rest[take..];
            if throttled {
                tokio::time::sleep(SLICE_EVERY).await;
            }
        }
    }
}

impl Throttle {
    fn start(redis: u16) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let slow = Arc::new(watch::channel(false).0);
        let frozen = Arc::new(Mutex::new(Vec::<watch::Sender<bool>>::new()));
        let (slowed, conns) = (slow.clone(), frozen.clone());
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            let mut links = JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", redis)).await else {
                    continue;
                };
                let (from_client, to_client) = client.into_split();
                let (from_redis, to_redis) = upstream.into_split();
                let freeze = watch::channel(false).0;
                links.spawn(pump(from_client, to_redis, None, freeze.subscribe()));
                links.spawn(pump(
                    from_redis,
                    to_client,
                    Some(slowed.subscribe()),
                    freeze.subscribe(),
                ));
                conns.lock().unwrap().push(freeze);
            }
        });
        Self {
            port,
            slow,
            frozen,
            runtime: Some(runtime),
        }
    }

    /// Stops (`true`) or resumes forwarding on the first connection accepted.
    fn freeze_first(&self, frozen: bool) {
        self.freeze(0, frozen);
    }

    /// Stops (`true`) or resumes forwarding on the `n`th connection accepted (from 0: an
    /// instance opens its command connection, subscriber, probe, then the history's reader).
    fn freeze(&self, n: usize, frozen: bool) {
        self.frozen.lock().unwrap()[n].send_replace(frozen);
    }

    /// Stops forwarding on every connection accepted so far; returns how many.
    fn freeze_open(&self) -> usize {
        let conns = self.frozen.lock().unwrap();
        for conn in conns.iter() {
            conn.send_replace(true);
        }
        conns.len()
    }
}

/// One instance whose Redis is behind `throttle`.
async fn behind(throttle: &Throttle) -> Cluster {
    let mut config = ServeConfig::new(
        vec![0],
        Some(format!("redis://127.0.0.1:{}", throttle.port)),
    );
    config.static_dir = "/nonexistent-gridcast-dist".into();
    Cluster::start(config).await.expect("instance starts")
}

/// What `/metrics` says of `name` (a counter's value).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics:\n{text}"))
}

#[tokio::test]
async fn a_deep_command_queue_is_a_busy_link_not_a_lost_one() {
    let redis = crate::support::redis().await;
    let throttle = Throttle::start(redis.port());
    let cluster = behind(&throttle).await;
    // Members with long names make each presence page a few kilobytes.
    let mut members = Vec::new();
    for i in 0..30 {
        let mut member = client(&cluster).await;
        let name = format!("member {i:02} {}", "x".repeat(40));
        member
            .emit_with_ack(event::SET_NAME, vec![json!({ "name": name })], WAIT)
            .await
            .unwrap();
        members.push(member);
    }
    let mut watching = watcher(&cluster).await;
    let metrics_url = format!("{}/metrics", url(&cluster));
    assert_eq!(
        metric(&get(&metrics_url).await, "gridcast_redis_busy_probes_total"),
        0
    );

    // Answers slowed down, and a burst of presence reads queued on the command connection: each
    // page is ~1.5 s of answers, and the health pings sent there wait behind all of them.
    throttle.slow.send_replace(true);
    for member in &members[..12] {
        member.emit(event::PRESENCE, vec![]).unwrap();
    }
    // Pings go every 250 ms and wait up to 1 s: over 3 s a verdict taken on the queued
    // connection would have come, and been told to every client.
    let told: Vec<_> = watching
        .drain(Duration::from_secs(3))
        .await
        .into_iter()
        .filter(|incoming| {
            matches!(incoming, Incoming::Event { event: name, .. } if name == event::REDIS_LINK)
                || matches!(incoming, Incoming::Closed(_))
        })
        .collect();
    throttle.slow.send_replace(false);
    assert!(
        told.is_empty(),
        "clients were told Redis was unreachable: {told:?}"
    );
    let metrics = get(&metrics_url).await;
    assert_eq!(metric(&metrics, "gridcast_redis_up"), 1);
    // The queue was deep: pings sent behind it waited over the command timeout.
    assert!(
        metric(&metrics, "gridcast_redis_busy_probes_total") > 0,
        "no health ping waited behind the queue: the test did not build one"
    );
    // Redis itself still answers through the link.
    assert_eq!(
        send(&mut members[20], "after the queue").await,
        Delivery::Cluster
    );
}

/// The other side of busy: a command connection that stops answering altogether (redis-rs does
/// not reconnect after a timeout) passes for busy only for the busy limit, then the link is lost,
/// the connections are opened again, and the link is back while the old one is still frozen.
#[tokio::test]
async fn a_command_connection_that_stops_answering_is_busy_only_for_a_while() {
    let redis = crate::support::redis().await;
    let throttle = Throttle::start(redis.port());
    let cluster = behind(&throttle).await;
    let mut watching = watcher(&cluster).await;
    let sender = client(&cluster).await;
    let metrics_url = format!("{}/metrics", url(&cluster));

    throttle.freeze_first(true);
    let frozen = tokio::time::Instant::now();
    // Messages keep coming: each waits out its publish timeout and is queued.
    let sending = tokio::spawn(async move {
        loop {
            let _ = sender.emit(event::MESSAGE, vec![json!("while frozen")]);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert_eq!(
        next_link_state(&mut watching, Duration::from_secs(60)).await,
        "reconnecting"
    );
    let lost_after = frozen.elapsed();
    assert!(
        lost_after >= Duration::from_secs(30),
        "declared lost after {lost_after:?}, before the busy limit: the busy stretch did not count"
    );
    assert!(metric(&get(&metrics_url).await, "gridcast_redis_busy_probes_total") > 0);

    // Back on new connections, the frozen one never thawed.
    assert_eq!(next_link_state(&mut watching, WAIT).await, "up");
    sending.abort();
    drained(&cluster).await;
    let mut sender = client(&cluster).await;
    assert_eq!(
        send(&mut sender, "after the freeze").await,
        Delivery::Cluster
    );
}

/// Waits until `cluster`'s outbox is written to the history (what was queued while the link was
/// down), so that a new broadcast is not queued behind it.
async fn drained(cluster: &Cluster) {
    let instance = cluster.instances().next().unwrap().clone();
    let deadline = tokio::time::Instant::now() + WAIT;
    while instance.health(2).history.outbox > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox is never written"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every connection of an instance to Redis stops answering at once, silently (no reset): the
/// link is lost, its connections (commands, subscriber, probe, the history's reader) are opened
/// again, and it is back while the old ones stay frozen. What was sent meanwhile reaches the other
/// instance, and messages cross both ways after.
#[tokio::test]
async fn connections_that_stop_answering_are_opened_again() {
    let redis = crate::support::redis().await;
    let throttle = Throttle::start(redis.port());
    let a = behind(&throttle).await;
    let b = instances(&redis, 1).await.remove(0);
    let (mut on_a, mut on_b) = (watcher(&a).await, watcher(&b).await);
    let (mut from_a, mut from_b) = (client(&a).await, client(&b).await);

    let frozen = throttle.freeze_open();
    assert!(frozen >= 4, "only {frozen} connections to freeze");
    from_a
        .emit(event::MESSAGE, vec![json!("during the freeze")])
        .unwrap();
    assert_eq!(next_link_state(&mut on_a, WAIT).await, "reconnecting");
    // Opened again once answers have been missing for 5 s (a short stall keeps its connections).
    assert_eq!(next_link_state(&mut on_a, WAIT * 2).await, "up");

    assert_eq!(
        on_b.next_message(WAIT).await.unwrap().0,
        "during the freeze"
    );
    drained(&a).await;
    assert_eq!(send(&mut from_a, "from a").await, Delivery::Cluster);
    assert_eq!(on_b.next_message(WAIT).await.unwrap().0, "from a");
    assert_eq!(send(&mut from_b, "from b").await, Delivery::Cluster);
    loop {
        let (text, _) = on_a.next_message(WAIT).await.unwrap();
        if text == "from b" {
            break;
        }
        assert!(
            ["during the freeze", "from a"].contains(&text.as_str()),
            "{text:?}"
        );
    }
    // The held commands go on to Redis now, the append of "during the freeze" among them: it
    // must not be written after the outbox wrote it (Redis closed the replaced connections).
    for n in 0..frozen {
        throttle.freeze(n, false);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut conn = crate::support::redis_conn(&redis).await;
    let texts = crate::support::history_texts(&mut conn).await;
    let copies = texts.iter().filter(|t| *t == "during the freeze").count();
    assert_eq!(copies, 1, "written {copies} times: {texts:?}");
}

/// The history's reader connection alone stops answering: the probe cannot see it, but two
/// blocking reads in a row without an answer make the link open its connections again, and the
/// instance reads on, what was sent meanwhile included.
#[tokio::test]
async fn a_reader_connection_that_stops_answering_is_opened_again() {
    let redis = crate::support::redis().await;
    let throttle = Throttle::start(redis.port());
    let a = behind(&throttle).await;
    let b = instances(&redis, 1).await.remove(0);
    // One client of A's watches the link (skipping messages), another takes the messages.
    let (mut on_a, mut to_a) = (watcher(&a).await, client(&a).await);
    let mut from_b = client(&b).await;
    assert_eq!(send(&mut from_b, "before").await, Delivery::Cluster);
    assert_eq!(to_a.next_message(WAIT).await.unwrap().0, "before");

    // The reader's is the fourth connection the instance opened.
    throttle.freeze(3, true);
    assert_eq!(
        send(&mut from_b, "during the freeze").await,
        Delivery::Cluster
    );
    // Two reads of 4 s each (a 2 s block and 2 s more) time out, then the swap.
    assert_eq!(next_link_state(&mut on_a, WAIT * 3).await, "reconnecting");
    assert_eq!(next_link_state(&mut on_a, WAIT).await, "up");
    assert_eq!(send(&mut from_b, "after").await, Delivery::Cluster);
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(to_a.next_message(WAIT).await.unwrap().0);
    }
    assert_eq!(got, ["during the freeze", "after"]);
}

/// The history's range reads (replays) have a connection of their own, which the probe cannot
/// see either: when it stops answering, two reads that time out get the link's connections
/// opened again, and replays work again while the old connection stays frozen.
#[tokio::test]
async fn a_range_read_connection_that_stops_answering_is_opened_again() {
    let redis = crate::support::redis().await;
    let throttle = Throttle::start(redis.port());
    let a = behind(&throttle).await;
    let base = url(&a);
    let mut on_a = watcher(&a).await;
    // A client that read its own message and left: its offset asks for what came after.
    let mut away = client(&a).await;
    away.emit(event::MESSAGE, vec![json!("seen")]).unwrap();
    let (_, meta) = away.next_message(WAIT).await.unwrap();
    let auth = json!({"offset": meta.unwrap().offset.unwrap().to_string()});
    away.close();
    let mut sender = client(&a).await;
    assert_eq!(send(&mut sender, "missed").await, Delivery::Cluster);

    // The range reads' is the fifth connection the instance opened (after the reader's).
    throttle.freeze(4, true);
    let deadline = tokio::time::Instant::now() + WAIT * 4;
    let mut unavailable = 0;
    loop {
        let (mut back, welcome) = connect_with(&base, auth.clone()).await;
        let recovery = welcome.recovery.expect("told");
        if recovery.recovered {
            assert_eq!(recovery.replayed, Some(1), "{recovery:?}");
            assert_eq!(back.next_message(WAIT).await.unwrap().0, "missed");
            break;
        }
        assert_eq!(
            recovery.reason,
            Some(RecoveryFailure::HistoryUnavailable),
            "{recovery:?}"
        );
        unavailable += 1;
        assert!(
            tokio::time::Instant::now() < deadline,
            "replays still fail after {unavailable} tries"
        );
        back.close();
    }
    assert!(unavailable > 0, "the freeze held up a replay");
    // The swap: the link went down and came back, on new connections.
    assert_eq!(next_link_state(&mut on_a, WAIT).await, "reconnecting");
    assert_eq!(next_link_state(&mut on_a, WAIT).await, "up");
}
