//! Replays that hold: a gap larger than a socket's buffer is replayed whole before `welcome`,
//! many replays of a full history at once never get an instance's Redis link closed, and a
//! client too slow to take its replay is told and disconnected with no hole in what it got. What
//! a replay holds is in [`crate::replay_contents`].

use std::{collections::HashMap, time::Duration};

use futures_util::{SinkExt, StreamExt};
use gridcast_server::{Cluster, PrivateRedis, ServeConfig, cli::RateSetting};
use gridcast_shared::{
    event,
    recovery::{Offset, RecoveryFailure},
};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{QUIET, WAIT, client, redis, scenario::connect_with, url};

/// Instances without rate limits (the tests send thousands of messages from one client).
pub(crate) async fn unlimited(redis: &PrivateRedis, n: usize) -> Vec<Cluster> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut config = ServeConfig::new(vec![0], Some(redis.url()));
        config.static_dir = "/nonexistent-gridcast-dist".into();
        config.rate_limit = RateSetting(None);
        config.address_rate_limit = RateSetting(None);
        out.push(Cluster::start(config).await.expect("instance starts"));
    }
    out
}

/// Sends `n` messages `<prefix>-<k>` from a client of `cluster`, a few hundred at a time (its
/// own buffer holds 1024), and waits until it got them all back (so they are all in the history).
pub(crate) async fn flood(cluster: &Cluster, prefix: &str, n: usize, body: &str) {
    let mut sender = client(cluster).await;
    let mut back = 0;
    for batch in (0..n).collect::<Vec<_>>().chunks(200) {
        for k in batch {
            sender
                .emit(event::MESSAGE, vec![json!(format!("{prefix}-{k}{body}"))])
                .unwrap();
        }
        while back < batch[batch.len() - 1] + 1 {
            let (text, _) = sender
                .next_message(WAIT)
                .await
                .unwrap_or_else(|e| panic!("{back} of {n} came back: {e}"));
            back += usize::from(text.starts_with(prefix));
        }
    }
}

/// The CONNECT auth of a client that read its own message `text` and went away.
pub(crate) async fn leave_behind(cluster: &Cluster, text: &str) -> Value {
    let mut away = client(cluster).await;
    away.emit(event::MESSAGE, vec![json!(text)]).unwrap();
    let (_, meta) = away.next_message(WAIT).await.unwrap();
    let offset = meta.unwrap().offset.unwrap().to_string();
    away.close();
    json!({ "offset": offset })
}

/// `k` of `<prefix>-<k>...`.
pub(crate) fn number(text: &str, prefix: &str) -> Option<usize> {
    let rest = text.strip_prefix(prefix)?.strip_prefix('-')?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[tokio::test]
async fn a_gap_larger_than_the_socket_buffer_is_replayed_whole_before_welcome() {
    const GAP: usize = 3000;
    let redis = redis().await;
    let cluster = unlimited(&redis, 2).await;
    let auth = leave_behind(&cluster[0], "before the gap").await;
    flood(&cluster[1], "gap", GAP, "").await;

    let (mut back, welcome) = connect_with(&url(&cluster[0]), auth).await;
    let recovery = welcome.recovery.expect("told");
    assert!(recovery.recovered, "{recovery:?}");
    assert_eq!(recovery.replayed, Some(GAP as u64));
    // Everything it missed, once, in the history's order, then nothing more.
    let mut seen = HashMap::new();
    let mut last = None;
    for n in 0..GAP {
        let (text, meta) = back
            .next_message(WAIT)
            .await
            .unwrap_or_else(|e| panic!("replayed {n} of {GAP}: {e}"));
        *seen.entry(number(&text, "gap").unwrap()).or_insert(0) += 1;
        let at = meta.unwrap().offset.unwrap().at;
        assert!(last < Some(at), "in order");
        last = Some(at);
    }
    assert!(back.drain(QUIET).await.is_empty());
    assert!(seen.len() == GAP && seen.values().all(|&n| n == 1));
    let health = crate::support::get(&format!("{}/health", url(&cluster[0]))).await;
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["dropped_packets"], 0, "{health}");
    assert_eq!(health["history"]["replayed"], GAP, "{health}");
}

/// Redis' `INFO stats` field `name`, asked on `conn`.
async fn redis_stat(conn: &mut redis::aio::MultiplexedConnection, name: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in INFO stats"))
}

async fn redis_config(redis: &PrivateRedis, name: &str, value: &str) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Many clients replaying the whole history at once (offset `0-0`) against a Redis whose
/// pub/sub output-buffer limit is small: replays read on a connection of their own, so the
/// connection holding the subscriptions is never closed (Redis closed it, and every client
/// connecting meanwhile got `history_unavailable`, when replays shared it).
#[tokio::test]
async fn concurrent_full_replays_never_get_the_redis_link_closed() {
    const HISTORY: usize = 300;
    const REPLAYS: usize = 12;
    let redis = redis().await;
    let cluster = unlimited(&redis, 2).await;
    // Messages as large as a message may be, of characters JSON escapes six times over.
    let body: String = "\u{1}".repeat(4000 - 16);
    flood(&cluster[1], "big", HISTORY, &body).await;
    redis_config(
        &redis,
        "client-output-buffer-limit",
        "pubsub 256kb 128kb 10",
    )
    .await;
    let admin = redis::Client::open(redis.url()).unwrap();
    let mut admin = admin.get_multiplexed_async_connection().await.unwrap();
    let connections = redis_stat(&mut admin, "total_connections_received").await;

    let base = url(&cluster[0]);
    let replays = (0..REPLAYS).map(|_| {
        let base = base.clone();
        tokio::spawn(async move {
            let mut probe = gridcast_server::tools::probe::Probe::connect_with(
                &base,
                Some(json!({"offset": "0-0"})),
            )
            .await
            .unwrap();
            let welcome = probe.welcome(WAIT * 6).await.unwrap();
            let mut got = 0;
            while got < HISTORY {
                let (text, _) = probe.next_message(WAIT).await.unwrap();
                got += usize::from(text.starts_with("big-"));
            }
            welcome.recovery.unwrap()
        })
    });
    for recovery in futures_util::future::join_all(replays).await {
        let recovery = recovery.unwrap();
        assert!(recovery.recovered, "{recovery:?}");
        assert_eq!(recovery.replayed, Some(HISTORY as u64));
    }
    assert_eq!(
        redis_stat(&mut admin, "total_connections_received").await,
        connections,
        "no Redis connection was closed and opened again"
    );
    // And broadcasts still cross instances.
    let mut a = client(&cluster[0]).await;
    let b = client(&cluster[1]).await;
    b.emit(event::MESSAGE, vec![json!("after the replays")])
        .unwrap();
    assert_eq!(a.next_message(WAIT).await.unwrap().0, "after the replays");
}

type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw WebSocket client with a small receive buffer, connected with `auth`, that has read
/// nothing past the CONNECT reply.
async fn raw_client(base: &str, auth: &Value) -> RawWs {
    let url = gridcast_shared::codec::engine_url(base);
    let host = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .replace("localhost", "127.0.0.1");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(host.parse().unwrap()).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(
        url.as_str(),
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
    )
    .await
    .unwrap();
    ws.next().await.unwrap().unwrap(); // Engine.IO open
    ws.send(Message::text(format!("40{auth}"))).await.unwrap();
    // A ping may come first when the machine is busy: answered, then the CONNECT reply.
    loop {
        let reply = ws.next().await.unwrap().unwrap();
        if reply.to_text().unwrap() == "2" {
            ws.send(Message::text("3")).await.unwrap();
            continue;
        }
        assert!(reply.to_text().unwrap().starts_with("40"), "{reply:?}");
        return ws;
    }
}

/// A client that stops reading during its replay: after a while the server gives the replay
/// up (counted), and when the client reads again it finds a gapless beginning of its replay,
/// a `welcome` saying `too_slow`, and a disconnect; coming back with the last offset it got, it
/// gets exactly the rest.
#[tokio::test]
async fn a_client_too_slow_for_its_replay_is_told_and_loses_nothing() {
    const GAP: usize = 3000;
    let redis = redis().await;
    let cluster = unlimited(&redis, 1).await;
    let base = url(&cluster[0]);
    let auth = leave_behind(&cluster[0], "before the gap").await;
    // Large enough that the replay cannot all sit in TCP buffers.
    let body = "x".repeat(4000 - 16);
    flood(&cluster[0], "slow", GAP, &body).await;

    let mut ws = raw_client(&base, &auth).await;
    let health = || async {
        let body = crate::support::get(&format!("{base}/health")).await;
        serde_json::from_str::<Value>(&body).unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while health().await["history"]["replay_stalled"] != 1 {
        assert!(Instant::now() < deadline, "the stalled replay is given up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Reading again: a prefix of the gap with no hole, the verdict, the end.
    let mut got = Vec::new();
    let mut offset: Option<Offset> = None;
    let mut verdict = None;
    let reading = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(frame)) = ws.next().await {
            let text = frame.to_text().unwrap_or_default().to_owned();
            if text == "2" {
                ws.send(Message::text("3")).await.unwrap();
                continue;
            }
            // The namespace's DISCONNECT (socketioxide keeps the Engine.IO session open).
            if text == "41" {
                break;
            }
            let Some(json) = text.strip_prefix("42") else {
                continue;
            };
            let args: Vec<Value> = serde_json::from_str(json).unwrap();
            match args[0].as_str() {
                Some(event::MESSAGE) => {
                    got.push(number(args[1].as_str().unwrap(), "slow").unwrap());
                    let at: Offset = args[2]["offset"].as_str().unwrap().parse().unwrap();
                    assert!(
                        offset.as_ref().is_none_or(|o: &Offset| o.at < at.at),
                        "in order"
                    );
                    offset = Some(at);
                }
                Some(event::WELCOME) => verdict = Some(args[1]["recovery"].clone()),
                _ => {}
            }
        }
    });
    reading
        .await
        .expect("the server disconnects the client once it reads again");
    assert!(!got.is_empty() && got.len() < GAP, "{} replayed", got.len());
    let verdict = verdict.expect("told why");
    assert_eq!(verdict["recovered"], false, "{verdict}");
    assert_eq!(
        verdict["reason"],
        json!(RecoveryFailure::TooSlow),
        "{verdict}"
    );

    // Back with the last offset it got: exactly the rest, all after it in the history, so what it
    // got first had no hole.
    let last = offset.unwrap();
    let (mut back, welcome) = connect_with(&base, json!({ "offset": last.to_string() })).await;
    assert!(welcome.recovery.unwrap().recovered);
    let mut all: HashMap<usize, u32> = got.iter().map(|&k| (k, 1)).collect();
    for _ in got.len()..GAP {
        let (text, meta) = back.next_message(WAIT).await.unwrap();
        assert!(meta.unwrap().offset.unwrap().at > last.at);
        *all.entry(number(&text, "slow").unwrap()).or_default() += 1;
    }
    assert!(back.drain(QUIET).await.is_empty());
    assert_eq!(all.len(), GAP);
    assert!(all.values().all(|&n| n == 1), "each once");
}
