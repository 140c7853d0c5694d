//! The reference Node.js setup (socket.io 4 + @socket.io/redis-adapter), interop/reference-server.mjs.

use std::{process::Stdio, time::Duration};

use gridcast_server::free_port;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// One `node interop/reference-server.mjs` instance, killed when dropped.
pub struct NodeServer {
    child: Child,
    /// Its base URL.
    pub url: String,
}

impl NodeServer {
    /// Starts one on a free port, using `redis_url`.
    pub async fn start(redis_url: &str) -> Self {
        let dir = super::repo("interop");
        assert!(
            dir.join("node_modules/socket.io").is_dir(),
            "the Node.js reference server is not installed: run `./dev test` (or `npm ci --prefix interop`)"
        );
        let port = free_port().unwrap();
        let mut child = Command::new("node")
            .arg(dir.join("reference-server.mjs"))
            .args([&port.to_string(), redis_url])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(15), lines.next_line()).await;
        assert!(
            matches!(ready, Ok(Ok(Some(ref l))) if l.starts_with("listening")),
            "{ready:?}"
        );
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }
}
