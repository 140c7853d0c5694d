//! The grid check from the browser: one hidden connection per instance, each sending a tagged
//! `message` once all are connected; the same matrix and diagnosis as `gridcast check`
//! ([`gridcast_shared::grid`]), and, when an instance said its Redis link is down (in its
//! `welcome` or a `redis_link` event), the outage as the diagnosis
//! ([`crate::model::with_redis_down`]). The plain `message` contract is all it needs, so it
//! checks any Socket.IO cluster.

use futures::{FutureExt, StreamExt, channel::mpsc, pin_mut, select};
use gloo_timers::future::TimeoutFuture;
use gridcast_shared::{
    event,
    grid::{Collector, GridReport},
    session::Happening,
};
use leptos::{prelude::window, task::spawn_local};
use serde_json::Value;

use crate::transport;

/// What a grid-check probe reports to the coordinator.
enum ProbeEvent {
    /// Connected and waiting for the go signal.
    Ready,
    /// Could not connect.
    Failed(usize),
    /// Sent its tag at this time.
    Sent(usize, f64),
    /// Received a `message` text at this time.
    Received(usize, String, f64),
    /// Said its Redis link is down.
    RedisDown(usize),
}

fn now_precise() -> f64 {
    window()
        .performance()
        .map_or_else(js_sys::Date::now, |p| p.now())
}

/// Runs the grid check from the browser: one hidden connection per instance URL, each sending a
/// tagged `message` once all are connected; the same matrix and diagnosis as `gridcast check`,
/// the Redis outage told when an instance said its link was down.
pub async fn grid_check(urls: Vec<String>, timeout_ms: u32) -> GridReport {
    let n = urls.len();
    let run = format!(
        "{:08x}",
        (js_sys::Math::random() * f64::from(u32::MAX)) as u32
    );
    let mut collector = Collector::new(run, n);
    let (tx, mut rx) = mpsc::unbounded::<ProbeEvent>();
    let mut go = Vec::with_capacity(n);
    // Dropped when the check ends, which closes every probe at once.
    let mut stops = Vec::with_capacity(n);
    for (i, url) in urls.iter().enumerate() {
        let (go_tx, go_rx) = futures::channel::oneshot::channel::<()>();
        let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
        go.push(Some(go_tx));
        stops.push(stop_tx);
        spawn_local(grid_probe(
            i,
            url.clone(),
            collector.tag(i),
            tx.clone(),
            go_rx,
            stop_rx,
        ));
    }
    drop(tx);

    let started = now_precise();
    let deadline = started + f64::from(timeout_ms);
    let mut pending = n;
    let mut complete_at: Option<f64> = None;
    let mut redis_down: Vec<usize> = Vec::new();
    loop {
        let now = now_precise();
        let stop = complete_at.map_or(deadline, |t| (t + 300.0).min(deadline));
        if now >= stop {
            break;
        }
        let timer = TimeoutFuture::new((stop - now) as u32).fuse();
        pin_mut!(timer);
        let mut next = rx.next().fuse();
        let event = select! {
            e = next => e,
            () = timer => break,
        };
        match &event {
            Some(ProbeEvent::Ready) | Some(ProbeEvent::Failed(_)) => {
                if let Some(ProbeEvent::Failed(i)) = event {
                    collector.unreachable(i);
                }
                pending -= 1;
                // Every probe sends only once all are connected, so none misses an early tag.
                if pending == 0 {
                    for go in go.iter_mut().filter_map(Option::take) {
                        let _ = go.send(());
                    }
                }
            }
            Some(ProbeEvent::Sent(i, at)) => collector.sent(*i, *at),
            Some(ProbeEvent::Received(i, text, at)) => collector.received(*i, text, *at),
            Some(ProbeEvent::RedisDown(i)) => {
                if let Err(at) = redis_down.binary_search(i) {
                    redis_down.insert(at, *i);
                }
            }
            None => break,
        }
        if complete_at.is_none() && pending == 0 && collector.complete() {
            complete_at = Some(now_precise());
        }
    }
    drop(stops);
    crate::model::with_redis_down(collector.report(&urls), &redis_down)
}

/// Whether a gridcast event's payload (`welcome` or `redis_link`) says the Redis link is down.
fn says_redis_down(name: &str, args: &[Value]) -> bool {
    let status = match (name, args.first()) {
        (event::WELCOME, Some(welcome)) => welcome.get("redis"),
        (event::REDIS_LINK, Some(status)) => Some(status),
        _ => None,
    };
    status.and_then(|s| s.get("state")).and_then(Value::as_str) == Some("reconnecting")
}

/// One hidden grid-check connection: connect, report ready, send the tag on the go signal, then
/// report every `message` until the coordinator stops listening (drops `stop`).
async fn grid_probe(
    i: usize,
    url: String,
    tag: String,
    report: mpsc::UnboundedSender<ProbeEvent>,
    go: futures::channel::oneshot::Receiver<()>,
    stop: futures::channel::oneshot::Receiver<()>,
) {
    let (out, outgoing) = transport::outbox();
    let connected = std::cell::Cell::new(false);
    let session = transport::session(&url, None, outgoing, |happening| match happening {
        Happening::Connected { .. } => {
            connected.set(true);
            let _ = report.unbounded_send(ProbeEvent::Ready);
        }
        Happening::Event { event: name, args } if name == event::MESSAGE => {
            if let Some(Value::String(text)) = args.into_iter().next() {
                let _ = report.unbounded_send(ProbeEvent::Received(i, text, now_precise()));
            }
        }
        Happening::Event { event: name, args } if says_redis_down(&name, &args) => {
            let _ = report.unbounded_send(ProbeEvent::RedisDown(i));
        }
        _ => {}
    });
    // The tag goes out on the go signal; the session ends when the coordinator drops `stop`.
    let send = async {
        if go.await.is_ok() {
            let at = now_precise();
            if out.emit(event::MESSAGE, vec![Value::from(tag.as_str())], None) {
                let _ = report.unbounded_send(ProbeEvent::Sent(i, at));
            }
        }
        let _ = stop.await;
        drop(out);
    };
    let session = session.fuse();
    let send = send.fuse();
    pin_mut!(session, send);
    select! {
        // Lost (or never connected): a probe that never connected says so at once.
        _ = session => {
            if !connected.get() {
                let _ = report.unbounded_send(ProbeEvent::Failed(i));
            }
        }
        // Stopped: the closed channel makes the session say goodbye.
        () = send => {
            session.await;
        }
    }
}
