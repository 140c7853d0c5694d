//! A real local Redis Cluster: 3 masters and 3 replicas, each a `redis-server --cluster-enabled
//! yes` on a free loopback port, joined with `redis-cli --cluster create`.

use std::{
    net::{Ipv4Addr, TcpListener},
    path::PathBuf,
    time::Duration,
};

use gridcast_server::PrivateRedis;
use tokio::time::Instant;

/// How long a node may be unreachable before the cluster fails it over (Redis' default is 15 s;
/// failover takes about this long plus an election).
pub const NODE_TIMEOUT_MS: u64 = 2000;

/// A running cluster; its nodes are killed when it is dropped.
pub struct RedisCluster {
    nodes: Vec<PrivateRedis>,
    dir: PathBuf,
}

/// A port whose cluster bus port (port + 10000) is free too; both at most 65535.
fn cluster_port(taken: &[u16]) -> u16 {
    for _ in 0..1000 {
        let port = rand::random_range(20_000..=55_535u16);
        if taken.contains(&port) || taken.contains(&(port + 10_000)) {
            continue;
        }
        let free = |p: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

async fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    cmd.query_async(&mut conn).await
}

impl RedisCluster {
    /// Starts six nodes and joins them: three masters, one replica each.
    pub async fn start() -> Self {
        super::init_tracing();
        let dir = std::env::temp_dir().join(format!(
            "gridcast-cluster-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ports = Vec::new();
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let port = cluster_port(&ports);
            ports.push(port);
            let args: Vec<String> = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &dir.join(format!("nodes-{port}.conf")).to_string_lossy(),
                "--cluster-node-timeout",
                &NODE_TIMEOUT_MS.to_string(),
                // Redis 7 waits 5 s before a diskless full sync; a replica that never synced
                // cannot take over.
                "--repl-diskless-sync-delay",
                "0",
                "--dir",
                &dir.to_string_lossy(),
            ]
            .map(str::to_owned)
            .into();
            nodes.push(
                PrivateRedis::start_with("redis-server", port, &args)
                    .await
                    .expect("redis-server starts as a cluster node"),
            );
        }
        let mut create = tokio::process::Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for port in &ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let out = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .await
            .expect("redis-cli runs (apt-get install redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self { nodes, dir };
        cluster.wait_healthy(Duration::from_secs(30)).await;
        cluster
    }

    /// Seed URLs: every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port()))
            .collect()
    }

    /// Waits until every node says the cluster is ok with all slots served, and the three
    /// replicas are in sync with their masters.
    pub async fn wait_healthy(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.healthy().await {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster is not healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn healthy(&self) -> bool {
        let (mut masters, mut synced) = (0, 0);
        for node in &self.nodes {
            let Ok(info) = query::<String>(node.port(), redis::cmd("CLUSTER").arg("INFO")).await
            else {
                continue; // a killed node
            };
            if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384") {
                return false;
            }
            let Ok(replication) =
                query::<String>(node.port(), redis::cmd("INFO").arg("replication")).await
            else {
                return false;
            };
            if replication.contains("role:master") {
                masters += 1;
            } else if replication.contains("master_link_status:up") {
                synced += 1;
            }
        }
        masters == 3 && synced == 3
    }

    /// The port of the master serving `key` now.
    pub async fn master_of(&self, key: &str) -> u16 {
        let slot: u16 = query(
            self.nodes[0].port(),
            redis::cmd("CLUSTER").arg("KEYSLOT").arg(key),
        )
        .await
        .unwrap();
        for node in &self.nodes {
            let Ok(range) =
                query::<Vec<redis::Value>>(node.port(), redis::cmd("CLUSTER").arg("SLOTS")).await
            else {
                continue;
            };
            for entry in range {
                let (start, end, master): (u16, u16, (String, u16)) =
                    redis::FromRedisValue::from_redis_value(match entry {
                        redis::Value::Array(mut items) => {
                            items.truncate(3);
                            // The master's entry is [host, port, id, ...]: keep host and port.
                            if let Some(redis::Value::Array(m)) = items.get_mut(2) {
                                m.truncate(2);
                            }
                            redis::Value::Array(items)
                        }
                        other => other,
                    })
                    .unwrap();
                if (start..=end).contains(&slot) {
                    return master.1;
                }
            }
        }
        panic!("no node serves the slot of {key}");
    }

    /// Kills the node on `port` (SIGKILL).
    pub async fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port() == port)
            .expect("a node of this cluster");
        node.stop().await;
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` instances on free ports using `cluster`, each its own [`gridcast_server::Cluster`].
pub async fn instances_on(cluster: &RedisCluster, n: usize) -> Vec<gridcast_server::Cluster> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut config = gridcast_server::ServeConfig::new(vec![0], None);
        config.redis_cluster = cluster.urls();
        config.publish_timeout = Duration::from_millis(300);
        config.static_dir = "/nonexistent-gridcast-dist".into();
        out.push(
            gridcast_server::Cluster::start(config)
                .await
                .expect("instance starts on the cluster"),
        );
    }
    out
}
