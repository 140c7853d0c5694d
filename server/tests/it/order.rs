//! One socket's requests act in the order it sent them (`socket::turn`), without waiting for each
//! other's Redis round trips: behind a Redis 100 ms away (each way), a burst of messages or room
//! changes is answered in about one round trip, not one per request. Held through every round
//! trip, 20 messages took 20 of them (4 s here); a helper measured a client at 19 messages a
//! second 15 s behind after 15 s, with Redis 100 ms away.
//!
//! Ordering itself, with the official client: `interop::each_senders_rapid_messages_…` and
//! `interop::a_room_message_sent_right_after_its_join_…`.

use std::time::Duration;

use gridcast_server::{free_port, tools::probe::Probe};
use serde_json::json;
use tokio::time::Instant;

use crate::support::{
    WAIT, connect_with_retry, health, history_texts, js::JsClient, lag::Lag, pause_redis, redis,
    redis_conn, spawn_gridcast,
};
use gridcast_shared::event;

/// Each way between gridcast and Redis.
const LAG: Duration = Duration::from_millis(100);
const BURST: usize = 20;
/// Well under `BURST` round trips (4 s), well over one (0.2 s).
const WITHIN: Duration = Duration::from_secs(2);

/// A client of a gridcast process whose Redis is `LAG` away each way, and what must live as long.
async fn far_from_redis() -> (JsClient, impl Sized) {
    let redis = redis().await;
    let lag = Lag::start(redis.port(), LAG).await;
    let port = free_port().unwrap();
    let server = spawn_gridcast(port, &lag.url());
    let url = format!("http://127.0.0.1:{port}");
    connect_with_retry(&url).await;
    (JsClient::connect(&url, "websocket").await, (server, redis))
}

/// Sends `commands` at once; how long until every one was acked, and the acks' ids in order.
async fn acks_of(js: &mut JsClient, commands: &[serde_json::Value]) -> (Duration, Vec<String>) {
    let lines: String = commands.iter().map(|c| format!("{c}\n")).collect();
    let start = Instant::now();
    js.stdin_write(&lines).await;
    let mut acked = Vec::new();
    while acked.len() < commands.len() {
        let ack = js.next_of("ack").await;
        assert_eq!(ack["args"][0]["ok"], true, "{ack}");
        acked.push(ack["id"].to_string());
    }
    (start.elapsed(), acked)
}

#[tokio::test]
async fn a_sockets_messages_do_not_wait_for_each_others_round_trip_to_redis() {
    let (mut js, _server) = far_from_redis().await;
    let commands: Vec<_> = (0..BURST)
        .map(|i| json!({"emit_ack": [event::MESSAGE, format!("m-{i:02}")], "id": i}))
        .collect();
    let (took, _) = acks_of(&mut js, &commands).await;
    assert!(took < WITHIN, "{BURST} messages acked after {took:?}");
    // And in the order sent.
    let mut got = Vec::new();
    while got.len() < BURST {
        got.push(
            js.next_event(event::MESSAGE).await[0]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let sent: Vec<String> = (0..BURST).map(|i| format!("m-{i:02}")).collect();
    assert_eq!(got, sent);
}

#[tokio::test]
async fn a_sockets_room_changes_do_not_wait_for_their_redis_writes() {
    let (mut js, _server) = far_from_redis().await;
    // Each change is saved to the session and announced (three round trips) after its answer.
    let commands: Vec<_> = (0..BURST)
        .map(|i| {
            let room = format!("room-{}", i / 2);
            let event = if i % 2 == 0 {
                event::JOIN
            } else {
                event::LEAVE
            };
            json!({"emit_ack": [event, {"room": room}], "id": i})
        })
        .collect();
    let (took, acked) = acks_of(&mut js, &commands).await;
    assert!(took < WITHIN, "{BURST} room changes acked after {took:?}");
    let sent: Vec<String> = (0..BURST).map(|i| i.to_string()).collect();
    assert_eq!(acked, sent, "answered in the order sent");
}

/// A session's saves are not undone by an earlier connection's: a client moves from an instance
/// whose Redis is `LAG` away to one next to it, and changes its name there; the first instance's
/// save of the departed socket lands after that and used to put the old name (and rooms) back,
/// in every try of a review.
#[tokio::test]
async fn a_departed_sockets_late_session_save_does_not_undo_a_later_connections() {
    let redis = redis().await;
    let lag = Lag::start(redis.port(), LAG).await;
    let ports = [free_port().unwrap(), free_port().unwrap()];
    let _servers = [
        spawn_gridcast(ports[0], &lag.url()),
        spawn_gridcast(ports[1], &redis.url()),
    ];
    let [far, near] = ports.map(|port| format!("http://127.0.0.1:{port}"));
    connect_with_retry(&far).await;
    connect_with_retry(&near).await;
    let mut conn = redis_conn(&redis).await;
    let mut saved_name = async |token: &str| -> String {
        let json: Option<String> = redis::cmd("GET")
            .arg(format!("gridcast:session:{token}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        // Not saved yet: no name.
        let saved: serde_json::Value =
            json.map_or(json!({}), |j| serde_json::from_str(&j).unwrap());
        saved["name"].as_str().unwrap_or_default().to_owned()
    };
    let set_name = async |probe: &mut Probe, name: &str| {
        probe
            .emit_with_ack(event::SET_NAME, vec![json!({ "name": name })], WAIT)
            .await
            .unwrap();
    };

    let mut first = Probe::connect_with(&far, None).await.unwrap();
    let token = first.welcome(WAIT).await.unwrap().session;
    set_name(&mut first, "old").await;
    let deadline = Instant::now() + WAIT;
    while saved_name(&token).await != "old" {
        assert!(Instant::now() < deadline, "the first name was never saved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its instance saves the session once more as it goes, `LAG` later at Redis.
    first.close();
    let mut second = Probe::connect_with(&near, Some(json!({ "session": token })))
        .await
        .unwrap();
    assert!(second.welcome(WAIT).await.unwrap().restored);
    set_name(&mut second, "new").await;
    let deadline = Instant::now() + WAIT;
    while saved_name(&token).await != "new" {
        assert!(Instant::now() < deadline, "the second name was never saved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Well past the departed socket's save.
    let watch_until = Instant::now() + 5 * LAG;
    while Instant::now() < watch_until {
        assert_eq!(
            saved_name(&token).await,
            "new",
            "an earlier save landed over it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A session whose generation is the largest there is (written by something else) still takes
/// its connection's saves: the next generation wrapped to 0, and every save was refused as older
/// (a review: `set_name` answered, never kept).
#[tokio::test]
async fn a_session_at_the_last_generation_still_takes_saves() {
    let redis = redis().await;
    let port = free_port().unwrap();
    let _server = spawn_gridcast(port, &redis.url());
    let url = format!("http://127.0.0.1:{port}");
    connect_with_retry(&url).await;
    let mut conn = redis_conn(&redis).await;
    let mut first = Probe::connect_with(&url, None).await.unwrap();
    let welcome = first.welcome(WAIT).await.unwrap();
    first.close();
    let key = format!("gridcast:session:{}", welcome.session);
    let last = json!({ "id": welcome.id, "name": "", "rooms": [], "generation": u64::MAX });
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(last.to_string())
        .query_async(&mut conn)
        .await
        .unwrap();

    let mut second = Probe::connect_with(&url, Some(json!({ "session": welcome.session })))
        .await
        .unwrap();
    assert!(second.welcome(WAIT).await.unwrap().restored);
    second
        .emit_with_ack(event::SET_NAME, vec![json!({ "name": "kept" })], WAIT)
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let json: String = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let saved: serde_json::Value = serde_json::from_str(&json).unwrap();
        if saved["name"] == "kept" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new name was never saved: {saved}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One socket's messages keep their order through a Redis stall, to everyone and in the history,
/// where each is written once. The appends waiting on the stalled connection time out together
/// and go to the outbox, and the messages sent once the link is known down go there at once: both
/// used to be queued in whatever order their tasks ran (a review: 4 to 43 inversions per
/// receiver, 10 senders of 40 messages, `CLIENT PAUSE` mid-burst), and the history kept that
/// order for every replay. And a stalled Redis still writes what it was sent: the outbox wrote
/// every message a second time.
#[tokio::test]
async fn a_sockets_messages_keep_their_order_through_a_redis_stall() {
    // Two waves within the per-client burst of 50: one as Redis stalls, one once it is known away.
    const WAVES: [std::ops::Range<usize>; 2] = [0..30, 30..45];
    const SENDERS: [&str; 4] = ["a", "b", "c", "d"];
    let redis = redis().await;
    let ports = [free_port().unwrap(), free_port().unwrap()];
    let _servers = ports.map(|port| spawn_gridcast(port, &redis.url()));
    let [here, there] = ports.map(|port| format!("http://127.0.0.1:{port}"));
    connect_with_retry(&here).await;
    connect_with_retry(&there).await;
    let mut senders = Vec::new();
    for name in SENDERS {
        senders.push((JsClient::connect(&here, "websocket").await, name));
    }
    let mut bystander = JsClient::connect(&there, "websocket").await;
    let mut conn = redis_conn(&redis).await;

    pause_redis(&mut conn, 2500).await;
    for (wave, range) in WAVES.iter().enumerate() {
        if wave > 0 {
            // Past the publish timeout of the first wave's appends; by now the link is down.
            tokio::time::sleep(Duration::from_millis(1200)).await;
        }
        for (js, name) in &mut senders {
            let commands: String = range
                .clone()
                .map(|i| {
                    format!(
                        "{}\n",
                        json!({"emit": [event::MESSAGE, format!("{name}:{i:02}")]})
                    )
                })
                .collect();
            js.stdin_write(&commands).await;
        }
    }
    let sent = SENDERS.len() * WAVES[1].end;
    let in_order = |got: &[String], who: &str| {
        for name in SENDERS {
            let theirs: Vec<&String> = got
                .iter()
                .filter(|t| t.starts_with(&format!("{name}:")))
                .collect();
            let expected: Vec<String> = (0..WAVES[1].end)
                .map(|i| format!("{name}:{i:02}"))
                .collect();
            assert_eq!(
                theirs,
                expected.iter().collect::<Vec<_>>(),
                "{who}: {name}'s messages"
            );
        }
    };
    let mut receivers: Vec<(&mut JsClient, String)> = senders
        .iter_mut()
        .map(|(js, name)| (js, format!("sender {name}")))
        .collect();
    receivers.push((
        &mut bystander,
        "a bystander on the other instance".to_owned(),
    ));
    for (js, who) in receivers {
        let mut got = Vec::new();
        while got.len() < sent {
            got.push(
                js.next_event(event::MESSAGE).await[0]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        in_order(&got, &who);
    }
    // Written to the history once each, in that order too, which is what every replay reads.
    // Once both outboxes are empty: every append timed out, and had been written all the same.
    let deadline = Instant::now() + WAIT;
    for url in [&here, &there] {
        loop {
            let health = health(url).await;
            if health["history"]["outbox"] == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the outbox was never written: {health}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let written = history_texts(&mut conn).await;
    in_order(&written, "the history");
}

/// A client that had broadcasts from the outbox during a Redis stall, and comes back with its
/// offset, does not get them again: their appends had landed (so the outbox did not write them
/// with the outbox numbers its offset's mark covers), and the replay sent the landed copies (a
/// review: 65 duplicates per client cut during a 2 s stall).
#[tokio::test]
async fn a_client_back_after_a_redis_stall_does_not_get_again_what_it_had_from_the_outbox() {
    const STALLED: usize = 5;
    let redis = redis().await;
    let port = free_port().unwrap();
    let _server = spawn_gridcast(port, &redis.url());
    let url = format!("http://127.0.0.1:{port}");
    let sender = connect_with_retry(&url).await;
    let mut listener = Probe::connect_with(&url, None).await.unwrap();
    let session = listener.welcome(WAIT).await.unwrap().session;
    let mut conn = redis_conn(&redis).await;
    pause_redis(&mut conn, 2000).await;
    for i in 0..STALLED {
        sender
            .emit(event::MESSAGE, vec![json!(format!("stalled-{i}"))])
            .unwrap();
    }
    // Each from the outbox, once its append timed out (and before Redis wrote it).
    let mut last = None;
    for i in 0..STALLED {
        let (text, meta) = listener.next_message(WAIT).await.unwrap();
        assert_eq!(text, format!("stalled-{i}"));
        last = meta.and_then(|m| m.offset);
    }
    let last = last.expect("offsets");
    assert!(last.mark.is_some(), "delivered from the outbox: {last}");
    listener.close();
    // Redis is back and wrote them (their appends); the outbox checked and did not.
    let deadline = Instant::now() + WAIT;
    loop {
        let health = health(&url).await;
        if health["history"]["outbox"] == 0 && health["history"]["landed_unanswered"] == STALLED {
            break;
        }
        assert!(Instant::now() < deadline, "never settled: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let auth = json!({ "session": session, "offset": last.to_string() });
    let mut back = Probe::connect_with(&url, Some(auth)).await.unwrap();
    assert!(back.welcome(WAIT).await.unwrap().restored);
    sender.emit(event::MESSAGE, vec![json!("after")]).unwrap();
    let (text, _) = back.next_message(WAIT).await.unwrap();
    assert_eq!(text, "after", "replayed again what it had");
}
