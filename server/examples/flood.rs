//! Hostile clients from one address, to measure the per-address limits (`scripts/attack-limits.sh`
//! runs them against two `gridcast` processes while `gridcast bench` measures a bystander).
//!
//! - `flood polling <from> <seconds> <connections> <url>...`: long-polling clients as fast as
//!   they go for that long: a handshake `GET`, then the Socket.IO CONNECT (`40`) in a `POST`,
//!   over `connections` keep-alive connections from the local address `from`, spread over the
//!   URLs; never polls again. Prints how many were attempted, accepted and refused, and the most
//!   clients the instances reported at once (`/health`, all instances together), sampled every
//!   250 ms.
//! - `flood reconnect <from> <seconds> <tasks> <url>...`: `tasks` clients that each send a burst
//!   of 50 messages, reconnect as new clients, and again; prints the messages accepted per second.

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use gridcast_server::tools::probe::{Incoming, Probe};
use gridcast_shared::event;
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: flood polling <from> <seconds> <connections> <url>... | \
                 flood reconnect <from> <seconds> <tasks> <url>...";
    let [mode, from, n, parallel, urls @ ..] = &args[..] else {
        return Err(usage.into());
    };
    let from: IpAddr = from.parse()?;
    let (run, parallel) = (Duration::from_secs(n.parse()?), parallel.parse()?);
    match mode.as_str() {
        "polling" => polling(from, run, parallel, urls).await,
        "reconnect" => reconnect(from, run, parallel, urls).await,
        _ => Err(usage.into()),
    }
}

/// One keep-alive HTTP/1.1 connection from `from`.
struct Conn {
    io: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    async fn open(from: IpAddr, url: &str) -> Result<Self> {
        let host = url.trim_start_matches("http://").to_owned();
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind((from, 0).into())?;
        socket.set_nodelay(true)?;
        let tcp = socket.connect(host.parse()?).await?;
        Ok(Self {
            io: BufReader::new(tcp),
            host,
        })
    }

    /// Sends a request; the status and body of the answer.
    async fn request(&mut self, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain;charset=UTF-8\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.io.get_mut().write_all(head.as_bytes()).await?;
        let mut line = String::new();
        self.io.read_line(&mut line).await?;
        let status: u16 = line.split(' ').nth(1).ok_or("no status")?.parse()?;
        let mut length = 0;
        loop {
            line.clear();
            if self.io.read_line(&mut line).await? == 0 {
                return Err("closed".into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        self.io.read_exact(&mut body).await?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// The clients all instances report (`/health`).
async fn clients(urls: &[String]) -> u64 {
    let mut total = 0;
    for url in urls {
        let Ok(mut conn) = Conn::open("127.0.0.1".parse().unwrap(), url).await else {
            continue;
        };
        if let Ok((200, body)) = conn.request("GET", "/health", "").await
            && let Ok(health) = serde_json::from_str::<serde_json::Value>(&body)
        {
            total += health["clients"].as_u64().unwrap_or(0);
        }
    }
    total
}

async fn polling(from: IpAddr, run: Duration, connections: usize, urls: &[String]) -> Result<()> {
    let attempts = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (urls, done) = (urls.to_vec(), done.clone());
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(clients(&urls).await);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            peak.max(clients(&urls).await)
        })
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let url = urls[c % urls.len()].clone();
        let (attempts, accepted, refused) = (attempts.clone(), accepted.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = None;
            while start.elapsed() < run {
                attempts.fetch_add(1, Ordering::Relaxed);
                if conn.is_none() {
                    conn = Conn::open(from, &url).await.ok();
                }
                let Some(c) = conn.as_mut() else {
                    refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let engine = "/socket.io/?EIO=4&transport=polling";
                match c.request("GET", engine, "").await {
                    Ok((200, open)) => {
                        let sid = open.split('"').nth(3).unwrap_or_default().to_owned();
                        let post = format!("{engine}&sid={sid}");
                        match c.request("POST", &post, "40").await {
                            Ok((200, _)) => accepted.fetch_add(1, Ordering::Relaxed),
                            _ => refused.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                    Ok(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        conn = None;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let took = start.elapsed();
    // The clients stay until the heartbeat ends them: sample a moment longer.
    tokio::time::sleep(Duration::from_secs(1)).await;
    done.store(true, Ordering::Relaxed);
    let peak = sampler.await?;
    println!(
        "{}",
        json!({
            "attempts": attempts.load(Ordering::Relaxed),
            "accepted": accepted.load(Ordering::Relaxed),
            "refused": refused.load(Ordering::Relaxed),
            "seconds": took.as_secs_f64(),
            "peak_clients_all_instances": peak,
        })
    );
    Ok(())
}

/// Sends 50 messages, and counts those the server accepted (they come back: the sender is
/// included) until all are answered or 2 s have passed.
async fn burst(probe: &mut Probe, tag: &str) -> u64 {
    for i in 0..50 {
        if probe
            .emit(event::MESSAGE, vec![json!(format!("{tag}-{i}"))])
            .is_err()
        {
            break;
        }
    }
    let (mut accepted, mut answered) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(2);
    while answered < 50 {
        let wait = deadline.saturating_duration_since(Instant::now());
        match probe.next(wait).await {
            Ok(Incoming::Event { event, args, .. }) if event == event::MESSAGE => {
                if args[0].as_str().is_some_and(|t| t.starts_with(tag)) {
                    accepted += 1;
                    answered += 1;
                }
            }
            Ok(Incoming::Event { event, .. }) if event == event::ERROR => answered += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    accepted
}

async fn reconnect(from: IpAddr, run: Duration, tasks: usize, urls: &[String]) -> Result<()> {
    let accepted = Arc::new(AtomicU64::new(0));
    let (connected, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let start = Instant::now();
    let mut running = Vec::new();
    for t in 0..tasks {
        let url = urls[t % urls.len()].clone();
        let (accepted, connected, refused) = (accepted.clone(), connected.clone(), refused.clone());
        running.push(tokio::spawn(async move {
            let mut round = 0;
            while start.elapsed() < run {
                round += 1;
                let Ok(mut probe) = Probe::connect_from(&url, None, from).await else {
                    refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                connected.fetch_add(1, Ordering::Relaxed);
                probe.ignore(event::PRESENCE);
                let got = burst(&mut probe, &format!("t{t}r{round}-")).await;
                accepted.fetch_add(got, Ordering::Relaxed);
                probe.close();
            }
        }));
    }
    for task in running {
        task.await?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let accepted = accepted.load(Ordering::Relaxed);
    println!(
        "{}",
        json!({
            "seconds": seconds,
            "accepted": accepted,
            "accepted_per_second": accepted as f64 / seconds,
            "connections": connected.load(Ordering::Relaxed),
            "connections_refused": refused.load(Ordering::Relaxed),
        })
    );
    Ok(())
}
