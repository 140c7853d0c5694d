//! An attacker's view of an instance: nothing a client is told acts as another client's
//! credential, hostile input is refused with a readable error, and one connection cannot make
//! an instance hold memory. (Over 400 lines: one scenario per finding of the security report,
//! each with its own hostile client.)

use futures_util::{SinkExt, StreamExt};
use gridcast_server::tools::probe::{Incoming, Probe};
use gridcast_shared::{ErrorEvent, Members, RejectionCode, Reply, Sent, event, limits};
use serde_json::{Value, json};
use std::time::Duration;

use crate::support::{QUIET, WAIT, client, instances, js::JsClient, redis, request, url, watcher};
use tokio_tungstenite::tungstenite::Message;

/// The error a probe gets for an event it sent without an ack.
async fn next_error(probe: &mut Probe) -> ErrorEvent {
    let args = probe.next_event(event::ERROR, WAIT).await.unwrap();
    serde_json::from_value(args[0].clone()).unwrap()
}

/// Whether a WebSocket upgrade carrying `sid` gets a working Engine.IO session (the server
/// answers the upgrade probe).
async fn ws_upgrade_works(base: &str, sid: &str) -> bool {
    let ws_url = format!(
        "{}/socket.io/?EIO=4&transport=websocket&sid={sid}",
        base.replace("http://", "ws://")
    );
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(ws_url.as_str()).await else {
        return false;
    };
    if ws.send(Message::text("2probe")).await.is_err() {
        return false;
    }
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.as_str() == "3probe" => return true,
            Ok(Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_)))) => {}
            _ => return false,
        }
    }
}

/// A polling POST with `body` as session `sid`: whether the server took it (`200 ok`).
async fn post_as(base: &str, sid: &str, body: &str) -> bool {
    let (status, reply) = request(
        "POST",
        &format!("{base}/socket.io/?EIO=4&transport=polling&sid={sid}"),
        body,
    )
    .await;
    status == 200 && reply.contains("ok")
}

#[tokio::test]
async fn session_ids_never_reach_other_clients_and_public_ids_act_on_nobody() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let (base0, base1) = (url(&cluster[0]), url(&cluster[1]));
    // Victims: the official client on long-polling (where the session id is the only
    // credential) and on WebSocket, on different instances.
    let mut polling = JsClient::connect(&base0, "polling").await;
    let mut websocket = JsClient::connect(&base1, "websocket").await;
    for (js, name) in [(&mut polling, "alice"), (&mut websocket, "bob")] {
        js.command(json!({"emit_ack": ["set_name", {"name": name}], "id": 1}))
            .await;
        assert_eq!(js.next_of("ack").await["args"][0]["ok"], true);
    }
    polling
        .command(json!({"emit": ["message", "hello from alice"]}))
        .await;
    websocket.next_event(event::MESSAGE).await;

    // The attacker: an ordinary client that reads everything it is told.
    let mut attacker = watcher(&cluster[0]).await;
    let presence = attacker
        .emit_with_ack(event::PRESENCE, vec![], WAIT)
        .await
        .unwrap();
    let Ok(Reply::Ok(Members { members, .. })) = serde_json::from_value(presence[0].clone()) else {
        panic!("{presence:?}")
    };
    websocket
        .command(json!({"emit": ["message", "hello from bob"]}))
        .await;
    attacker.next_message(WAIT).await.unwrap();
    websocket.next_event(event::MESSAGE).await;
    let mut told = serde_json::to_string(&presence).unwrap();
    for item in attacker.drain(QUIET).await {
        told.push_str(&format!("{item:?}"));
    }
    for base in [&base0, &base1] {
        told.push_str(&crate::support::get(&format!("{base}/health")).await);
        told.push_str(&crate::support::get(&format!("{base}/instances")).await);
    }
    for victim in [&polling, &websocket] {
        assert!(
            !told.contains(&victim.sid),
            "the session id {} of a victim reached the attacker: {told}",
            victim.sid
        );
        assert!(
            members.iter().any(|m| m.id == victim.id),
            "the attacker sees the victim by its public id"
        );
    }

    // Control: the polling request below is well-formed, and acts for whoever holds the real
    // session id (so the refusals that follow are meaningful).
    assert!(
        post_as(
            &base0,
            &polling.sid,
            r#"42["message","from the session owner"]"#
        )
        .await
    );
    assert_eq!(
        websocket.next_event(event::MESSAGE).await[0],
        "from the session owner"
    );

    // The four steps of the hijack, with everything the attacker learned, on both instances.
    for victim in [&polling.id, &websocket.id] {
        for base in [&base0, &base1] {
            let forged = "42[\"message\",\"FORGED\"]\u{1e}42[\"set_name\",{\"name\":\"pwned\"}]";
            assert!(!post_as(base, victim, forged).await, "forged as {victim}");
            assert!(!post_as(base, victim, "1").await, "closed {victim}");
            assert!(!ws_upgrade_works(base, victim).await, "upgraded {victim}");
        }
    }

    // The victims noticed nothing: still connected, names intact, no forged message anywhere.
    polling
        .command(json!({"emit": ["message", "still alice"]}))
        .await;
    for js in [&mut websocket, &mut polling] {
        js.next_matching("still alice", |item| item["args"][0] == "still alice")
            .await;
    }
    let snapshot = attacker
        .emit_with_ack(event::PRESENCE, vec![], WAIT)
        .await
        .unwrap();
    let names: Vec<&str> = snapshot[0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        names.contains(&"alice") && names.contains(&"bob") && !names.contains(&"pwned"),
        "{names:?}"
    );
    for js in [&mut polling, &mut websocket] {
        let rest = js.quiet().await;
        assert!(
            !format!("{rest:?}").contains("FORGED"),
            "a forged message arrived: {rest:?}"
        );
    }
}

#[tokio::test]
async fn direct_messages_are_addressed_by_public_id_only() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut a = client(&cluster[0]).await;
    let mut b = client(&cluster[1]).await;
    // The session id is no address.
    let ack = a
        .emit_with_ack(
            event::DIRECT,
            vec![json!({"to": b.sid(), "text": "psst"})],
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(ack[0]["error"]["code"], "no_such_client", "{ack:?}");
    // The public id is.
    let ack = a
        .emit_with_ack(
            event::DIRECT,
            vec![json!({"to": b.id(), "text": "psst"})],
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(ack[0]["ok"], true, "{ack:?}");
    let routed = b.next_event(event::DIRECT, WAIT).await.unwrap();
    assert_eq!(routed[0]["meta"]["sender"], a.id());
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn binary_attachments_are_refused_and_cannot_pin_memory() {
    let redis = redis().await;
    let port = gridcast_server::free_port().unwrap();
    let mut server = crate::support::spawn_gridcast(port, &redis.url());
    let base = format!("http://localhost:{port}");
    let mut bystander = crate::support::connect_with_retry(&base).await;
    let pid = server.id().unwrap();
    let before = rss_kib(pid);

    // The attack that pinned ~9.75 MB per socket: a packet announcing 40 attachments, 39 of
    // 250,000 bytes, then silence. 30 sockets took a fresh instance from 20 MB to 319 MB.
    let mut attackers = Vec::new();
    for _ in 0..30 {
        let attacker = Probe::connect(&base).await.unwrap();
        attacker
            .send_frame(r#"4540-["message",{"_placeholder":true,"num":0}]"#.into())
            .unwrap();
        for _ in 0..39 {
            if attacker.send_binary(vec![b'x'; 250_000]).is_err() {
                break;
            }
        }
        attackers.push(attacker);
    }
    for attacker in &mut attackers {
        let seen = attacker.drain(WAIT).await;
        assert!(
            matches!(seen.last(), Some(Incoming::Closed(_))),
            "an over-announcing packet closes its connection: {seen:?}"
        );
    }
    let grown_mib = rss_kib(pid).saturating_sub(before) / 1024;
    println!("RSS {before} KiB before, grew {grown_mib} MiB under 30 attackers");
    assert!(grown_mib < 40, "RSS grew by {grown_mib} MiB");

    // One small attachment reaches the handler and is refused with a readable reason; a larger
    // one closes that connection; the bystander is unaffected throughout.
    let mut binary = crate::support::connect_with_retry(&base).await;
    binary
        .send_frame(r#"451-["message",{"_placeholder":true,"num":0}]"#.into())
        .unwrap();
    binary.send_binary(b"hello".to_vec()).unwrap();
    let error = next_error(&mut binary).await;
    assert_eq!(error.code, RejectionCode::NotAString);
    assert!(error.message.contains("binary data"), "{}", error.message);
    binary
        .send_frame(r#"451-["message",{"_placeholder":true,"num":0}]"#.into())
        .unwrap();
    binary
        .send_binary(vec![0; limits::MAX_MESSAGE_BYTES + 1])
        .unwrap();
    assert!(matches!(
        binary.drain(WAIT).await.last(),
        Some(Incoming::Closed(_))
    ));
    bystander
        .emit(event::MESSAGE, vec![json!("unaffected")])
        .unwrap();
    assert_eq!(bystander.next_message(WAIT).await.unwrap().0, "unaffected");
    server.kill().await.unwrap();
}

#[tokio::test]
async fn odd_input_gets_an_error_that_says_what_was_received() {
    let redis = redis().await;
    let cluster = instances(&redis, 1).await;
    let mut sender = client(&cluster[0]).await;
    let mut watcher = client(&cluster[0]).await;

    // Unknown events: answered through the ack, or with an `error` event; the connection stays.
    let ack = sender
        .emit_with_ack("no_such_event", vec![json!("x")], WAIT)
        .await
        .unwrap();
    let Reply::<Sent>::Err(error) = serde_json::from_value(ack[0].clone()).unwrap() else {
        panic!("accepted: {ack:?}")
    };
    assert_eq!(
        (error.code, error.event.as_str()),
        (RejectionCode::UnknownEvent, "no_such_event")
    );
    assert!(
        error.message.contains("message, set_name"),
        "{}",
        error.message
    );
    sender.emit("a b", vec![]).unwrap();
    assert_eq!(
        next_error(&mut sender).await.code,
        RejectionCode::UnknownEvent
    );

    // A lone surrogate is not valid Unicode, and the sender is told so (not "nothing").
    sender
        .send_frame(r#"42["message","\ud800"]"#.into())
        .unwrap();
    let error = next_error(&mut sender).await;
    assert_eq!(error.code, RejectionCode::NotAString);
    assert!(
        error.message.contains("not valid JSON or Unicode"),
        "{}",
        error.message
    );

    // Only invisible characters is empty.
    sender
        .emit(
            event::MESSAGE,
            vec![json!("\u{200b}\u{200d}\u{2060}\u{feff}")],
        )
        .unwrap();
    assert_eq!(next_error(&mut sender).await.code, RejectionCode::Empty);
    assert!(
        watcher.drain(QUIET).await.is_empty(),
        "nothing was broadcast"
    );

    // Unknown events count against the rate limit like any other request.
    for _ in 0..limits::RATE_BURST {
        sender.emit("spam", vec![]).unwrap();
    }
    let mut codes = Vec::new();
    for _ in 0..=limits::RATE_BURST {
        sender.emit("spam", vec![]).unwrap();
        codes.push(next_error(&mut sender).await.code);
    }
    assert!(codes.contains(&RejectionCode::RateLimited), "{codes:?}");

    // Still connected, still served.
    let ack = watcher
        .emit_with_ack(event::MESSAGE, vec![json!("still fine")], WAIT)
        .await
        .unwrap();
    assert_eq!(ack[0]["ok"], Value::Bool(true), "{ack:?}");
}

/// Reads until the server closes `tcp` (or `wait` passes); what it sent before closing.
async fn read_until_closed(mut tcp: tokio::net::TcpStream, wait: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let closed = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 1024];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    closed
        .ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

/// A TCP connection to `server` from the loopback address `from`.
async fn connect_from(from: [u8; 4], server: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    socket.connect(server).await.unwrap()
}

#[tokio::test]
async fn idle_and_slow_connections_cannot_lock_out_real_clients() {
    let redis = redis().await;
    let port = gridcast_server::free_port().unwrap();
    // A low file limit, as in the attack report: 300 idle connections used to exhaust it.
    let idle_timeout = Duration::from_secs(3);
    let flags = [
        "--idle-timeout",
        "3s",
        "--max-connections-per-address",
        "64",
    ];
    let _server = crate::support::spawn_gridcast_with(port, &redis.url(), &flags, Some(256), false);
    let base = format!("http://127.0.0.1:{port}");
    crate::support::connect_with_retry(&base).await.close();
    let server = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    // 300 connections that send nothing, from 127.0.0.2 ...
    let mut idle = Vec::new();
    let connecting = std::time::Instant::now();
    for _ in 0..300 {
        idle.push(connect_from([127, 0, 0, 2], server).await);
    }
    let connected_within_timeout = connecting.elapsed() < idle_timeout;
    // ... and 20 that send a request head one byte at a time, from 127.0.0.3.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut tcp = connect_from([127, 0, 0, 3], server).await;
        slow.push(tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let started = std::time::Instant::now();
            for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "
                .iter()
                .cycle()
            {
                if tcp.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                if started.elapsed() > Duration::from_secs(20) {
                    break;
                }
            }
            started.elapsed()
        }));
    }

    // A real client (the official one) still connects and talks, and /health answers.
    let mut js = JsClient::connect(&base, "websocket").await;
    js.command(json!({"emit": ["message", "through the flood"]}))
        .await;
    assert_eq!(js.next_event(event::MESSAGE).await[0], "through the flood");
    assert!(
        crate::support::get(&format!("{base}/health"))
            .await
            .contains("\"redis\":\"up\"")
    );

    // Connections over the per-address cap are told why; every idle one is closed by the
    // server (the ones over the cap at once, the rest after the idle timeout).
    let mut refused = 0;
    for tcp in idle {
        let said = read_until_closed(tcp, Duration::from_secs(8))
            .await
            .expect("the server closes every idle connection");
        if said.starts_with("HTTP/1.1 503") {
            assert!(
                said.contains("too many connections from 127.0.0.2: at most 64"),
                "{said}"
            );
            refused += 1;
        }
    }
    // Exactly all but 64 when all 300 arrived within one idle timeout; on a loaded machine some
    // held ones time out first and free their slots for later ones.
    if connected_within_timeout {
        assert_eq!(
            refused,
            300 - 64,
            "all but the cap's 64 were refused at once"
        );
    } else {
        assert!(refused > 0, "the cap was never hit");
    }
    for writer in slow {
        let lasted = writer.await.unwrap();
        assert!(
            lasted < Duration::from_secs(8),
            "a slow sender lasted {lasted:?}"
        );
    }
}
