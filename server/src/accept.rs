//! Accepting connections, with the limits that keep idle, slow and hoarding clients from
//! exhausting an instance.
//!
//! `axum::serve` sets no timer, so hyper's header-read timeout never fires: 2,000 connections
//! that send nothing (or send headers one byte at a time) stayed open forever, and with a low file
//! limit they made `accept` fail for everyone. This loop serves the same router with:
//! - a **header-read timeout** ([`ConnLimits::idle_timeout`]): a connection must complete each
//!   request head within it, counted from when the server starts waiting for it, so a fresh
//!   connection that sends nothing, a slow sender, and an idle keep-alive connection between
//!   requests are all closed. A long-poll in progress is not idle: hyper is not reading a head.
//! - a **cap per remote address** ([`ConnLimits::per_address`], an address as
//!   `limit::address` counts it) on open connections, WebSockets included (the count is released
//!   when the TCP stream is dropped, after any upgrade). A connection over the cap gets `503` with
//!   a readable body and is closed. Polling sessions hold no connection between requests: the
//!   same cap on Engine.IO sessions is `limit::sessions`', which reads the peer address this loop
//!   puts into every request (axum's `ConnectInfo`).
//! - a **write-stall limit** ([`ConnLimits::write_stall`]): a connection whose writes make no
//!   progress for that long (a client that stopped reading, its TCP buffers full) fails every
//!   write from then on. engineioxide's WebSocket writer awaits a blocked write without watching
//!   for the session's end, so the heartbeat's close of such a client never completed and the
//!   socket stayed listed forever; with the failed write it ends.
//! - a **summary log line** per interval ([`ConnLimits::report_every`]) when limits are hit,
//!   never a line per connection.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, extract::ConnectInfo};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
};
use tower::ServiceExt;

use crate::limit::address::{Address, Counts, Slot};

/// Limits on connections that have not become (or are not) Socket.IO sessions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// How long a connection may take to send a complete request head, from when the server
    /// starts waiting for it (at accept, and after each response on a kept-alive connection).
    pub idle_timeout: Duration,
    /// Open connections allowed per remote address; 0 means no cap.
    pub per_address: usize,
    /// How often what the limits refused is summarised in the log.
    pub report_every: Duration,
    /// How long a write may make no progress before the connection's writes fail for good.
    pub write_stall: Duration,
}

/// What the limits refused since the last report.
#[derive(Debug, Default)]
struct Refusals {
    over_cap: u64,
    timed_out: u64,
    accept_errors: u64,
    last_error: Option<String>,
}

/// A TCP stream that holds its address's [`Slot`] for as long as it lives, upgrades included.
struct Counted {
    tcp: TcpStream,
    _slot: Slot,
    write_stall: Duration,
    /// Since when the pending write has made no progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Writes stalled past the limit: every write fails from now on.
    broken: bool,
}

impl Counted {
    fn new(tcp: TcpStream, slot: Slot, write_stall: Duration) -> Self {
        Self {
            tcp,
            _slot: slot,
            write_stall,
            stalled: None,
            broken: false,
        }
    }

    /// Passes `result` through; a write pending for longer than the limit becomes an error.
    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => {
                let limit = self.write_stall;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if stalled.as_mut().poll(cx).is_ready() {
                    self.broken = true;
                    self.stalled = None;
                    return Poll::Ready(Err(stall_error(limit)));
                }
                Poll::Pending
            }
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

fn stall_error(limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("the client read nothing for {limit:?}: connection given up"),
    )
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.broken {
            return Poll::Ready(Err(stall_error(self.write_stall)));
        }
        let result = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.guard(cx, result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.broken {
            return Poll::Ready(Err(stall_error(self.write_stall)));
        }
        let result = Pin::new(&mut self.tcp).poll_flush(cx);
        self.guard(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.broken {
            return Poll::Ready(Err(stall_error(self.write_stall)));
        }
        let result = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.guard(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// Serves `router` on `listener` under `limits` until `stop` resolves, then lets open requests
/// finish for up to `drain`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    instance: String,
    stop: impl Future<Output = ()>,
    drain: Duration,
) {
    let counts = Arc::new(Counts::default());
    let refusals = Arc::new(Mutex::new(Refusals::default()));
    let reporter = tokio::spawn(report(refusals.clone(), instance.clone(), limits));
    // Shutdown as in mini-redis: a watch tells every connection to finish its request, and each
    // holds a sender of `drained` until it is done, so `recv` returns None when all are.
    let (shutdown, shutting_down) = watch::channel(false);
    let (drained_tx, mut drained) = mpsc::channel::<()>(1);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout);
    let mut stop = std::pin::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Typically EMFILE: count it, say it once per interval, and give the
                    // process a moment to close something instead of spinning.
                    {
                        let mut r = refusals.lock().unwrap_or_else(|p| p.into_inner());
                        r.accept_errors += 1;
                        r.last_error = Some(e.to_string());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Some(slot) = counts.take(Address::of(peer.ip()), limits.per_address) else {
            refusals.lock().unwrap_or_else(|p| p.into_inner()).over_cap += 1;
            tokio::spawn(refuse(tcp, peer, limits.per_address));
            continue;
        };
        // Without it small Socket.IO frames wait for delayed ACKs (`docs/benchmarks.md`).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
        let io = TokioIo::new(Counted::new(tcp, slot, limits.write_stall));
        // The peer's address, for the limits on Engine.IO sessions (`limit::sessions`) and the
        // per-address budget of the sockets (`limit::budget`).
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let conn = builder.serve_connection(io, service).with_upgrades();
        let refusals = refusals.clone();
        let mut shutting_down = shutting_down.clone();
        let drained_tx = drained_tx.clone();
        tokio::spawn(async move {
            let _drained = drained_tx;
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = async { shutting_down.wait_for(|&s| s).await.map(drop) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            match result {
                Err(e) if e.is_timeout() => {
                    refusals.lock().unwrap_or_else(|p| p.into_inner()).timed_out += 1;
                }
                Err(e) => tracing::debug!(%peer, "connection ended: {e}"),
                Ok(()) => {}
            }
        });
    }
    drop(listener);
    reporter.abort();
    let _ = shutdown.send(true);
    drop(drained_tx);
    if tokio::time::timeout(drain, drained.recv()).await.is_err() {
        tracing::warn!(%instance, "connections still open after {drain:?}, closing");
    }
}

/// Tells a connection over the per-address cap why it is closed, in HTTP, then closes it.
async fn refuse(mut tcp: TcpStream, peer: SocketAddr, cap: usize) {
    let body = format!(
        "too many connections from {}: at most {cap} at once per address\n",
        Address::of(peer.ip())
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}

/// Logs what the limits refused, one line per interval in which something was refused.
async fn report(refusals: Arc<Mutex<Refusals>>, instance: String, limits: ConnLimits) {
    let every = limits.report_every;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let r = std::mem::take(&mut *refusals.lock().unwrap_or_else(|p| p.into_inner()));
        if r.over_cap > 0 {
            tracing::warn!(
                %instance,
                refused = r.over_cap,
                cap = limits.per_address,
                "connections refused: over the per-address cap (--max-connections-per-address) in the last {every:?}"
            );
        }
        if r.timed_out > 0 {
            tracing::info!(
                %instance,
                closed = r.timed_out,
                timeout = ?limits.idle_timeout,
                "idle or slow connections closed: no complete request head in time (--idle-timeout) in the last {every:?}"
            );
        }
        if r.accept_errors > 0 {
            tracing::error!(
                %instance,
                errors = r.accept_errors,
                last = r.last_error.as_deref().unwrap_or_default(),
                "accepting connections failed in the last {every:?} (out of file descriptors? see `ulimit -n`)"
            );
        }
    }
}
