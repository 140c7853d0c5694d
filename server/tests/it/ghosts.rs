//! Presence converges to the live sockets (issue 20, part 5): clients that close at once, and a
//! delete Redis refused, leave no member behind; a direct message to a client gone for good is
//! refused; and presence write failures are summarised in the log instead of one line each.
//! Two instances in separate `gridcast` processes on one Redis, as in the measurement.

use std::{collections::HashSet, time::Duration};

use futures_util::{StreamExt, stream};
use gridcast_server::{PrivateRedis, free_port, tools::probe::Probe};
use gridcast_shared::{Members, RejectionCode, Reply, Sent, event, presence::Member};
use serde_json::{Value, json};
use tokio::{process::Child, time::Instant};

use crate::support::{QUIET, WAIT, connect_with_retry, get, redis, request, spawn_gridcast_with};

/// Two `gridcast` processes with `flags` on one fresh Redis.
pub(crate) struct Pair {
    pub(crate) redis: PrivateRedis,
    pub(crate) urls: [String; 2],
    pub(crate) children: Vec<Child>,
}

impl Pair {
    pub(crate) async fn start(flags: &[&str], capture_log: bool) -> Self {
        let redis = redis().await;
        let mut flags = flags.to_vec();
        flags.extend(["--max-connections-per-address", "0"]);
        let ports = [free_port().unwrap(), free_port().unwrap()];
        let children = ports
            .iter()
            .map(|&p| spawn_gridcast_with(p, &redis.url(), &flags, None, capture_log))
            .collect();
        let urls = ports.map(|p| format!("http://127.0.0.1:{p}"));
        for url in &urls {
            connect_with_retry(url).await.close();
        }
        Self {
            redis,
            urls,
            children,
        }
    }

    /// Clients connected to instance `i`, by its `/health`.
    pub(crate) async fn clients(&self, i: usize) -> u64 {
        let health: Value =
            serde_json::from_str(&get(&format!("{}/health", self.urls[i])).await).unwrap();
        health["clients"].as_u64().unwrap()
    }

    /// Waits (bounded) until the instances hold `n` clients together.
    pub(crate) async fn wait_clients(&self, n: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let now = self.clients(0).await + self.clients(1).await;
            if now == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{now} clients connected, not {n}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `cmd` on the Redis.
    pub(crate) async fn redis<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        let client = redis::Client::open(self.redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        cmd.query_async(&mut conn).await.unwrap()
    }
}

/// Every member on every page of the presence list, as `probe` reads it.
pub(crate) async fn listed(probe: &mut Probe) -> Vec<Member> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let ack = probe
            .emit_with_ack(event::PRESENCE, vec![json!({ "cursor": cursor })], WAIT)
            .await
            .unwrap();
        let Ok(Reply::Ok(Members { members, next })) = serde_json::from_value(ack[0].clone())
        else {
            panic!("presence refused: {ack:?}");
        };
        all.extend(members);
        match next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// Waits (bounded by `within`) until the presence list is exactly `live`; the ids listed at the
/// end otherwise.
async fn converges(probe: &mut Probe, live: &HashSet<String>, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now: HashSet<String> = listed(probe).await.into_iter().map(|m| m.id).collect();
        if now == *live {
            return;
        }
        let ghosts = now.difference(live).count();
        let missing = live.difference(&now).count();
        assert!(
            Instant::now() < deadline,
            "presence still differs from the live sockets after {within:?}: \
             {ghosts} ghosts, {missing} missing"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A client that connects and closes at once: over WebSocket right after the CONNECT ack, or over
/// long-polling in the same breath as its CONNECT (a Socket.IO and an Engine.IO close in one
/// POST).
async fn connect_and_close(base: String, websocket: bool) {
    if websocket {
        if let Ok(probe) = Probe::connect(&base).await {
            probe.close();
        }
        return;
    }
    let engine = format!("{base}/socket.io/?EIO=4&transport=polling");
    let (_, open) = request("GET", &engine, "").await;
    let Some(sid) = open
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
    else {
        return;
    };
    let session = format!("{engine}&sid={sid}");
    request("POST", &session, "40").await;
    request("POST", &session, "41\u{1e}1").await;
}

/// Many clients connect and close at once on both instances while two bystanders talk across
/// them: the list ends up holding exactly the live sockets, and the bystanders lose nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_close_at_once_leave_no_ghosts_and_bystanders_lose_nothing() {
    const FLOOD: usize = 1000;
    const SENT: usize = 40;
    let pair = Pair::start(&[], false).await;
    let mut watcher = connect_with_retry(&pair.urls[0]).await;
    let mut sender = connect_with_retry(&pair.urls[0]).await;
    let mut receiver = connect_with_retry(&pair.urls[1]).await;
    let live: HashSet<String> = [&watcher, &sender, &receiver]
        .iter()
        .map(|p| p.id().to_owned())
        .collect();
    converges(&mut watcher, &live, Duration::from_secs(5)).await;

    let urls = pair.urls.clone();
    let flood = stream::iter(0..FLOOD)
        .map(|n| connect_and_close(urls[n % 2].clone(), n % 4 < 2))
        .buffer_unordered(40)
        .collect::<Vec<()>>();
    let talk = async {
        let mut ids = Vec::new();
        for n in 0..SENT {
            let ack = sender
                .emit_with_ack(event::MESSAGE, vec![json!(format!("during {n}"))], WAIT)
                .await
                .unwrap();
            let Ok(Reply::Ok(Sent { id, .. })) = serde_json::from_value(ack[0].clone()) else {
                panic!("refused: {ack:?}");
            };
            ids.push(id);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        ids
    };
    let ((), sent) = tokio::join!(async { drop(flood.await) }, talk);

    // Every message, once, in order, on the other instance.
    let mut got = Vec::new();
    while got.len() < SENT {
        let args = receiver.next_event(event::MESSAGE, WAIT).await.unwrap();
        got.push(args[1]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        got, sent,
        "the bystander on the other instance got everything once"
    );
    assert!(
        receiver.next_event(event::MESSAGE, QUIET).await.is_err(),
        "nothing twice"
    );

    pair.wait_clients(3, Duration::from_secs(30)).await;
    // The heartbeat (every second) repairs what a race left: a couple of beats.
    converges(&mut watcher, &live, Duration::from_secs(8)).await;
}

/// A delete that Redis refuses (an ACL revokes `HDEL`, standing in for a Redis that cannot be
/// reached when the client leaves) is made good by the heartbeat once Redis takes it again; a
/// direct message to the client, once its session expired too, is refused.
#[tokio::test]
async fn a_member_whose_delete_failed_goes_and_direct_messages_to_it_are_refused() {
    let pair = Pair::start(&["--session-ttl", "1s"], false).await;
    let mut watcher = connect_with_retry(&pair.urls[0]).await;
    let gone = connect_with_retry(&pair.urls[1]).await;
    let gone_id = gone.id().to_owned();
    let both: HashSet<String> = [watcher.id().to_owned(), gone_id.clone()].into();
    converges(&mut watcher, &both, Duration::from_secs(5)).await;

    let acl = |rule: &str| {
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg("default")
            .arg(rule)
            .clone()
    };
    pair.redis::<()>(&acl("-hdel")).await;
    gone.close();
    pair.wait_clients(1, WAIT).await;
    pair.redis::<()>(&acl("+hdel")).await;

    let alone: HashSet<String> = [watcher.id().to_owned()].into();
    converges(&mut watcher, &alone, Duration::from_secs(8)).await;
    // Its session (1 s) is over too: nobody can come back as it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ack = watcher
            .emit_with_ack(
                event::DIRECT,
                vec![json!({"to": gone_id, "text": "hello?"})],
                WAIT,
            )
            .await
            .unwrap();
        match serde_json::from_value::<Reply<Sent>>(ack[0].clone()).unwrap() {
            Reply::Err(e) if e.code == RejectionCode::NoSuchClient => break,
            other => assert!(
                Instant::now() < deadline,
                "a direct message to a client gone for good: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Presence writes that all fail (an ACL revokes `HSET` and `HDEL`) while 300 clients come and
/// go: the log says so in a few lines with counts, not a line per failure.
#[tokio::test]
async fn presence_write_failures_are_summarised_in_the_log() {
    let pair = Pair::start(&["--report-interval", "1s"], true).await;
    let mut pair = pair;
    let mut log = pair.children[0].stderr.take().unwrap();
    let log = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut text = String::new();
        let _ = log.read_to_string(&mut text).await;
        text
    });
    pair.redis::<()>(
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg("default")
            .arg("-hset")
            .arg("-hdel"),
    )
    .await;
    let url = pair.urls[0].clone();
    stream::iter(0..300)
        .map(|_| connect_and_close(url.clone(), true))
        .buffer_unordered(20)
        .collect::<Vec<()>>()
        .await;
    pair.wait_clients(0, Duration::from_secs(30)).await;
    // Two report intervals, for the summary lines.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for child in &mut pair.children {
        child.start_kill().unwrap();
    }
    let log = log.await.unwrap();
    let presence: Vec<&str> = log.lines().filter(|l| l.contains("presence not")).collect();
    assert!(
        presence.len() < 20,
        "{} presence warning lines: {:.2000}",
        presence.len(),
        presence.join("\n")
    );
    let counted: u64 = presence
        .iter()
        .filter_map(|l| {
            l.split("count=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        counted >= 300,
        "the summaries count the failures ({counted}): {}",
        presence.join("\n")
    );
}
