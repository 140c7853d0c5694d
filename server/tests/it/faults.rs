//! Behaviour under faults: Redis lost and back, an instance killed, Redis unreachable or missing.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use crate::support::{
    QUIET, WAIT, client, connect_with_retry, instances, next_link_state, redis, send,
};
use gridcast_server::{Cluster, Error, ServeConfig, free_port, tools::probe::Probe};
use gridcast_shared::{Delivery, event};
use serde_json::json;

#[tokio::test]
async fn redis_lost_keeps_local_delivery_and_cluster_delivery_resumes_when_it_is_back() {
    let mut redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut a = client(&cluster[0]).await;
    let mut a2 = client(&cluster[0]).await;
    let mut b = client(&cluster[1]).await;

    redis.stop().await;
    let instance = cluster[0].instances().next().unwrap().clone();
    let deadline = Instant::now() + WAIT;
    while instance.health(2).redis != gridcast_shared::RedisLink::Reconnecting {
        assert!(Instant::now() < deadline, "the lost link is noticed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // While Redis is away (and known to be) the sender's own instance still delivers at once,
    // without waiting for a timeout, queues the message for the others, and says so.
    let before = Instant::now();
    assert_eq!(send(&mut a, "during outage").await, Delivery::Queued);
    assert_eq!(a.next_message(WAIT).await.unwrap().0, "during outage");
    assert_eq!(a2.next_message(WAIT).await.unwrap().0, "during outage");
    assert!(
        before.elapsed() < Duration::from_millis(250),
        "no stall on a known outage: {:?}",
        before.elapsed()
    );
    let health = instance.health(2);
    assert_eq!(health.history.outbox, 1);
    assert_eq!(health.local_only_broadcasts, 0);

    redis.restart().await.unwrap();
    // The queued message reaches B once Redis is back, and A's clients not a second time.
    assert_eq!(b.next_message(WAIT * 4).await.unwrap().0, "during outage");
    let back = Instant::now();
    // Cluster-wide delivery comes back on its own: retry until B hears from A (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let text = format!("after restart {attempt}");
        let delivery = send(&mut a, &text).await;
        if delivery == Delivery::Cluster
            && let Ok((got, _)) = b.next_message(Duration::from_millis(500)).await
        {
            assert!(got.starts_with("after restart"), "{got}");
            let took = back.elapsed();
            assert!(
                took < Duration::from_secs(5),
                "cluster delivery resumed {took:?} after Redis restarted ({attempt} attempts)"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cross-instance delivery did not resume within 20s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And it is symmetric: B reaches A.
    a.drain(QUIET).await;
    assert_eq!(send(&mut b, "B after restart").await, Delivery::Cluster);
    assert_eq!(a.next_message(WAIT).await.unwrap().0, "B after restart");
}

/// Shard channels with their subscriber counts, as Redis sees them.
async fn shard_subscribers(redis_url: &str) -> Vec<(String, u64)> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("SHARDCHANNELS")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut counts = Vec::new();
    for chan in channels {
        let (_, n): (String, u64) = redis::cmd("PUBSUB")
            .arg("SHARDNUMSUB")
            .arg(&chan)
            .query_async(&mut conn)
            .await
            .unwrap();
        counts.push((chan, n));
    }
    counts.sort();
    counts
}

/// Redis away for 12 s: longer than the connection's own retries (about 6 s), after which an idle
/// redis-rs `ConnectionManager` waits for the next command; the link's ping is that command.
#[tokio::test]
async fn a_redis_outage_past_the_connection_retries_resumes_within_a_second() {
    let mut redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut a = client(&cluster[0]).await;
    let mut b = client(&cluster[1]).await;
    let subscribed = shard_subscribers(&redis.url()).await;
    assert!(
        subscribed.iter().any(|(_, n)| *n == 2),
        "the instances share a channel: {subscribed:?}"
    );

    redis.stop().await;
    let links: Vec<_> = cluster
        .iter()
        .map(|c| c.instances().next().unwrap().clone())
        .collect();
    let deadline = Instant::now() + WAIT;
    while links
        .iter()
        .any(|i| i.health(2).redis != gridcast_shared::RedisLink::Reconnecting)
    {
        assert!(Instant::now() < deadline, "the lost link is noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        send(&mut a, "during the long outage").await,
        Delivery::Queued
    );
    redis.restart().await.unwrap();
    let back = Instant::now();

    // Both links are up again within a second...
    while links
        .iter()
        .any(|i| i.health(2).redis != gridcast_shared::RedisLink::Up)
    {
        assert!(
            back.elapsed() < Duration::from_secs(1),
            "links still down {:?} after Redis came back",
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let link_up = back.elapsed();
    // ...the queued message crosses, and new ones cross both ways.
    assert_eq!(
        b.next_message(WAIT).await.unwrap().0,
        "during the long outage"
    );
    // B can read it a moment before A's flusher counts it written (broadcasts queue behind the
    // outbox until then, to keep their order).
    while links[0].health(2).history.outbox > 0 {
        assert!(back.elapsed() < WAIT, "the outbox is written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(send(&mut a, "A after").await, Delivery::Cluster);
    assert_eq!(b.next_message(WAIT).await.unwrap().0, "A after");
    assert_eq!(send(&mut b, "B after").await, Delivery::Cluster);
    // A also gets its own messages first.
    loop {
        if a.next_message(WAIT).await.unwrap().0 == "B after" {
            break;
        }
    }
    let crossed = back.elapsed();
    assert!(
        crossed < Duration::from_secs(1),
        "cross-instance delivery took {crossed:?} to resume"
    );
    // The adapter's subscriptions came back on the new connections (presence and the
    // adapter's requests use them): the same channels, the same subscriber counts.
    assert_eq!(shard_subscribers(&redis.url()).await, subscribed);
    eprintln!("link up {link_up:?}, both directions delivered {crossed:?} after Redis restarted");
}

#[tokio::test]
async fn a_killed_instance_process_does_not_disturb_the_others() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let port = free_port().unwrap();
    let mut child = crate::support::spawn_gridcast(port, &redis.url());
    let victim_url = format!("http://127.0.0.1:{port}");
    let mut victim = connect_with_retry(&victim_url).await;
    let mut a = client(&cluster[0]).await;
    let mut b = client(&cluster[1]).await;

    // The third process is part of the cluster.
    a.emit(event::MESSAGE, vec![json!("to three")]).unwrap();
    assert_eq!(victim.next_message(WAIT).await.unwrap().0, "to three");
    b.next_message(WAIT).await.unwrap();
    a.next_message(WAIT).await.unwrap();

    child.start_kill().unwrap(); // SIGKILL: no graceful anything.
    child.wait().await.unwrap();
    assert!(matches!(
        victim.drain(WAIT).await.last(),
        Some(gridcast_server::tools::probe::Incoming::Closed(_))
    ));

    for a_sends in [true, false] {
        let (sender, receiver) = if a_sends {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let text = format!("after kill, A sends: {a_sends}");
        assert_eq!(send(sender, &text).await, Delivery::Cluster);
        assert_eq!(receiver.next_message(WAIT).await.unwrap().0, text);
        assert_eq!(sender.next_message(WAIT).await.unwrap().0, text);
    }
}

#[tokio::test]
async fn a_gracefully_stopped_instance_disconnects_its_clients_cleanly() {
    let redis = redis().await;
    let mut cluster = instances(&redis, 2).await;
    let mut leaving = client(&cluster[1]).await;
    let mut staying = client(&cluster[0]).await;
    cluster.pop().unwrap().stop().await;
    let last = leaving.drain(WAIT).await;
    assert!(
        matches!(
            last.last(),
            Some(gridcast_server::tools::probe::Incoming::Closed(_))
        ),
        "{last:?}"
    );
    assert_eq!(send(&mut staying, "alone").await, Delivery::Cluster);
    assert_eq!(staying.next_message(WAIT).await.unwrap().0, "alone");
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error_naming_the_url() {
    let port = free_port().unwrap();
    let url = format!("redis://user:secret@127.0.0.1:{port}");
    let started = Instant::now();
    let err = Cluster::start(ServeConfig::new(vec![0], Some(url)))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(matches!(err, Error::RedisConnect { .. }), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("secret"), "password leaked: {text}");
}

#[tokio::test]
async fn a_missing_redis_server_names_the_install_command() {
    let mut config = ServeConfig::new(vec![0], None);
    config.redis_server = "/nonexistent/redis-server".into();
    let err = Cluster::start(config).await.unwrap_err();
    assert!(matches!(err, Error::RedisServerMissing { .. }), "{err}");
    assert!(
        err.to_string().contains("apt-get install redis-server"),
        "{err}"
    );
}

/// `gridcast serve` on a free port with a private Redis: the process, its port, the private
/// Redis' port, and the rest of its log.
async fn serve_with_private_redis() -> (
    tokio::process::Child,
    u16,
    u16,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let port = free_port().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridcast"))
        .args([
            "serve",
            "--ports",
            &port.to_string(),
            "--static-dir",
            "/nonexistent-gridcast-dist",
        ])
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The log names the private Redis it started.
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let redis_port: u16 = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), log.next_line())
            .await
            .expect("startup log")
            .unwrap()
            .expect("log line");
        if let Some(rest) = line.split("redis://127.0.0.1:").nth(1) {
            break rest
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap();
        }
    };
    (child, port, redis_port, log)
}

async fn redis_gone_within(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_sigkilled_gridcast_takes_its_private_redis_with_it() {
    let (mut child, port, redis_port, _log) = serve_with_private_redis().await;
    connect_with_retry(&format!("http://127.0.0.1:{port}")).await;
    child.start_kill().unwrap(); // SIGKILL: gridcast cannot clean up.
    child.wait().await.unwrap();
    assert!(
        redis_gone_within(redis_port, Duration::from_secs(3)).await,
        "the private redis-server outlived its parent"
    );
}

#[tokio::test]
async fn sigterm_disconnects_clients_and_stops_the_private_redis() {
    let (mut child, port, redis_port, mut log) = serve_with_private_redis().await;
    let mut client = connect_with_retry(&format!("http://127.0.0.1:{port}")).await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", redis_port))
            .await
            .is_ok()
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10s")
        .unwrap();
    assert!(exit.success(), "{exit}");
    // The client was told (Socket.IO disconnect or close), not left hanging.
    assert!(matches!(
        client.drain(WAIT).await.last(),
        Some(gridcast_server::tools::probe::Incoming::Closed(_))
    ));
    // And the private Redis is gone with it.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", redis_port))
            .await
            .is_err(),
        "private redis-server still running"
    );
    // Drain the rest of the log so the process could not block on it.
    while let Ok(Some(_)) = log.next_line().await {}
}

#[tokio::test]
async fn sigterm_with_redis_gone_still_exits() {
    let mut redis = redis().await;
    let port = free_port().unwrap();
    let mut child = crate::support::spawn_gridcast(port, &redis.url());
    connect_with_retry(&format!("http://127.0.0.1:{port}")).await;
    redis.stop().await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Every Redis step of the shutdown is bounded (it used to wait for Redis for ever).
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits within 20 s although Redis is gone")
        .unwrap();
    assert!(exit.success(), "{exit}");
}

/// Each instance tells its own clients when its Redis link goes down and when it is back, without
/// their sending anything; `welcome.redis` says the state as a client attaches.
#[tokio::test]
async fn clients_are_told_when_their_instance_loses_redis_and_gets_it_back() {
    let mut redis = redis().await;
    let cluster = instances(&redis, 1).await;
    let url = cluster[0].urls().remove(0);
    let mut probe = Probe::connect(&url).await.unwrap();
    let welcome = probe.welcome(WAIT).await.unwrap();
    assert_eq!(
        welcome.redis.map(|r| r.state),
        Some(gridcast_shared::RedisLink::Up)
    );

    redis.stop().await;
    assert_eq!(next_link_state(&mut probe, WAIT).await, "reconnecting");
    // A client attaching meanwhile is told in its welcome.
    let mut late = Probe::connect(&url).await.unwrap();
    let welcome = late.welcome(WAIT).await.unwrap();
    assert_eq!(
        welcome.redis.map(|r| r.state),
        Some(gridcast_shared::RedisLink::Reconnecting)
    );

    redis.restart().await.unwrap();
    for probe in [&mut probe, &mut late] {
        assert_eq!(next_link_state(probe, WAIT * 2).await, "up");
    }
}
