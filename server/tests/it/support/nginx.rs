//! Debian's nginx, unprivileged, in front of instances, with `deploy/nginx.conf`.

use std::{path::PathBuf, process::Stdio, time::Duration};

use gridcast_server::free_port;
use tokio::process::{Child, Command};

/// An nginx in the foreground with its own config and temp dir; killed when dropped.
pub struct Nginx {
    _child: Child,
    /// Its base URL.
    pub url: String,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx on a free port, balancing over `backends` (base URLs).
    pub async fn start(backends: &[String]) -> Self {
        let template = std::fs::read_to_string(super::repo("deploy/nginx.conf")).unwrap();
        let dir =
            std::env::temp_dir().join(format!("gridcast-nginx-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port().unwrap();
        let servers: String = backends
            .iter()
            .map(|b| {
                let host = b
                    .trim_start_matches("http://")
                    .replace("localhost", "127.0.0.1");
                format!("server {host};\n        ")
            })
            .collect();
        let config = template
            .replace("{{dir}}", &dir.display().to_string())
            .replace("{{listen}}", &format!("127.0.0.1:{port}"))
            .replace("{{servers}}", servers.trim_end());
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            // One process (no master and workers), so killing it on drop leaves nothing behind.
            .args(["-g", "daemon off; master_process off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx must be installed for the load-balancer tests (apt-get install nginx)");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            _child: child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
