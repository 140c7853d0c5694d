//! Admitting new Engine.IO sessions: at most `--max-connections-per-address` live at once per
//! address, both transports together, and at most `--new-sessions-per-address` new ones per
//! second (a token bucket per address).
//!
//! The per-address cap of `accept` counts TCP connections, and a long-polling session holds none
//! between its requests: from one address, handshakes and `40` POSTs over 50 keep-alive
//! connections made 88,931 clients live at once. So sessions are counted themselves. A handshake
//! (a `GET` on the Engine.IO path without `sid`, polling or WebSocket) takes a [`Slot`] of its
//! address, put into the request's extensions; engineioxide keeps the handshake request's parts
//! (extensions included) in its session for as long as the session lives, so the slot is released
//! exactly when the session is dropped, whatever ends it (close, heartbeat timeout, a client that
//! never sends its Socket.IO CONNECT and is closed by the connect timeout). Requests of an existing
//! session (with `sid`) are not counted again.
//!
//! Refusals are answered in HTTP before any session exists, after a pause of a second (so that a
//! client retrying at once cannot make refusals its flood): `503` over the cap (as `accept`
//! answers over its cap), `429` with `Retry-After` over the rate, each with a readable body.
//! Stock Socket.IO clients report either as `connect_error` ("xhr poll error" or "websocket
//! error", with the status) and retry with their backoff.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, Method, StatusCode, header::RETRY_AFTER},
    middleware::Next,
    response::{IntoResponse, Response},
};
use gridcast_shared::{event::ENGINE_IO_PATH, limits::Rate};

use super::{
    address::{Address, Counts, Slot},
    bucket::Buckets,
    report::{Refusals, Refused},
};

/// How long a refused handshake waits for its answer. An HTTP/1.1 connection carries one request
/// at a time, so a client that retries at once on its keep-alive connections gets one refusal per
/// connection per pause. Answered at once, one address's 50 keep-alive connections made tens of
/// thousands of refusals a second, and the CPU they took was the bystanders' (measured by
/// `scripts/attack-limits.sh`). Paused, an address gets at most one refusal per second per
/// connection `accept`'s cap allows.
const REFUSAL_PAUSE: Duration = Duration::from_secs(1);

/// Whether `path` is one the Engine.IO endpoint serves: what engineioxide matches, its path with
/// or without the trailing slash, and anything under it.
pub(crate) fn is_engine_path(path: &str) -> bool {
    path.strip_prefix(ENGINE_IO_PATH.trim_end_matches('/'))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether `request` asks for a new Engine.IO session: a `GET` on the Engine.IO path without a
/// session id (a polling handshake or a fresh WebSocket).
fn opens_session(request: &Request) -> bool {
    request.method() == Method::GET
        && is_engine_path(request.uri().path())
        && !request
            .uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .any(|pair| pair.starts_with("sid="))
}

/// The session's count of its address, kept in the handshake's extensions (which must be
/// `Clone`: engineioxide clones a WebSocket handshake's parts).
#[derive(Debug, Clone)]
struct SessionSlot {
    _held: Arc<Slot>,
}

/// The admission of new sessions of one instance.
#[derive(Debug)]
pub(crate) struct SessionGate {
    cap: usize,
    open: Arc<Counts>,
    new: Buckets<Address>,
    rate: Option<Rate>,
    refusals: Arc<Refusals>,
}

impl SessionGate {
    /// At most `cap` live sessions per address (0: no cap), new ones at `rate` (`None`: off);
    /// refusals counted in `refusals`.
    pub(crate) fn new(cap: usize, rate: Option<Rate>, refusals: Arc<Refusals>) -> Self {
        Self {
            cap,
            open: Arc::default(),
            new: Buckets::new(rate),
            rate,
            refusals,
        }
    }
}

/// Middleware on every route: admits or refuses requests that open a session (see the module
/// doc); passes everything else through.
pub(crate) async fn admit(
    State(gate): State<Arc<SessionGate>>,
    mut request: Request,
    next: Next,
) -> Response {
    if !opens_session(&request) {
        return next.run(request).await;
    }
    // Put there by `accept` for every request; absent only in a router served otherwise.
    let Some(&ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return next.run(request).await;
    };
    let address = Address::of(peer.ip());
    let Some(slot) = gate.open.take(address, gate.cap) else {
        gate.refusals.count(Refused::SessionOverCap, Some(address));
        let body = format!(
            "too many connections from {address}: at most {} at once per address\n",
            gate.cap
        );
        tokio::time::sleep(REFUSAL_PAUSE).await;
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    };
    if let Err(wait) = gate.new.get(address).take() {
        drop(slot);
        gate.refusals.count(Refused::SessionOverRate, Some(address));
        let rate = gate.rate.unwrap_or_default();
        let retry_after = wait.saturating_sub(REFUSAL_PAUSE).as_secs() + 1;
        let body = format!(
            "too many new connections from {address}: at most {}/s (bursts of {}) per address; \
             retry in {retry_after} s\n",
            rate.per_second, rate.burst,
        );
        tokio::time::sleep(REFUSAL_PAUSE).await;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(RETRY_AFTER, HeaderValue::from(retry_after))],
            body,
        )
            .into_response();
    }
    request.extensions_mut().insert(SessionSlot {
        _held: Arc::new(slot),
    });
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paths_engineioxide_serves() {
        for served in ["/socket.io", "/socket.io/", "/socket.io/x"] {
            assert!(is_engine_path(served), "{served}");
        }
        for other in ["/socket.iox", "/socket", "/", "/health", "/x/socket.io/"] {
            assert!(!is_engine_path(other), "{other}");
        }
    }

    #[test]
    fn only_a_get_without_sid_opens_a_session() {
        let opens = |method: Method, uri: &str| {
            opens_session(
                &Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
        };
        assert!(opens(Method::GET, "/socket.io/?EIO=4&transport=polling"));
        assert!(opens(Method::GET, "/socket.io?EIO=4&transport=websocket"));
        assert!(!opens(
            Method::GET,
            "/socket.io/?EIO=4&transport=polling&sid=abc"
        ));
        assert!(!opens(
            Method::GET,
            "/socket.io/?sid=abc&EIO=4&transport=websocket"
        ));
        assert!(!opens(Method::POST, "/socket.io/?EIO=4&transport=polling"));
        assert!(!opens(Method::GET, "/health"));
    }
}
