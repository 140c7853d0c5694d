//! Test support: real redis-server processes and real instances on free loopback ports, cleaned up
//! when dropped (also when a test panics).

pub mod admin;
pub mod cluster;
pub mod js;
pub mod lag;
pub mod nginx;
pub mod node;
pub mod scenario;
pub mod sentinel;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use gridcast_server::{Cluster, PrivateRedis, ServeConfig, tools::probe::Probe};

/// `rel` under the repository root, found at run time (cargo sets `CARGO_MANIFEST_DIR` for
/// `cargo test`): a test binary reused from a build in another checkout sharing the target
/// directory must not read that checkout's files.
pub fn repo(rel: &str) -> std::path::PathBuf {
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    std::path::PathBuf::from(manifest).join("..").join(rel)
}

/// How long any single expected event may take. Generous: CI machines are slow and shared.
pub const WAIT: Duration = Duration::from_secs(5);

/// How long we listen to be sure nothing more arrives.
pub const QUIET: Duration = Duration::from_millis(300);

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    use tracing_subscriber::{Layer, layer::SubscriberExt, util::SubscriberInitExt};
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(gridcast_server::quiet(
                    tracing_subscriber::EnvFilter::from_default_env(),
                )),
        )
        .with(gridcast_server::counting_layer())
        .try_init();
}

/// A fresh redis-server on a free loopback port.
pub async fn redis() -> PrivateRedis {
    init_tracing();
    PrivateRedis::start("redis-server").await.expect(
        "redis-server must be installed for the integration tests (apt-get install redis-server)",
    )
}

/// A connection to `redis` of the test's own, to look at or act on it directly.
pub async fn redis_conn(redis: &PrivateRedis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Pauses every client of the Redis behind `conn` for `ms` milliseconds (`CLIENT PAUSE … ALL`).
pub async fn pause_redis(conn: &mut redis::aio::MultiplexedConnection, ms: u64) {
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .arg("ALL")
        .query_async(conn)
        .await
        .unwrap();
}

/// The texts of the history's entries (field `x`, stored as it is), oldest first.
pub async fn history_texts(conn: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(&["gridcast:history", "-", "+"])
        .query_async(conn)
        .await
        .unwrap();
    entries
        .into_iter()
        .filter_map(|(_, fields)| fields.into_iter().find(|(k, _)| k == "x"))
        .map(|(_, text)| text)
        .collect()
}

/// An instance's `GET /health`, as JSON.
pub async fn health(base: &str) -> serde_json::Value {
    serde_json::from_str(&get(&format!("{base}/health")).await).unwrap()
}

/// `n` instances on free ports sharing `redis`, each its own [`Cluster`] so one can be stopped
/// alone. The prefix is random so that tests never see each other even on one Redis.
pub async fn instances(redis: &PrivateRedis, n: usize) -> Vec<Cluster> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut config = ServeConfig::new(vec![0], Some(redis.url()));
        config.publish_timeout = Duration::from_millis(300);
        config.static_dir = "/nonexistent-gridcast-dist".into();
        out.push(Cluster::start(config).await.expect("instance starts"));
    }
    out
}

/// The base URL of a single-instance cluster.
pub fn url(cluster: &Cluster) -> String {
    cluster.urls().remove(0)
}

/// A probe connected to `cluster`, past its `welcome` event, ignoring `presence` deltas and the
/// instance's `redis_link` changes (tests of messages count what arrives; [`watcher`] sees all).
pub async fn client(cluster: &Cluster) -> Probe {
    let mut probe = watcher(cluster).await;
    probe.ignore(gridcast_shared::event::PRESENCE);
    probe.ignore(gridcast_shared::event::REDIS_LINK);
    probe
}

/// A probe connected to `cluster`, past its `welcome` event, seeing every event.
pub async fn watcher(cluster: &Cluster) -> Probe {
    let mut probe = Probe::connect(&url(cluster)).await.expect("probe connects");
    probe.welcome(WAIT).await.expect("welcome arrives");
    probe
}

/// A minimal HTTP GET on a fresh connection; returns the body (keeps the dev-dependencies small).
pub async fn get(url: &str) -> String {
    request("GET", url, "").await.1
}

/// A minimal HTTP/1.1 request on a fresh connection (`Connection: close`): the status code and
/// the body. Enough for the endpoints under test and for hand-made Engine.IO polling requests.
pub async fn request(method: &str, url: &str, body: &str) -> (u16, String) {
    let (status, _, body) = request_with(method, url, body, &[]).await;
    (status, body)
}

/// [`request`] with extra request `headers`; also returns the response's head (status line and
/// headers, lowercased).
pub async fn request_with(
    method: &str,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    request_from(None, method, url, body, headers).await
}

/// [`request_with`] on a connection from the local address `from` (e.g. `127.0.0.2`: another
/// address than the other clients of the test), or from any when `None`.
pub async fn request_from(
    from: Option<std::net::IpAddr>,
    method: &str,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = match from {
        None => tokio::net::TcpStream::connect(host).await,
        Some(local) => {
            let server = tokio::net::lookup_host(host)
                .await
                .unwrap()
                .find(|a| a.is_ipv4() == local.is_ipv4())
                .expect("the server's address");
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind((local, 0).into()).unwrap();
            socket.connect(server).await
        }
    }
    .expect("server reachable");
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain;charset=UTF-8\r\n\
         {extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("a response in time")
        .expect("a readable response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match response.split_once("\r\n\r\n") {
        Some((head, body)) => (status, head.to_ascii_lowercase(), body.to_owned()),
        None => (status, response.to_ascii_lowercase(), String::new()),
    }
}

/// The `gridcast` binary serving `port` in a separate process (killed when dropped), like an
/// instance started by someone else in another terminal.
pub fn spawn_gridcast(port: u16, redis_url: &str) -> tokio::process::Child {
    spawn_gridcast_with(port, redis_url, &[], None, false)
}

/// [`spawn_gridcast`] with extra `serve` flags, optionally a hard and soft limit on open files
/// (set by the shell before it executes gridcast), and optionally its log (stderr) piped for the
/// test to read.
pub fn spawn_gridcast_with(
    port: u16,
    redis_url: &str,
    flags: &[&str],
    max_open_files: Option<u32>,
    capture_log: bool,
) -> tokio::process::Child {
    spawn_gridcast_logging(port, redis_url, flags, max_open_files, capture_log, "warn")
}

/// [`spawn_gridcast_with`] with `RUST_LOG` set to `rust_log`.
pub fn spawn_gridcast_logging(
    port: u16,
    redis_url: &str,
    flags: &[&str],
    max_open_files: Option<u32>,
    capture_log: bool,
    rust_log: &str,
) -> tokio::process::Child {
    let redis = ["--redis-url", redis_url];
    spawn_serve(port, &redis, flags, max_open_files, capture_log, rust_log)
}

/// [`spawn_gridcast_logging`] with the flags that say where Redis is (`--redis-url <url>`,
/// `--redis-sentinel <spec>`, ...) given as `redis`.
pub fn spawn_serve(
    port: u16,
    redis: &[&str],
    flags: &[&str],
    max_open_files: Option<u32>,
    capture_log: bool,
    rust_log: &str,
) -> tokio::process::Child {
    let bin = env!("CARGO_BIN_EXE_gridcast");
    let mut command = match max_open_files {
        Some(n) => {
            let mut sh = tokio::process::Command::new("sh");
            sh.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), bin]);
            sh
        }
        None => tokio::process::Command::new(bin),
    };
    command
        .args(["serve", "--ports", &port.to_string()])
        .args(redis)
        .args(["--static-dir", "/nonexistent-gridcast-dist"])
        .args(flags)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(if capture_log {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .kill_on_drop(true)
        .spawn()
        .expect("the gridcast binary starts")
}

/// A probe connected to `url` once it accepts connections (bounded), past its `welcome`,
/// ignoring `presence` deltas.
pub async fn connect_with_retry(url: &str) -> Probe {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Probe::connect(url).await {
            Ok(mut probe) => {
                probe.welcome(WAIT).await.expect("welcome arrives");
                probe.ignore(gridcast_shared::event::PRESENCE);
                return probe;
            }
            Err(e) if Instant::now() > deadline => panic!("{url} never came up: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The next `redis_link` event `probe` gets within `within`: its state.
pub async fn next_link_state(probe: &mut Probe, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match probe.next(left).await {
            Ok(gridcast_server::tools::probe::Incoming::Event { event, args, .. })
                if event == gridcast_shared::event::REDIS_LINK =>
            {
                assert!(args[0]["since"].as_u64().is_some(), "{args:?}");
                return args[0]["state"].as_str().unwrap().to_owned();
            }
            Ok(_) => {}
            Err(e) => panic!("no redis_link within {within:?}: {e}"),
        }
    }
}

/// Sends `text` as a message from `probe` and returns how the server delivered it (panics when
/// it is refused).
pub async fn send(probe: &mut Probe, text: &str) -> gridcast_shared::Delivery {
    use gridcast_shared::{Reply, Sent, event};
    let ack = probe
        .emit_with_ack(event::MESSAGE, vec![serde_json::json!(text)], WAIT)
        .await
        .unwrap();
    match serde_json::from_value(ack[0].clone()).unwrap() {
        Reply::<Sent>::Ok(Sent { delivery, .. }) => delivery,
        refused => panic!("{text:?} refused: {refused:?}"),
    }
}
