//! The publish API for an application's backend: a message published through one instance
//! reaches clients on every instance exactly once, also through a Redis restart; bad keys,
//! bodies and floods are refused readably and counted; presence pages, disconnects, and
//! `gridcast publish`.

use std::time::{Duration, Instant};

use gridcast_server::{
    Cluster, PrivateRedis, ServeConfig,
    cli::{RateSetting, Secret},
    tools::probe::{Incoming, Probe},
};
use gridcast_shared::{api::Published, event, limits::Rate};
use serde_json::{Value, json};

use crate::support::{QUIET, WAIT, client, redis, request_with, url};

const KEY: &str = "a-backend-key-0123456789-abcdefghijklmnop";

async fn with_api(redis: &PrivateRedis, n: usize, rate: Option<Rate>) -> Vec<Cluster> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut config = ServeConfig::new(vec![0], Some(redis.url()));
        config.static_dir = "/nonexistent-gridcast-dist".into();
        config.publish_timeout = Duration::from_millis(300);
        config.api_key = Some(Secret::new(KEY));
        config.api_rate_limit = RateSetting(rate);
        out.push(Cluster::start(config).await.expect("instance starts"));
    }
    out
}

/// `POST /api/publish` on `cluster` with `body` and the key `key`: status and answer.
async fn publish(cluster: &Cluster, key: &str, body: &str) -> (u16, Value) {
    let auth = format!("Bearer {key}");
    let (status, _, answer) = request_with(
        "POST",
        &format!("{}/api/publish", url(cluster)),
        body,
        &[("Authorization", &auth)],
    )
    .await;
    (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
}

/// The next history-backed event a probe gets: (event, text).
async fn next_text(probe: &mut Probe) -> (String, String) {
    loop {
        match probe.next(WAIT).await.expect("an event") {
            Incoming::Event { event, args, .. } if event == event::MESSAGE => {
                return (event, args[0].as_str().unwrap().to_owned());
            }
            Incoming::Event { event, args, .. }
                if event == event::ROOM_MESSAGE || event == event::DIRECT =>
            {
                return (event, args[0]["text"].as_str().unwrap().to_owned());
            }
            Incoming::Event { .. } => {}
            Incoming::Closed(reason) => panic!("closed: {reason}"),
        }
    }
}

#[tokio::test]
async fn a_backend_reaches_everyone_a_room_or_one_client_on_every_instance_once() {
    let mut redis = redis().await;
    let cluster = with_api(&redis, 2, None).await;
    let mut a = client(&cluster[0]).await;
    let mut b = client(&cluster[1]).await;
    let mut ops = client(&cluster[1]).await;
    ops.emit_with_ack(event::JOIN, vec![json!({"room": "ops"})], WAIT)
        .await
        .unwrap();

    let (status, answer) = publish(&cluster[0], KEY, r#"{"to":"all","text":"to all"}"#).await;
    assert_eq!(status, 200, "{answer}");
    let published: Published = serde_json::from_value(answer).unwrap();
    assert!(published.offset.is_some() && !published.id.is_empty());
    for probe in [&mut a, &mut b, &mut ops] {
        assert_eq!(
            next_text(probe).await,
            (event::MESSAGE.into(), "to all".into())
        );
    }
    let (status, _) = publish(&cluster[0], KEY, r#"{"to":{"room":"ops"},"text":"to ops"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        next_text(&mut ops).await,
        (event::ROOM_MESSAGE.into(), "to ops".into())
    );
    let to_b = json!({"to": {"user": b.id()}, "text": "to b"}).to_string();
    assert_eq!(publish(&cluster[0], KEY, &to_b).await.0, 200);
    assert_eq!(
        next_text(&mut b).await,
        (event::DIRECT.into(), "to b".into())
    );
    for probe in [&mut a, &mut b, &mut ops] {
        assert!(
            probe.drain(QUIET).await.is_empty(),
            "each once, nobody else"
        );
    }

    // Redis away: queued, delivered here at once, to the others once it is back.
    redis.stop().await;
    let instance = cluster[0].instances().next().unwrap().clone();
    let deadline = Instant::now() + WAIT;
    while instance.health(0).redis == gridcast_shared::RedisLink::Up {
        assert!(Instant::now() < deadline, "the lost link is noticed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, answer) = publish(&cluster[0], KEY, r#"{"to":"all","text":"queued"}"#).await;
    assert_eq!(
        (status, answer["delivery"].as_str()),
        (202, Some("queued")),
        "{answer}"
    );
    assert_eq!(next_text(&mut a).await.1, "queued");
    redis.restart().await.unwrap();
    for probe in [&mut b, &mut ops] {
        let (event, text) = tokio::time::timeout(WAIT * 4, next_text(probe))
            .await
            .unwrap();
        assert_eq!((event.as_str(), text.as_str()), (event::MESSAGE, "queued"));
    }
    for probe in [&mut a, &mut b, &mut ops] {
        assert!(probe.drain(QUIET).await.is_empty(), "each once");
    }
}

#[tokio::test]
async fn wrong_keys_bad_bodies_and_floods_are_refused_readably_and_counted() {
    let redis = redis().await;
    let rate = Rate {
        per_second: 1,
        burst: 8,
    };
    let cluster = with_api(&redis, 1, Some(rate)).await;
    let mut listener = client(&cluster[0]).await;
    let body = r#"{"to":"all","text":"hi"}"#;
    let (status, answer) = publish(&cluster[0], "not-the-key", body).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _, _) = request_with(
        "POST",
        &format!("{}/api/publish", url(&cluster[0])),
        body,
        &[],
    )
    .await;
    assert_eq!(status, 401, "no key");
    let large = json!({"to": "all", "text": "x".repeat(20_000)}).to_string();
    let (status, answer) = publish(&cluster[0], KEY, &large).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (413, Some("too_large"))
    );
    let (status, answer) = publish(&cluster[0], KEY, r#"{"to":"everyone","text":"hi"}"#).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected")
    );
    let (status, answer) =
        publish(&cluster[0], KEY, r#"{"to":{"room":"no room!"},"text":"x"}"#).await;
    assert_eq!(status, 400, "{answer}");
    let too_long = json!({"to": "all", "text": "y".repeat(5000)}).to_string();
    assert_eq!(publish(&cluster[0], KEY, &too_long).await.0, 400);
    // Nothing refused reached anyone.
    assert!(listener.drain(QUIET).await.is_empty());
    // A flood: the key's burst, then 429 with Retry-After.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(publish(&cluster[0], KEY, body).await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let metrics = crate::support::get(&format!("{}/metrics", url(&cluster[0]))).await;
    for (outcome, at_least) in [("key", 2), ("body", 4), ("rate", 1), ("accepted", 1)] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "gridcast_api_requests_total{{outcome=\"{outcome}\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no {outcome} in {metrics}"));
        let count: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(count >= at_least, "{line}");
    }
}

#[tokio::test]
async fn without_a_key_the_api_is_disabled() {
    let redis = redis().await;
    let cluster = crate::support::instances(&redis, 1).await;
    let (status, answer) = publish(&cluster[0], KEY, r#"{"to":"all","text":"hi"}"#).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (403, Some("disabled"))
    );
}

#[tokio::test]
async fn presence_pages_and_disconnects_through_the_api() {
    let redis = redis().await;
    let cluster = with_api(&redis, 2, None).await;
    let mut a = client(&cluster[0]).await;
    let _b = client(&cluster[1]).await;
    let auth = format!("Bearer {KEY}");
    let base = url(&cluster[1]);
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let deadline = Instant::now() + WAIT;
    while ids.len() < 2 {
        let query = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let (status, _, body) = request_with(
            "GET",
            &format!("{base}/api/presence?limit=1{query}"),
            "",
            &[("Authorization", &auth)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        ids.extend(
            page["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].clone()),
        );
        cursor = page["next"].as_str().map(str::to_owned);
        if cursor.is_none() && ids.len() < 2 {
            assert!(Instant::now() < deadline, "both listed: {ids:?}");
            ids.clear();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(ids.contains(&json!(a.id())));
    // A bad query is answered in the API's shape, saying what it takes.
    for query in [
        "limit=-1",
        "limit=abc",
        "limit=0",
        "limit=501",
        "cursor=%00",
    ] {
        let (status, _, body) = request_with(
            "GET",
            &format!("{base}/api/presence?{query}"),
            "",
            &[("Authorization", &auth)],
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        let refusal: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{query}: {e}: {body}"));
        assert_eq!(refusal["error"]["code"], "bad_request", "{query}: {body}");
    }
    // Disconnecting a's sockets, asked on the other instance.
    let body = json!({"user": a.id()}).to_string();
    let (status, _, _) = request_with(
        "POST",
        &format!("{base}/api/disconnect"),
        &body,
        &[("Authorization", &auth)],
    )
    .await;
    assert_eq!(status, 200);
    let closed = a
        .drain(WAIT)
        .await
        .into_iter()
        .any(|item| matches!(item, Incoming::Closed(_)));
    assert!(closed, "a was disconnected");
}

#[tokio::test]
async fn gridcast_publish_sends_through_the_api() {
    let redis = redis().await;
    let cluster = with_api(&redis, 1, None).await;
    let mut ops = client(&cluster[0]).await;
    ops.emit_with_ack(event::JOIN, vec![json!({"room": "ops"})], WAIT)
        .await
        .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridcast"))
        .args([
            "publish",
            "--urls",
            &url(&cluster[0]),
            "--to",
            "room:ops",
            "from the command line",
        ])
        .env("GRIDCAST_API_KEY", KEY)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Published = serde_json::from_slice(&out.stdout).unwrap();
    assert!(answer.offset.is_some());
    assert_eq!(next_text(&mut ops).await.1, "from the command line");
}
