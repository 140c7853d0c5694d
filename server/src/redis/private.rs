//! A private `redis-server` child process on a free loopback port.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    process::Stdio,
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
    time::{Instant, sleep},
};

use crate::error::Error;

/// A `redis-server` this process started; killed when dropped.
#[derive(Debug)]
pub struct PrivateRedis {
    bin: String,
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts `bin` on a free loopback port and waits until it answers `PING`.
    pub async fn start(bin: &str) -> Result<Self, Error> {
        let port = free_port().map_err(|e| Error::PrivateRedis {
            port: 0,
            reason: format!("no free port: {e}"),
        })?;
        Self::start_on(bin, port).await
    }

    /// Starts `bin` on `port` (loopback only, no persistence) and waits until it answers `PING`.
    pub async fn start_on(bin: &str, port: u16) -> Result<Self, Error> {
        Self::start_with(bin, port, &[]).await
    }

    /// Starts `bin` on `port` like [`start_on`](Self::start_on), with more arguments (e.g. the
    /// cluster settings of a Redis Cluster node); [`restart`](Self::restart) passes them again.
    pub async fn start_with(bin: &str, port: u16, args: &[String]) -> Result<Self, Error> {
        let mut redis = Self {
            bin: bin.to_owned(),
            port,
            args: args.to_vec(),
            child: None,
        };
        redis.restart().await?;
        Ok(redis)
    }

    /// (Re)starts the server on the same port, e.g. after [`stop`](Self::stop).
    ///
    /// The server is started through util-linux's `setpriv --pdeathsig KILL` when it is
    /// installed, so that it dies with this process even when this process is killed with
    /// SIGKILL and cannot stop it (the kernel signals it when the thread that started it exits;
    /// tokio starts it from a runtime worker, which lives as long as the runtime).
    pub async fn restart(&mut self) -> Result<(), Error> {
        let port = self.port;
        if find_on_path(&self.bin).is_none() {
            return Err(Error::RedisServerMissing {
                bin: self.bin.clone(),
            });
        }
        let mut command = match find_on_path("setpriv") {
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                command.args(["--pdeathsig", "KILL", "--", &self.bin]);
                command
            }
            None => {
                tracing::debug!(
                    "setpriv not found: the private redis-server would outlive a SIGKILL of gridcast"
                );
                Command::new(&self.bin)
            }
        };
        let child = command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--loglevel", "warning", "--logfile", ""])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::RedisServerMissing {
                    bin: self.bin.clone(),
                },
                _ => Error::PrivateRedis {
                    port,
                    reason: e.to_string(),
                },
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(port).await {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(Error::PrivateRedis {
                    port,
                    reason: format!("redis-server exited with {status} (is the port taken?)"),
                });
            }
            if Instant::now() > deadline {
                return Err(Error::PrivateRedis {
                    port,
                    reason: "no answer to PING within 10s".into(),
                });
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server and waits for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// The path of executable `bin`: as given when it names a path, else the first match on `PATH`.
fn find_on_path(bin: &str) -> Option<std::path::PathBuf> {
    let is_file = |p: &std::path::Path| p.is_file();
    if bin.contains('/') {
        let path = std::path::PathBuf::from(bin);
        return is_file(&path).then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(bin))
        .find(|p| is_file(p))
}

/// A TCP port free on the loopback interface right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(
        TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?
            .local_addr()?
            .port(),
    )
}

async fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await else {
        return false;
    };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut buf)).await,
        Ok(Ok(_)) if &buf == b"+PONG\r\n"
    )
}
