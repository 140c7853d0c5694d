//! Hostile and invalid input: the sender gets a readable error, nobody else sees anything, and the
//! instance keeps serving.

use crate::support::{QUIET, WAIT, client, instances, redis};
use gridcast_server::tools::probe::{Incoming, Probe};
use gridcast_shared::{ErrorEvent, RejectionCode, Reply, Sent, event, limits};
use serde_json::{Value, json};

fn rejection(ack: &[Value]) -> ErrorEvent {
    match serde_json::from_value::<Reply<Sent>>(ack[0].clone()).unwrap() {
        Reply::Err(error) => error,
        ok => panic!("accepted: {ok:?}"),
    }
}

#[tokio::test]
async fn invalid_payloads_are_rejected_with_a_readable_error() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut sender = client(&cluster[0]).await;
    let mut watcher = client(&cluster[1]).await;

    let oversized = "x".repeat(limits::MAX_MESSAGE_BYTES + 1);
    let cases: Vec<(Vec<Value>, RejectionCode)> = vec![
        (vec![json!(42)], RejectionCode::NotAString),
        (vec![json!({"text": "hi"})], RejectionCode::NotAString),
        (vec![json!(null)], RejectionCode::NotAString),
        (vec![], RejectionCode::NotAString),
        (vec![json!("")], RejectionCode::Empty),
        (vec![json!("   ")], RejectionCode::Empty),
        (vec![json!(oversized)], RejectionCode::TooLarge),
    ];
    for (args, code) in cases {
        // With an ack: the ack says why.
        let ack = sender
            .emit_with_ack(event::MESSAGE, args.clone(), WAIT)
            .await
            .unwrap();
        let error = rejection(&ack);
        assert_eq!(
            (error.code, error.event.as_str()),
            (code, "message"),
            "{args:?}"
        );
        assert!(!error.message.is_empty());
        // Without an ack: an `error` event says why.
        sender.emit(event::MESSAGE, args.clone()).unwrap();
        let error: ErrorEvent =
            serde_json::from_value(sender.next_event(event::ERROR, WAIT).await.unwrap()[0].clone())
                .unwrap();
        assert_eq!(error.code, code, "{args:?}");
    }
    // Nothing was broadcast, to anyone.
    assert!(sender.drain(QUIET).await.is_empty());
    assert!(watcher.drain(QUIET).await.is_empty());

    // The instance still works for everybody.
    sender
        .emit(event::MESSAGE, vec![json!("still here")])
        .unwrap();
    assert_eq!(watcher.next_message(WAIT).await.unwrap().0, "still here");
}

#[tokio::test]
async fn a_flooding_client_is_rate_limited_and_others_are_unaffected() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut flooder = client(&cluster[0]).await;
    let mut bystander = client(&cluster[0]).await;
    let mut remote = client(&cluster[1]).await;

    let sent = 300;
    for i in 0..sent {
        flooder
            .emit(event::MESSAGE, vec![json!(format!("flood {i}"))])
            .unwrap();
    }
    let mut limited = 0;
    let mut delivered = 0;
    for item in flooder.drain(QUIET * 3).await {
        match item {
            Incoming::Event { event, args, .. } if event == event::ERROR => {
                let error: ErrorEvent = serde_json::from_value(args[0].clone()).unwrap();
                assert_eq!(error.code, RejectionCode::RateLimited);
                assert!(
                    error.message.contains("too many messages"),
                    "{}",
                    error.message
                );
                limited += 1;
            }
            Incoming::Event { event, .. } if event == event::MESSAGE => delivered += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        limited + delivered,
        sent,
        "every message is either delivered or refused, none lost"
    );
    assert!(
        limited > 0 && delivered >= limits::RATE_BURST as usize,
        "limited {limited}, delivered {delivered}"
    );

    // The others saw exactly the accepted ones, and can still talk at once.
    let seen = remote.drain(QUIET).await.len();
    assert_eq!(seen, delivered);
    bystander.drain(QUIET).await;
    bystander
        .emit(event::MESSAGE, vec![json!("bystander")])
        .unwrap();
    assert_eq!(remote.next_message(WAIT).await.unwrap().0, "bystander");
}

#[tokio::test]
async fn malformed_frames_close_only_the_offender() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut good = client(&cluster[0]).await;
    let mut remote = client(&cluster[1]).await;

    for frame in [
        "42[".to_owned(),      // truncated JSON
        "4garbage".to_owned(), // not a Socket.IO packet
        "x".to_owned(),        // not an Engine.IO packet
        // An event name with JSON escapes: socketioxide's parser reads names as borrowed
        // strings and closes the connection (documented in README's Limits as an upstream limit).
        r#"42["mess\u0061ge","x"]"#.to_owned(),
        format!(
            "42[\"message\",\"{}\"]",
            "y".repeat(limits::MAX_PACKET_BYTES as usize)
        ), // over the packet limit
    ] {
        let mut bad = client(&cluster[0]).await;
        bad.send_frame(frame.clone()).unwrap();
        let closed = bad.drain(WAIT).await;
        assert!(
            matches!(closed.last(), Some(Incoming::Closed(_))),
            "{:.40}: {closed:?}",
            frame
        );
    }
    good.emit(event::MESSAGE, vec![json!("unaffected")])
        .unwrap();
    assert_eq!(remote.next_message(WAIT).await.unwrap().0, "unaffected");
    assert_eq!(good.next_message(WAIT).await.unwrap().0, "unaffected");

    // An ack id beyond i64 is read as no ack id by socketioxide's parser (documented upstream
    // limit): the message is handled as one without ack, and the connection stays.
    good.send_frame(r#"42999999999999999999999["message","big ack id"]"#.into())
        .unwrap();
    assert_eq!(remote.next_message(WAIT).await.unwrap().0, "big ack id");
    assert_eq!(good.next_message(WAIT).await.unwrap().0, "big ack id");
}

#[tokio::test]
async fn a_non_socket_io_client_gets_an_http_error_not_a_crash() {
    let redis = redis().await;
    let cluster = instances(&redis, 1).await;
    let base = crate::support::url(&cluster[0]);
    // Requests to the Engine.IO endpoint that are not Engine.IO: no protocol version, an
    // unsupported one, an unknown session. Each gets 400, the instance keeps serving.
    for path in [
        "/socket.io/",
        "/socket.io/?EIO=2&transport=polling",
        "/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAA",
    ] {
        let (status, body) = crate::support::request("GET", &format!("{base}{path}"), "").await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    // A WebSocket client that speaks something else is refused the same way.
    assert!(
        Probe::connect(&format!("{base}/not-socket-io"))
            .await
            .is_err()
    );
    let health = crate::support::get(&format!("{base}/health")).await;
    assert!(health.contains("\"redis\":\"up\""), "{health}");
}

/// One cluster of `n` instances on `redis` with rate limit `rate`.
async fn with_rate(
    redis: &gridcast_server::PrivateRedis,
    rate: Option<limits::Rate>,
) -> gridcast_server::Cluster {
    let mut config = gridcast_server::ServeConfig::new(vec![0], Some(redis.url()));
    config.static_dir = "/nonexistent-gridcast-dist".into();
    config.rate_limit = gridcast_server::cli::RateSetting(rate);
    gridcast_server::Cluster::start(config).await.unwrap()
}

#[tokio::test]
async fn the_rate_limit_is_configurable_and_can_be_off() {
    let redis = redis().await;
    for (rate, sent, delivered) in [
        (None, 300, 300),
        (
            Some(limits::Rate {
                per_second: 1,
                burst: 10,
            }),
            30,
            10,
        ),
    ] {
        let cluster = with_rate(&redis, rate).await;
        let mut probe = Probe::connect(&crate::support::url(&cluster))
            .await
            .unwrap();
        let welcome = probe.welcome(WAIT).await.unwrap();
        assert_eq!(welcome.limits, limits::Limits::new(rate));
        probe.ignore(event::PRESENCE);
        for i in 0..sent {
            probe
                .emit(event::MESSAGE, vec![json!(format!("m{i}"))])
                .unwrap();
        }
        let (mut got, mut limited) = (0, 0);
        for item in probe.drain(QUIET * 3).await {
            match item {
                Incoming::Event { event, .. } if event == event::MESSAGE => got += 1,
                Incoming::Event { event, args, .. } if event == event::ERROR => {
                    assert_eq!(args[0]["code"], "rate_limited");
                    if let Some(rate) = rate {
                        let expected =
                            format!("at most {}/s (bursts of {})", rate.per_second, rate.burst);
                        assert!(args[0]["message"].as_str().unwrap().contains(&expected));
                    }
                    limited += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((got, limited), (delivered, sent - delivered), "{rate:?}");
        cluster.stop().await;
    }
}
