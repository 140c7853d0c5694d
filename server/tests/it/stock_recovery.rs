//! socket.io's own connection state recovery, with the official client and no application code:
//! behind nginx through an instance killed with SIGKILL, and through its transport cut every few
//! seconds, on both transports; nothing lost, nothing twice, `socket.recovered` true.

use std::{
    collections::HashMap,
    process::Stdio,
    time::{Duration, Instant},
};

use gridcast_server::{free_port, tools::probe::Probe};
use gridcast_shared::event;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

use crate::support::{connect_with_retry, nginx::Nginx, redis, spawn_gridcast_with};

// `<prefix>-<n>-<ms>`: the sender's number and time.

/// interop/stock-client.mjs: the official client, what it saw as JSON lines.
struct StockClient {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<Value>,
}

impl StockClient {
    async fn start(url: &str, transport: &str, cut_every_ms: Option<u64>) -> Self {
        let dir = crate::support::repo("interop");
        let mut child = Command::new("node")
            .arg(dir.join("stock-client.mjs"))
            .args([url, transport])
            .args(cut_every_ms.map(|ms| ms.to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed for the interop tests");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            _child: child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads until `done` holds for a line (kept in `seen`, as every line), within `wait`.
    async fn until(&mut self, wait: Duration, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no {what} within {wait:?}"))
                .unwrap()
                .expect("the client runs");
            let value: Value = serde_json::from_str(&line).unwrap();
            self.seen.push(value.clone());
            if done(&value) {
                return value;
            }
        }
    }

    /// Reads what arrives for `wait`.
    async fn read_for(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout_at(deadline, self.lines.next_line()).await
        {
            self.seen.push(serde_json::from_str(&line).unwrap());
        }
    }

    /// The `message` texts it got, with how many times each.
    fn messages(&self) -> HashMap<String, u32> {
        let mut counts = HashMap::new();
        for line in &self.seen {
            if line["type"] == "message" {
                *counts
                    .entry(line["text"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
        counts
    }
}

/// A probe on `url` sending `<prefix>-<n>-<ms since epoch>` every `every` until it is aborted;
/// `sent` counts them.
fn send_steadily(
    mut probe: Probe,
    prefix: &'static str,
    every: Duration,
) -> (
    tokio::task::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = sent.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        for n in 0.. {
            tick.tick().await;
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            probe
                .emit(event::MESSAGE, vec![json!(format!("{prefix}-{n}-{ms}"))])
                .unwrap();
            count.store(n + 1, std::sync::atomic::Ordering::SeqCst);
            // Its own copies are not read: keep its buffer from filling.
            while probe.next(Duration::ZERO).await.is_ok() {}
        }
    });
    (task, sent)
}

/// Waits until `client` got `<prefix>-0` to `<prefix>-<sent - 1>`.
async fn all_arrived(client: &mut StockClient, prefix: &str, sent: usize) {
    let arrived = |client: &StockClient| {
        let numbers: std::collections::HashSet<usize> = client
            .messages()
            .keys()
            .filter_map(|t| t.strip_prefix(prefix)?.split('-').nth(1)?.parse().ok())
            .collect();
        (0..sent).filter(|n| numbers.contains(n)).count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while arrived(client) < sent {
        assert!(
            Instant::now() < deadline,
            "{} of {sent} arrived",
            arrived(client)
        );
        client.read_for(Duration::from_millis(200)).await;
    }
}

/// Behind `deploy/nginx.conf`, the instance the stock client is on is killed with SIGKILL under a
/// steady load: the client reconnects through nginx to the other, says it recovered, and has
/// every message once.
#[tokio::test]
async fn the_stock_client_recovers_through_nginx_when_its_instance_is_killed() {
    for transport in ["websocket", "polling"] {
        let redis = redis().await;
        let ports = [free_port().unwrap(), free_port().unwrap()];
        let mut servers =
            ports.map(|port| Some(spawn_gridcast_with(port, &redis.url(), &[], None, false)));
        let urls: Vec<String> = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        for url in &urls {
            connect_with_retry(url).await;
        }
        let lb = Nginx::start(&urls).await;
        let mut client = StockClient::start(&lb.url, transport, None).await;
        let welcome = client
            .until(Duration::from_secs(10), "a welcome", |l| {
                l["type"] == "welcome"
            })
            .await;
        // Its URL says `localhost`; the port tells.
        let on = ports
            .iter()
            .position(|p| {
                welcome["instance"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!(":{p}"))
            })
            .expect("the client is on one of the instances");
        let sender = connect_with_retry(&urls[1 - on]).await;
        let (load, sent) = send_steadily(sender, "load", Duration::from_millis(50));
        client
            .until(Duration::from_secs(10), "the load", |l| {
                l["type"] == "message" && l["text"].as_str().unwrap().starts_with("load-")
            })
            .await;
        // Killed mid-load.
        servers[on].take().unwrap().start_kill().unwrap();
        let reconnected = client
            .until(Duration::from_secs(15), "a reconnect", |l| {
                l["type"] == "connect"
            })
            .await;
        assert_eq!(reconnected["recovered"], true, "{transport}: {reconnected}");
        // Some more load after the move, then everything sent is there, once.
        let moved = sent.load(std::sync::atomic::Ordering::SeqCst);
        while sent.load(std::sync::atomic::Ordering::SeqCst) < moved + 20 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        load.abort();
        let total = sent.load(std::sync::atomic::Ordering::SeqCst);
        all_arrived(&mut client, "load", total).await;
        let counts = client.messages();
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{transport}: received twice: {twice:?}");
    }
}

/// A stock client whose transport is cut every 3 s for 60 s (it reconnects by itself after 0.5
/// to 1.5 s) gets every message of a steady load once, and says it recovered every time.
#[tokio::test]
async fn the_stock_client_whose_transport_is_cut_again_and_again_loses_nothing() {
    const RUN: Duration = Duration::from_secs(60);
    let redis = redis().await;
    let ports = [free_port().unwrap(), free_port().unwrap()];
    let _servers = ports.map(|port| spawn_gridcast_with(port, &redis.url(), &[], None, false));
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    for url in &urls {
        connect_with_retry(url).await;
    }
    let mut ws = StockClient::start(&urls[0], "websocket", Some(3000)).await;
    let mut polling = StockClient::start(&urls[0], "polling", Some(3000)).await;
    for client in [&mut ws, &mut polling] {
        client
            .until(Duration::from_secs(10), "a welcome", |l| {
                l["type"] == "welcome"
            })
            .await;
    }
    let sender = connect_with_retry(&urls[1]).await;
    let (load, sent) = send_steadily(sender, "cut", Duration::from_millis(50));
    let started = Instant::now();
    // Reading as it goes, so that the JSON lines do not pile up in the pipes.
    while started.elapsed() < RUN {
        for client in [&mut ws, &mut polling] {
            client.read_for(Duration::from_millis(50)).await;
        }
    }
    load.abort();
    let total = sent.load(std::sync::atomic::Ordering::SeqCst);
    for (transport, client) in [("websocket", &mut ws), ("polling", &mut polling)] {
        all_arrived(client, "cut", total).await;
        let counts = client.messages();
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{transport}: received twice: {twice:?}");
        let connects: Vec<&Value> = client
            .seen
            .iter()
            .filter(|l| l["type"] == "connect")
            .collect();
        assert!(
            connects.len() >= 10,
            "{transport}: cut {} times",
            connects.len() - 1
        );
        assert!(
            connects[1..].iter().all(|c| c["recovered"] == true),
            "{transport}: every reconnect recovered: {connects:?}"
        );
        // The figure for docs/benchmarks.md: from a reconnect to the arrival of each message
        // that was sent before it and missed.
        let mut latencies = Vec::new();
        let mut connected_at = None;
        for line in &client.seen {
            match line["type"].as_str() {
                Some("connect") => connected_at = line["at"].as_u64(),
                Some("message") => {
                    let text = line["text"].as_str().unwrap();
                    let sent_at: u64 = text.rsplit('-').next().unwrap().parse().unwrap();
                    let at = line["at"].as_u64().unwrap();
                    if let Some(connected) = connected_at
                        && sent_at < connected
                        && at >= connected
                    {
                        latencies.push(at - connected);
                    }
                }
                _ => {}
            }
        }
        latencies.sort_unstable();
        let pick = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
        eprintln!(
            "{transport}: {} reconnects, {total} messages each once, {} replayed: replay latency p50 {} ms, p99 {} ms",
            connects.len() - 1,
            latencies.len(),
            pick(0.5),
            pick(0.99)
        );
    }
}

/// The stock client keeps the last argument of every event as its offset when it is a string:
/// only history-backed events may end with one (their offset), every other event must not.
#[tokio::test]
async fn only_history_backed_events_end_with_a_string() {
    use gridcast_server::tools::probe::Incoming;
    let redis = redis().await;
    let cluster = crate::support::instances(&redis, 1).await;
    let base = crate::support::url(&cluster[0]);
    let mut probe = Probe::connect(&base).await.unwrap();
    let welcome = probe.welcome(crate::support::WAIT).await.unwrap();
    let _ = probe
        .emit_with_ack(event::PRESENCE, vec![], crate::support::WAIT)
        .await;
    let _ = probe
        .emit_with_ack(
            event::JOIN,
            vec![json!({"room": "ops"})],
            crate::support::WAIT,
        )
        .await;
    probe.emit(event::MESSAGE, vec![json!("hello")]).unwrap();
    probe
        .emit(
            event::ROOM_MESSAGE,
            vec![json!({"room": "ops", "text": "hi"})],
        )
        .unwrap();
    probe
        .emit(event::DIRECT, vec![json!({"to": welcome.id, "text": "me"})])
        .unwrap();
    probe.emit("no_such_event", vec![json!(1)]).unwrap();
    // Someone arrives (a presence change), then takes this client's session over.
    let _other = crate::support::client(&cluster[0]).await;
    let mut seen = std::collections::BTreeSet::new();
    let mut check = |event: String, args: Vec<Value>| {
        let ends_with_string = args.last().is_some_and(Value::is_string);
        let history_backed =
            [event::MESSAGE, event::ROOM_MESSAGE, event::DIRECT].contains(&event.as_str());
        assert_eq!(ends_with_string, history_backed, "{event}: {args:?}");
        seen.insert(event);
    };
    let deadline = tokio::time::Instant::now() + crate::support::WAIT;
    while tokio::time::Instant::now() < deadline {
        match probe.next(crate::support::WAIT).await.unwrap() {
            Incoming::Event { event, args, .. } => {
                let done = event == event::PRESENCE
                    && args[0]
                        .as_array()
                        .is_some_and(|d| d.iter().any(|delta| delta["op"] == "upsert"));
                check(event, args);
                if done {
                    break;
                }
            }
            Incoming::Closed(reason) => panic!("closed: {reason}"),
        }
    }
    let _taker = Probe::connect_with(&base, Some(json!({"session": welcome.session})))
        .await
        .unwrap();
    for item in probe.drain(Duration::from_millis(500)).await {
        if let Incoming::Event { event, args, .. } = item {
            check(event, args);
        }
    }
    for expected in [
        event::MESSAGE,
        event::ROOM_MESSAGE,
        event::DIRECT,
        event::PRESENCE,
        event::ERROR,
        event::SESSION_TAKEN,
    ] {
        assert!(seen.contains(expected), "{expected} seen: {seen:?}");
    }
}
