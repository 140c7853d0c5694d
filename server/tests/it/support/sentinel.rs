//! A real local Redis with Sentinel: a master, a replica and three sentinels
//! (`redis-server <config> --sentinel`), each on a free loopback port. The replica replicates
//! through a proxy the test can hold, to make it lag behind the master as a slow network would.

use std::{path::PathBuf, process::Stdio, sync::Arc, time::Duration};

use gridcast_server::{PrivateRedis, free_port};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
    time::Instant,
};

/// The master's name in the sentinels' configuration.
pub const MASTER: &str = "gridcast";

/// How long the master may not answer before a sentinel thinks it is down.
pub const DOWN_AFTER_MS: u64 = 1000;

/// A running setup; every process is killed when it is dropped.
pub struct RedisSentinel {
    master: PrivateRedis,
    replica: PrivateRedis,
    sentinels: Vec<(u16, tokio::process::Child)>,
    proxy: Proxy,
    dir: PathBuf,
}

pub async fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    cmd.query_async(&mut conn).await
}

impl RedisSentinel {
    /// Starts the master, the replica (through the proxy) and three sentinels, and waits until
    /// the replica is in sync and the sentinels know it and each other.
    pub async fn start() -> Self {
        super::init_tracing();
        let dir = std::env::temp_dir().join(format!(
            "gridcast-sentinel-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let dir_arg = dir.to_string_lossy().into_owned();
        // Redis 7 waits 5 s before a diskless full sync; a replica keeps the RDB it receives in
        // its `--dir` (the old master too, once it is demoted).
        let common = ["--repl-diskless-sync-delay", "0", "--dir", &dir_arg];
        let master_args: Vec<String> = ["--dbfilename", "master.rdb"]
            .iter()
            .chain(&common)
            .map(|a| a.to_string())
            .collect();
        let master = PrivateRedis::start_with("redis-server", free_port().unwrap(), &master_args)
            .await
            .expect("redis-server starts");
        let proxy = Proxy::start(master.port()).await;
        let proxy_port = proxy.port.to_string();
        let replica_args: Vec<String> = [
            "--replicaof",
            "127.0.0.1",
            &proxy_port,
            "--dbfilename",
            "replica.rdb",
        ]
        .iter()
        .chain(&common)
        .map(|a| a.to_string())
        .collect();
        let replica = PrivateRedis::start_with("redis-server", free_port().unwrap(), &replica_args)
            .await
            .expect("redis-server starts as a replica");
        wait_for("the replica to sync", Duration::from_secs(20), || async {
            info(replica.port(), "replication")
                .await
                .contains("master_link_status:up")
        })
        .await;
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let port = free_port().unwrap();
            let config = dir.join(format!("sentinel-{port}.conf"));
            // `failover-timeout` also delays a sentinel's correction of a replica that replicates
            // from another address than the master's (the proxy's): longer than any test.
            std::fs::write(
                &config,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile \"\"\n\
                     sentinel monitor {MASTER} 127.0.0.1 {master} 2\n\
                     sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n\
                     sentinel failover-timeout {MASTER} 60000\n\
                     sentinel parallel-syncs {MASTER} 1\n",
                    dir = dir.display(),
                    master = master.port(),
                ),
            )
            .unwrap();
            let child = tokio::process::Command::new("redis-server")
                .arg(&config)
                .arg("--sentinel")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("redis-server runs as a sentinel");
            sentinels.push((port, child));
        }
        let setup = Self {
            master,
            replica,
            sentinels,
            proxy,
            dir,
        };
        let replica = setup.replica.port().to_string();
        wait_for(
            "the sentinels to agree",
            Duration::from_secs(30),
            || async {
                let mut ready = 0;
                for (port, _) in &setup.sentinels {
                    let quorum =
                        query::<String>(*port, redis::cmd("SENTINEL").arg("CKQUORUM").arg(MASTER))
                            .await;
                    let replicas = query::<Vec<std::collections::HashMap<String, String>>>(
                        *port,
                        redis::cmd("SENTINEL").arg("REPLICAS").arg(MASTER),
                    )
                    .await
                    .unwrap_or_default();
                    let knows_replica = replicas.iter().any(|r| {
                        r.get("port") == Some(&replica)
                            && r.get("flags").is_some_and(|f| f == "slave")
                    });
                    if quorum.is_ok_and(|q| q.starts_with("OK 3")) && knows_replica {
                        ready += 1;
                    }
                }
                ready == 3
            },
        )
        .await;
        setup
    }

    /// What `--redis-sentinel` takes: `<master>@host:port,...`.
    pub fn spec(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect();
        format!("{MASTER}@{}", hosts.join(","))
    }

    /// The replica's port (the new master's after a failover).
    pub fn replica_port(&self) -> u16 {
        self.replica.port()
    }

    /// Stops passing the master's writes to the replica (the replica's link stays open).
    pub fn hold_replication(&self) {
        self.proxy.hold.send_replace(true);
    }

    /// Kills the master (SIGKILL) and the replica's link to it: whatever the proxy held back is
    /// gone.
    pub async fn kill_master(&mut self) {
        self.master.stop().await;
        self.proxy.tasks.abort_all();
    }

    /// Asks the sentinels for a failover while the master is alive (`SENTINEL FAILOVER`): it is
    /// demoted to a replica of the promoted one.
    pub async fn failover(&self) {
        let done: String = query(
            self.sentinels[0].0,
            redis::cmd("SENTINEL").arg("FAILOVER").arg(MASTER),
        )
        .await
        .expect("the sentinels start a failover");
        assert_eq!(done, "OK");
    }

    /// Waits until the sentinels name the replica as the master; how long that took.
    pub async fn wait_promoted(&self, within: Duration) -> Duration {
        let started = Instant::now();
        let replica = self.replica.port().to_string();
        let sentinel = self.sentinels[0].0;
        wait_for("the replica's promotion", within, || async {
            let addr = query::<Vec<String>>(
                sentinel,
                redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(MASTER),
            )
            .await
            .unwrap_or_default();
            addr.get(1) == Some(&replica)
                && info(self.replica.port(), "replication")
                    .await
                    .contains("role:master")
        })
        .await;
        started.elapsed()
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `INFO <section>` of the server on `port` (empty when it does not answer).
async fn info(port: u16, section: &str) -> String {
    query(port, redis::cmd("INFO").arg(section))
        .await
        .unwrap_or_default()
}

/// Polls `ready` until it says yes, at most `within`.
async fn wait_for<F: Future<Output = bool>>(what: &str, within: Duration, ready: impl Fn() -> F) {
    let deadline = Instant::now() + within;
    while !ready().await {
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TCP proxy from a free port to the master: the replica's link. Holding it stops the
/// master's bytes on their way to the replica (the replica's own go on).
struct Proxy {
    port: u16,
    hold: Arc<watch::Sender<bool>>,
    tasks: JoinSet<()>,
}

impl Proxy {
    async fn start(master: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = Arc::new(watch::channel(false).0);
        let mut tasks = JoinSet::new();
        let held = hold.clone();
        tasks.spawn(async move {
            let mut links = JoinSet::new();
            while let Ok((replica, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", master)).await else {
                    continue;
                };
                let (mut from_replica, mut to_replica) = replica.into_split();
                let (mut from_master, mut to_master) = upstream.into_split();
                links.spawn(async move {
                    let _ = tokio::io::copy(&mut from_replica, &mut to_master).await;
                });
                let mut hold = held.subscribe();
                links.spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let Ok(n @ 1..) = from_master.read(&mut buf).await else {
                            return;
                        };
                        // While held, the bytes wait here (and the master's next ones in the
                        // kernel's buffers).
                        let released = hold.wait_for(|held| !held).await.is_ok();
                        if !released || to_replica.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
            // Dropping `links` (when this task is aborted) closes every link.
        });
        Self { port, hold, tasks }
    }
}
