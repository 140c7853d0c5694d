//! A Redis that answers slowly because the instance asked a lot (a mass disconnect's session and
//! presence writes, a burst of presence reads) is busy, not lost: the link stays up, and clients
//! are not told that Redis is unreachable.

use std::{sync::Arc, time::Duration};

use crate::support::{WAIT, client, get, url, watcher};
use gridcast_server::{Cluster, ServeConfig, tools::probe::Incoming};
use gridcast_shared::{Delivery, Reply, Sent, event};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
};

/// While throttled, the proxy passes Redis' answers on in slices of this many bytes...
const SLICE: usize = 256;
/// ...one slice every this long (~5 KB/s per connection): a page of presence members then takes
/// about a second and a half, and a burst of them queues the command connection for many seconds.
const SLICE_EVERY: Duration = Duration::from_millis(50);

/// A TCP proxy in front of Redis that can slow every connection's answers down to ~5 KB/s. It
/// runs on a thread of its own: the test's runtime may be held while an instance starts.
struct Throttle {
    port: u16,
    on: Arc<watch::Sender<bool>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Throttle {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
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
        let on = Arc::new(watch::channel(false).0);
        let switch = on.clone();
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            let mut links = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", redis)).await else {
                    continue;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_redis, mut to_redis) = upstream.into_split();
                links.spawn(async move {
                    let _ = tokio::io::copy(&mut from_client, &mut to_redis).await;
                });
                let on = switch.subscribe();
                links.spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = from_redis.read(&mut buf).await {
                        let mut rest = &buf[..n];
                        while !rest.is_empty() {
                            let throttled = *on.borrow();
                            let take = if throttled {
                                SLICE.min(rest.len())
                            } else {
                                rest.len()
                            };
                            if to_client.write_all(&rest[..take]).await.is_err() {
                                return;
                            }
                            rest = &rest[take..];
                            if throttled {
                                tokio::time::sleep(SLICE_EVERY).await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            port,
            on,
            runtime: Some(runtime),
        }
    }
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
    let mut config = ServeConfig::new(
        vec![0],
        Some(format!("redis://127.0.0.1:{}", throttle.port)),
    );
    config.static_dir = "/nonexistent-gridcast-dist".into();
    let cluster = Cluster::start(config).await.expect("instance starts");
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
    throttle.on.send_replace(true);
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
    throttle.on.send_replace(false);
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
    let ack = members[20]
        .emit_with_ack(event::MESSAGE, vec![json!("after the queue")], WAIT)
        .await
        .unwrap();
    match serde_json::from_value(ack[0].clone()).unwrap() {
        Reply::<Sent>::Ok(Sent { delivery, .. }) => assert_eq!(delivery, Delivery::Cluster),
        refused => panic!("a message after the queue: {refused:?}"),
    }
}
