//! What one address may use of an instance, against `gridcast` processes: live clients on either
//! transport (long-polling sessions hold no TCP connection, so the connection cap alone let one
//! address keep 88,931 clients), new sessions per second, and a request budget that reconnecting
//! does not refill. The attacker comes from another loopback address than the bystander.

use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use gridcast_server::tools::probe::{Incoming, Probe};
use gridcast_shared::{Health, event};
use serde_json::{Value, json};

use crate::support::{WAIT, connect_with_retry, redis, request_from, spawn_gridcast_with};

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A long-polling client from `from`, as the flood made them: the handshake, then the Socket.IO
/// CONNECT in a `POST`, each on a connection of its own. Its session id, or the refusal.
async fn polling_client(from: IpAddr, base: &str) -> Result<String, (u16, String, String)> {
    let engine = format!("{base}/socket.io/?EIO=4&transport=polling");
    let (status, head, body) = request_from(Some(from), "GET", &engine, "", &[]).await;
    if status != 200 {
        return Err((status, head, body));
    }
    let open: Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap().to_owned();
    let (status, _, body) = request_from(
        Some(from),
        "POST",
        &format!("{engine}&sid={sid}"),
        "40",
        &[],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    Ok(sid)
}

async fn health(base: &str) -> Health {
    serde_json::from_str(&crate::support::get(&format!("{base}/health")).await).unwrap()
}

/// The bystander sends one message and gets it back, acknowledged (among whatever else is
/// broadcast meanwhile).
async fn bystander_unaffected(bystander: &mut Probe, text: &str) {
    let ack = bystander
        .emit_with_ack(event::MESSAGE, vec![json!(text)], WAIT)
        .await
        .unwrap();
    assert_eq!(ack[0]["ok"], true, "{ack:?}");
    let deadline = Instant::now() + WAIT;
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let (got, _) = bystander.next_message(wait).await.unwrap();
        if got == text {
            return;
        }
    }
}

#[tokio::test]
async fn one_address_holds_at_most_the_cap_of_clients_on_either_transport() {
    let redis = redis().await;
    let port = gridcast_server::free_port().unwrap();
    // A small cap, and a heartbeat that ends abandoned polling sessions after 6 s (engineioxide
    // sends the first ping at once; nobody polls these to answer it).
    let flags = [
        "--max-connections-per-address",
        "20",
        "--ping-timeout",
        "6s",
        "--report-interval",
        "1s",
    ];
    let started = Instant::now();
    let mut server = spawn_gridcast_with(port, &redis.url(), &flags, None, true);
    let log = read_log(&mut server);
    let base = format!("http://127.0.0.1:{port}");
    let mut bystander = connect_with_retry(&base).await;

    // Polling clients from one address, each request on a connection of its own (10 at a time,
    // under the connection cap): the cap counts them although none holds a connection.
    let (mut opened, mut refused) = (0, Vec::new());
    for _ in 0..3 {
        let attempts = (0..10).map(|_| polling_client(ATTACKER, &base));
        for attempt in futures_util::future::join_all(attempts).await {
            match attempt {
                Ok(_) => opened += 1,
                Err(refusal) => refused.push(refusal),
            }
        }
    }
    assert_eq!(opened, 20, "{refused:?}");
    assert_eq!(refused.len(), 10);
    for (status, _, body) in &refused {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(
            body,
            "too many connections from 127.0.0.2: at most 20 at once per address\n"
        );
    }
    // The 20 are clients (they sent their CONNECT), and they are all there are.
    let deadline = Instant::now() + WAIT;
    while health(&base).await.clients != 21 {
        assert!(Instant::now() < deadline, "{:?}", health(&base).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A WebSocket from that address counts against the same cap.
    let ws = Probe::connect_from(&base, None, ATTACKER).await;
    let Err(e) = ws else {
        panic!("a 21st client on the other transport was accepted")
    };
    assert!(e.to_string().contains("503"), "{e}");
    bystander_unaffected(&mut bystander, "still here").await;

    // The attacker's sessions end (nobody polls them: the heartbeat closes them), and the
    // address gets its slots back: none is leaked.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut back = Vec::new();
    while back.len() < 20 {
        match Probe::connect_from(&base, None, ATTACKER).await {
            Ok(probe) => back.push(probe),
            Err(e) => {
                assert!(Instant::now() < deadline, "{} back: {e}", back.len());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert!(Probe::connect_from(&base, None, ATTACKER).await.is_err());
    assert_eq!(health(&base).await.clients, 21);

    // Every refusal is counted, in one summary line per interval (1 s here), not one each.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.start_kill().unwrap();
    let log = tokio::time::timeout(WAIT, log).await.unwrap().unwrap();
    let summaries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("new Socket.IO sessions refused"))
        .collect();
    let refused: u64 = summaries
        .iter()
        .filter_map(|l| {
            l.split("over_cap=")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(refused > 10, "{refused} counted: {log}");
    let intervals = started.elapsed().as_secs() + 1;
    assert!(summaries.len() as u64 <= intervals, "{log}");
    assert!(log.lines().count() as u64 <= 2 * intervals, "{log}");
}

/// Collects the log (stderr) of `server` until it exits.
fn read_log(server: &mut tokio::process::Child) -> tokio::task::JoinHandle<String> {
    use tokio::io::AsyncReadExt;
    let mut stderr = server.stderr.take().unwrap();
    tokio::spawn(async move {
        let mut log = Vec::new();
        let _ = stderr.read_to_end(&mut log).await;
        String::from_utf8_lossy(&log).into_owned()
    })
}

#[tokio::test]
async fn new_sessions_from_one_address_are_rate_limited_readably() {
    let redis = redis().await;
    let port = gridcast_server::free_port().unwrap();
    // The defaults: 50 new sessions per second per address, bursts of 500.
    let _server = spawn_gridcast_with(port, &redis.url(), &[], None, false);
    let base = format!("http://127.0.0.1:{port}");
    connect_with_retry(&base).await.close();

    // 1000 handshakes as fast as 200 connections at a time go (a refusal is answered after a
    // pause of a second, so one connection after another would take minutes).
    let handshake = format!("{base}/socket.io/?EIO=4&transport=polling");
    let start = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let worker = || async {
        let mut answers = Vec::new();
        while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 1000 {
            answers.push(request_from(Some(ATTACKER), "GET", &handshake, "", &[]).await);
        }
        answers
    };
    let answers = futures_util::future::join_all((0..200).map(|_| worker())).await;
    let (mut accepted, mut refused) = (0u32, Vec::new());
    for (status, head, body) in answers.into_iter().flatten() {
        match status {
            200 => accepted += 1,
            _ => refused.push((status, head, body)),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let bound = 500.0 + 50.0 * elapsed + 1.0;
    assert!(
        f64::from(accepted) <= bound,
        "{accepted} accepted in {elapsed:.2} s, at most {bound:.0} allowed"
    );
    let (status, head, body) = &refused[0];
    assert_eq!(*status, 429, "{body}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert_eq!(
        body,
        "too many new connections from 127.0.0.2: at most 50/s (bursts of 500) per address; \
         retry in 1 s\n"
    );
    // Another address is not concerned.
    connect_with_retry(&base).await.close();
}

/// Emits `n` messages tagged `tag` without acks, and sorts the answers: accepted ones come back
/// as broadcasts (the sender is included), refused ones as `error` events. Their numbers, and the
/// text of the last refusal.
async fn burst(probe: &mut Probe, tag: &str, n: usize) -> (usize, usize, String) {
    for i in 0..n {
        probe
            .emit(event::MESSAGE, vec![json!(format!("{tag}-{i}"))])
            .unwrap();
    }
    let (mut accepted, mut refused, mut why) = (0, 0, String::new());
    while accepted + refused < n {
        match probe.next(WAIT).await.unwrap() {
            Incoming::Event { event, args, .. }
                if event == event::MESSAGE
                    && args[0].as_str().unwrap().starts_with(&format!("{tag}-")) =>
            {
                accepted += 1;
            }
            Incoming::Event { event, args, .. } if event == event::ERROR => {
                assert_eq!(args[0]["code"], "rate_limited", "{args:?}");
                why = args[0]["message"].as_str().unwrap().to_owned();
                refused += 1;
            }
            Incoming::Closed(reason) => panic!("closed: {reason}"),
            _ => {}
        }
    }
    (accepted, refused, why)
}

#[tokio::test]
async fn the_request_budget_survives_reconnects() {
    let redis = redis().await;
    let port = gridcast_server::free_port().unwrap();
    // The defaults: 20 requests/s per client (bursts of 50), 200/s per address (bursts of 1000).
    let _server = spawn_gridcast_with(port, &redis.url(), &[], None, false);
    let base = format!("http://127.0.0.1:{port}");
    let mut bystander = connect_with_retry(&base).await;

    // A client spends its burst, reconnects with its session: its budget is where it was.
    let start = Instant::now();
    let mut client = Probe::connect_from(&base, None, ATTACKER).await.unwrap();
    let session = client.welcome(WAIT).await.unwrap().session;
    client.ignore(event::PRESENCE);
    let (first, _, _) = burst(&mut client, "spent", 60).await;
    client.close();
    let auth = json!({ "session": session });
    let mut again = Probe::connect_from(&base, Some(auth), ATTACKER)
        .await
        .unwrap();
    assert!(again.welcome(WAIT).await.unwrap().restored);
    again.ignore(event::PRESENCE);
    let (second, _, why) = burst(&mut again, "again", 20).await;
    let elapsed = start.elapsed().as_secs_f64();
    let bound = 50.0 + 20.0 * elapsed + 1.0;
    assert!(
        (first + second) as f64 <= bound,
        "{first} + {second} accepted in {elapsed:.2} s, at most {bound:.0} allowed"
    );
    assert!(why.starts_with("too many messages: at most 20/s"), "{why}");
    again.close();

    // New clients from one address, one after another, each spending its own burst: together
    // they get the address's budget, no more. The bystander (another address) loses nothing.
    let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let start = Instant::now();
    let (mut accepted, mut why) = (0, String::new());
    for n in 0..40 {
        let mut client = Probe::connect_from(&base, None, from).await.unwrap();
        client.welcome(WAIT).await.unwrap();
        client.ignore(event::PRESENCE);
        let (ok, refused, reason) = burst(&mut client, &format!("c{n}"), 50).await;
        accepted += ok;
        if refused > 0 {
            why = reason;
        }
        client.close();
        if n % 10 == 0 {
            bystander_unaffected(&mut bystander, &format!("bystander {n}")).await;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let bound = 1000.0 + 200.0 * elapsed + 1.0;
    assert!(
        accepted as f64 <= bound,
        "{accepted} accepted in {elapsed:.2} s from one address, at most {bound:.0} allowed"
    );
    assert!(
        why.starts_with(
            "too many messages from your address (all its connections together): at most 200/s"
        ),
        "{why}"
    );
}
