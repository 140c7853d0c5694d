//! The only module of the client that knows WebSockets: one Socket.IO session over a gloo-net
//! WebSocket, driven by the shared protocol rules ([`gridcast_shared::session`]). The main
//! connection and the grid check's hidden connections both run on it.

use futures::{FutureExt, SinkExt, StreamExt, channel::mpsc, pin_mut, select};
use gloo_net::websocket::{Message, WebSocketError, futures::WebSocket};
use gloo_timers::future::TimeoutFuture;
use gridcast_shared::{
    codec::engine_url,
    session::{ClientSession, Happening, SessionEnd, event_frame},
};
use serde_json::Value;

/// How long the server may take to send its open packet.
const HANDSHAKE_MS: u64 = 10_000;

/// The sending half of a session: what its owner emits. Dropping every clone ends the session
/// ([`Ended::Superseded`]).
#[derive(Debug, Clone)]
pub struct Outbox(mpsc::UnboundedSender<String>);

/// The receiving half, handed to [`session`].
#[derive(Debug)]
pub struct Outgoing(mpsc::UnboundedReceiver<String>);

/// A new outbox for one session.
pub fn outbox() -> (Outbox, Outgoing) {
    let (tx, rx) = mpsc::unbounded();
    (Outbox(tx), Outgoing(rx))
}

impl Outbox {
    /// Emits `event` with `args`, asking for ack `ack` if given; false when the session is over.
    pub fn emit(&self, event: &str, args: Vec<Value>, ack: Option<u64>) -> bool {
        self.0.unbounded_send(event_frame(event, args, ack)).is_ok()
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The owner closed its outgoing channel (it switched instance, or is done).
    Superseded,
    /// The connection was lost, and why.
    Lost(String),
    /// The server refused the namespace (a CONNECT error), with its reason: with `--auth jwt`, a
    /// missing, expired or forged token. Retrying with the same CONNECT auth would only be
    /// refused again.
    Refused(String),
}

/// Runs one session to `base` until it ends, sending `auth` in its CONNECT packet. What the owner emits through the [`Outbox`] is
/// written as it comes; everything the server says is handed to `up` ([`Happening::Connected`],
/// events, acks). When every outbox is dropped, the session says goodbye and ends as
/// [`Ended::Superseded`]; a server silent for longer than its `pingInterval + pingTimeout` counts
/// as lost.
pub async fn session(
    base: &str,
    auth: Option<Value>,
    outgoing: Outgoing,
    mut up: impl FnMut(Happening),
) -> Ended {
    let mut outgoing = outgoing.0;
    let ws = match WebSocket::open(&engine_url(base)) {
        Ok(ws) => ws,
        Err(e) => return Ended::Lost(format!("{base} is not an address this page can open ({e})")),
    };
    let (mut sink, mut stream) = ws.split();
    let mut protocol = ClientSession::new(auth);
    let mut last_heard = js_sys::Date::now();
    // Whether the server ever spoke: a failure before that means it could not be reached.
    let mut heard = false;
    loop {
        let limit = protocol.silence_limit_ms().unwrap_or(HANDSHAKE_MS) as f64;
        let left = (last_heard + limit - js_sys::Date::now()).max(0.0) as u32;
        let timer = TimeoutFuture::new(left).fuse();
        pin_mut!(timer);
        let mut incoming = stream.next().fuse();
        let mut out = outgoing.next().fuse();
        select! {
            frame = incoming => match frame {
                Some(Ok(Message::Text(text))) => {
                    last_heard = js_sys::Date::now();
                    heard = true;
                    let happenings = match protocol.receive(&text) {
                        Ok(happenings) => happenings,
                        // socketioxide's answer while an instance stops (its namespace closed,
                        // its listener not yet): an instance going away, not a refusal.
                        Err(SessionEnd::Refused(why)) if why != "Invalid namespace" => {
                            return Ended::Refused(why);
                        }
                        Err(end) => return Ended::Lost(end.to_string()),
                    };
                    for happening in happenings {
                        match happening {
                            Happening::Send(frame) => {
                                if let Err(e) = sink.send(Message::Text(frame)).await {
                                    return Ended::Lost(format!("send failed: {e}"));
                                }
                            }
                            other => up(other),
                        }
                    }
                }
                Some(Ok(Message::Bytes(_))) => {}
                Some(Err(WebSocketError::ConnectionClose(_) | WebSocketError::ConnectionError))
                    if !heard =>
                {
                    return Ended::Lost("the server could not be reached".into());
                }
                Some(Err(WebSocketError::ConnectionClose(close))) => {
                    return Ended::Lost(crate::model::closed(close.code, &close.reason));
                }
                Some(Err(WebSocketError::ConnectionError)) => {
                    return Ended::Lost(crate::model::closed(1006, ""));
                }
                Some(Err(e)) => return Ended::Lost(format!("the connection failed ({e})")),
                None => return Ended::Lost("connection closed by the server".into()),
            },
            frame = out => match frame {
                Some(frame) => {
                    if let Err(e) = sink.send(Message::Text(frame)).await {
                        return Ended::Lost(format!("send failed: {e}"));
                    }
                }
                None => {
                    for frame in ClientSession::goodbye() {
                        let _ = sink.send(Message::Text(frame)).await;
                    }
                    let _ = sink.close().await;
                    return Ended::Superseded;
                }
            },
            () = timer => {
                return Ended::Lost(format!(
                    "the server said nothing for {} s",
                    (limit / 1000.0).round() as u64
                ));
            }
        }
    }
}
