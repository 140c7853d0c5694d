//! What a replay holds: a message written twice once, a room's messages only from when the
//! session joined it, an entry gridcast cannot read skipped, and a replay Redis cannot give told
//! and counted. The volume side (gaps, many replays at once, slow clients) is in [`crate::replay`].

use std::time::Duration;

use gridcast_server::ServeConfig;
use gridcast_shared::{event, recovery::RecoveryFailure};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    replay::{flood, leave_behind, number, unlimited},
    support::{QUIET, WAIT, client, redis, scenario::connect_with, url},
};

/// An append that timed out but landed, written again from the outbox, is in the history twice
/// under one message id: a replay across both copies delivers it once.
#[tokio::test]
async fn a_message_written_twice_is_replayed_once() {
    let redis = redis().await;
    let cluster = unlimited(&redis, 1).await;
    let config = ServeConfig::new(vec![0], None);
    let auth = leave_behind(&cluster[0], "before").await;
    let meta = gridcast_shared::MessageMeta {
        id: "elsewhere-1".into(),
        origin: "elsewhere".into(),
        origin_url: "http://127.0.0.1:9".into(),
        sender: "0".repeat(32),
        received_at: 1,
        offset: None,
    };
    let admin = redis::Client::open(redis.url()).unwrap();
    let mut admin = admin.get_multiplexed_async_connection().await.unwrap();
    for (text, q) in [("twice", None), ("twice", Some("1")), ("once", None)] {
        let id = if text == "once" {
            "elsewhere-2"
        } else {
            "elsewhere-1"
        };
        let mut xadd = redis::cmd("XADD");
        xadd.arg(format!("{}:history", config.redis_prefix))
            .arg("*")
            .arg(
                &[
                    "e",
                    "message",
                    "t",
                    "*",
                    "o",
                    "elsewhere",
                    "m",
                    id,
                    "x",
                    text,
                ][..],
            )
            .arg("p")
            .arg(
                serde_json::to_string(&gridcast_shared::MessageMeta {
                    id: id.into(),
                    ..meta.clone()
                })
                .unwrap(),
            );
        if let Some(q) = q {
            xadd.arg(&["q", q][..]);
        }
        let _: String = xadd.query_async(&mut admin).await.unwrap();
    }
    let (mut back, welcome) = connect_with(&url(&cluster[0]), auth).await;
    assert_eq!(welcome.recovery.unwrap().replayed, Some(2));
    assert_eq!(back.next_message(WAIT).await.unwrap().0, "twice");
    assert_eq!(back.next_message(WAIT).await.unwrap().0, "once");
    assert!(back.drain(QUIET).await.is_empty());
}

/// Joining a room does not open its backlog: a client that joins and reconnects with an offset
/// from before it joined gets the room's messages from its join on, not the ones before.
#[tokio::test]
async fn a_replay_gives_a_room_only_from_when_the_session_joined_it() {
    let redis = redis().await;
    let cluster = unlimited(&redis, 1).await;
    let base = url(&cluster[0]);
    let room = |probe: &mut gridcast_server::tools::probe::Probe, event: &str, text: &str| {
        let args = match event {
            event::JOIN => vec![json!({"room": "ops"})],
            _ => vec![json!({"room": "ops", "text": text})],
        };
        probe.emit(event, args).unwrap();
    };
    let mut member = client(&cluster[0]).await;
    room(&mut member, event::JOIN, "");
    // The newcomer, with an offset from before anything was said in the room.
    let (mut newcomer, welcome) = connect_with(&base, json!({})).await;
    newcomer.emit(event::MESSAGE, vec![json!("mark")]).unwrap();
    let (_, meta) = newcomer.next_message(WAIT).await.unwrap();
    let before = meta.unwrap().offset.unwrap().to_string();
    room(&mut member, event::ROOM_MESSAGE, "before you came");
    tokio::time::sleep(QUIET).await;
    newcomer
        .emit_with_ack(event::JOIN, vec![json!({"room": "ops"})], WAIT)
        .await
        .unwrap();
    room(&mut member, event::ROOM_MESSAGE, "after you came");
    let args = newcomer
        .next_event(event::ROOM_MESSAGE, WAIT)
        .await
        .unwrap();
    assert_eq!(args[0]["text"], "after you came");
    newcomer.close();

    let auth = json!({"offset": before, "session": welcome.session});
    let (mut back, welcome) = connect_with(&base, auth).await;
    assert!(welcome.restored && welcome.recovery.unwrap().recovered);
    let mut replayed = Vec::new();
    for item in back.drain(QUIET).await {
        if let gridcast_server::tools::probe::Incoming::Event { event, args, .. } = item
            && event == event::ROOM_MESSAGE
        {
            replayed.push(args[0]["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(replayed, ["after you came"], "not the room's backlog");
}

/// A reconnect while the history cannot be read is told so, and counted as unrecovered.
#[tokio::test]
async fn a_replay_while_redis_is_away_is_told_and_counted() {
    let mut redis = redis().await;
    let cluster = unlimited(&redis, 1).await;
    let base = url(&cluster[0]);
    let auth = leave_behind(&cluster[0], "before").await;
    redis.stop().await;
    let instance = cluster[0].instances().next().unwrap().clone();
    let deadline = Instant::now() + WAIT;
    while instance.health(0).redis == gridcast_shared::RedisLink::Up {
        assert!(Instant::now() < deadline, "the lost link is noticed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_back, welcome) = connect_with(&base, auth).await;
    let recovery = welcome.recovery.expect("told");
    assert!(!recovery.recovered);
    assert_eq!(recovery.reason, Some(RecoveryFailure::HistoryUnavailable));
    assert_eq!(instance.health(1).history.unrecovered, 1);
}

/// An entry without gridcast's fields (another program's, or a later format) is skipped, once:
/// live delivery goes on past it, and a replay across it gives everything after it. At the
/// stream's end the live reader read it again and again (19,502 times in this test's 5 s, a
/// warning each), until the next message moved it on.
#[tokio::test]
async fn an_entry_gridcast_cannot_read_is_skipped_once_by_live_delivery_and_replays() {
    const AFTER: usize = 100;
    let redis = redis().await;
    let cluster = unlimited(&redis, 1).await;
    let auth = leave_behind(&cluster[0], "before").await;
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut foreign = async || {
        let id: String = redis::cmd("XADD")
            .arg("gridcast:history")
            .arg("*")
            .arg("foo")
            .arg("bar")
            .query_async(&mut conn)
            .await
            .unwrap();
        id
    };
    // One in the first page of the replay below, one at the stream's end, and after it one with
    // gridcast's fields and a target it does not know.
    foreign().await;
    flood(&cluster[0], "after", AFTER, "").await;
    foreign().await;
    let _: String = redis::cmd("XADD")
        .arg("gridcast:history")
        .arg("*")
        .arg(&[
            "e",
            "message",
            "t",
            "nowhere",
            "p",
            "{}",
            "o",
            "elsewhere",
            "m",
            "odd-1",
        ])
        .query_async(&mut conn)
        .await
        .unwrap();

    let health = async || -> Value {
        let body = crate::support::get(&format!("{}/health", url(&cluster[0]))).await;
        serde_json::from_str(&body).unwrap()
    };
    let deadline = Instant::now() + WAIT;
    while health().await["unsent"]["bad_history_entries"] != 3 {
        assert!(Instant::now() < deadline, "{}", health().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        health().await["unsent"]["bad_history_entries"],
        3,
        "each skipped once"
    );

    let (mut back, welcome) = connect_with(&url(&cluster[0]), auth).await;
    let recovery = welcome.recovery.expect("told");
    assert!(recovery.recovered, "{recovery:?}");
    assert_eq!(recovery.replayed, Some(AFTER as u64));
    for n in 0..AFTER {
        let (text, _) = back.next_message(WAIT).await.unwrap();
        assert_eq!(number(&text, "after"), Some(n), "{text}");
    }
}
