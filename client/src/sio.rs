//! The browser's Socket.IO connection: Engine.IO v4 / Socket.IO v5 over a gloo-net WebSocket.
//!
//! This is the only module of the client that knows WebSockets and Socket.IO framing (the framing
//! itself, which does no I/O, lives in `gridcast_shared::codec`). Components read its signals and
//! call [`Connection::switch_to`] and [`Connection::send`]; none of them touches a socket.
//!
//! A session: open the WebSocket, read the Engine.IO open packet, send the Socket.IO connect, wait
//! for `40{"sid":..}`, then answer pings and exchange events until the transport closes or no ping
//! arrived within `pingInterval + pingTimeout`. A lost session is retried with capped exponential
//! backoff and jitter; switching instance ends the current session and starts a new one.

use std::collections::{HashMap, VecDeque};

use futures::{SinkExt, StreamExt, channel::mpsc, pin_mut, select};
use gloo_net::websocket::{Message, futures::WebSocket};
use gloo_timers::future::TimeoutFuture;
use gridcast_shared::{
    InstanceInfo, MessageMeta, SendAck, Welcome,
    codec::{EioPacket, SioPacket, engine_url},
    event, validate,
};
use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;

/// Messages kept in the list; older ones are dropped so long sessions stay smooth.
pub const HISTORY: usize = 500;

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// First attempt to reach the chosen instance.
    Connecting,
    /// Connected, with the Socket.IO id the server gave us.
    Connected {
        /// Socket id.
        sid: String,
    },
    /// A later attempt, after the connection was lost.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
        /// Why the previous session ended.
        reason: String,
    },
    /// Lost; the next attempt starts after a backoff.
    Disconnected {
        /// Why.
        reason: String,
    },
}

/// One message in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Unique key for the keyed list.
    pub key: String,
    /// The text, shown as text (never as HTML).
    pub text: String,
    /// Base URL of the instance the sender is connected to (empty when unknown).
    pub origin_url: String,
    /// Id of that instance.
    pub origin: String,
    /// Socket id of the sender.
    pub sender: String,
    /// Whether we sent it.
    pub mine: bool,
    /// Milliseconds from the origin instance receiving it to us receiving it.
    pub latency_ms: Option<i64>,
    /// Local time it arrived, `HH:MM:SS`.
    pub time: String,
}

/// Something to tell the user, e.g. why the server refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Whether it reports a problem.
    pub error: bool,
}

/// The connection and its observable state; `Copy`, so components can take it from context.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    /// Connection state.
    pub state: RwSignal<ConnState>,
    /// Base URL of the instance chosen in the picker.
    pub target: RwSignal<String>,
    /// The instance we are actually talking to, from its `welcome`.
    pub instance: RwSignal<Option<InstanceInfo>>,
    /// Received messages, oldest first, at most [`HISTORY`].
    pub lines: RwSignal<VecDeque<Line>>,
    /// The latest notice.
    pub notice: RwSignal<Option<Notice>>,
    /// Message size limit announced by the server.
    pub max_message_bytes: RwSignal<usize>,
    out: StoredValue<Option<mpsc::UnboundedSender<String>>>,
    generation: StoredValue<u64>,
    pending: StoredValue<HashMap<u64, f64>>,
    next_ack: StoredValue<u64>,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

impl Connection {
    /// A connection that is not connected anywhere yet.
    pub fn new() -> Self {
        Self {
            state: RwSignal::new(ConnState::Connecting),
            target: RwSignal::new(String::new()),
            instance: RwSignal::new(None),
            lines: RwSignal::new(VecDeque::new()),
            notice: RwSignal::new(None),
            max_message_bytes: RwSignal::new(gridcast_shared::limits::MAX_MESSAGE_BYTES),
            out: StoredValue::new(None),
            generation: StoredValue::new(0),
            pending: StoredValue::new(HashMap::new()),
            next_ack: StoredValue::new(0),
        }
    }

    /// Ends the current session (if any) and connects to `base` (e.g. `http://localhost:3001`).
    pub fn switch_to(self, base: String) {
        if self.target.get_untracked() == base && self.out.with_value(Option::is_some) {
            return;
        }
        let generation = self.generation.get_value() + 1;
        self.generation.set_value(generation);
        // Dropping the sender ends the old session's outgoing stream: it closes and returns.
        self.out.set_value(None);
        self.pending.update_value(HashMap::clear);
        self.target.set(base.clone());
        self.instance.set(None);
        self.state.set(ConnState::Connecting);
        spawn_local(run(self, base, generation));
    }

    /// Sends `text` as a `message`, after the same checks the server applies. Returns whether it
    /// was handed to the socket; the server's verdict arrives later as a notice or a line.
    pub fn send(self, text: &str) -> bool {
        if let Err(rejection) = validate::check_text(text) {
            self.tell(rejection.message, true);
            return false;
        }
        let Some(out) = self.out.get_value() else {
            self.tell("not connected: the message was not sent".into(), true);
            return false;
        };
        if !matches!(self.state.get_untracked(), ConnState::Connected { .. }) {
            self.tell("not connected: the message was not sent".into(), true);
            return false;
        }
        let id = self.next_ack.get_value();
        self.next_ack.set_value(id + 1);
        self.pending.update_value(|p| {
            p.insert(id, js_sys::Date::now());
        });
        let packet = SioPacket::event(
            event::NAMESPACE,
            event::MESSAGE,
            vec![Value::from(text)],
            Some(id),
        );
        out.unbounded_send(EioPacket::Message(packet.encode()).encode())
            .is_ok()
    }

    fn tell(self, text: String, error: bool) {
        self.notice.set(Some(Notice { text, error }));
    }

    fn is_current(self, generation: u64) -> bool {
        self.generation.try_get_value() == Some(generation)
    }
}

/// How a session ended.
enum Ended {
    /// The user picked another instance (or the app went away).
    Superseded,
    /// The connection was lost, and why.
    Lost(String),
}

/// Keeps a session to `base` alive until superseded.
async fn run(conn: Connection, base: String, generation: u64) {
    let mut attempt: u32 = 0;
    loop {
        if !conn.is_current(generation) {
            return;
        }
        let (tx, rx) = mpsc::unbounded();
        conn.out.set_value(Some(tx));
        match session(conn, &base, generation, rx, &mut attempt).await {
            Ended::Superseded => return,
            Ended::Lost(reason) => {
                if !conn.is_current(generation) {
                    return;
                }
                conn.out.set_value(None);
                conn.state.set(ConnState::Disconnected {
                    reason: reason.clone(),
                });
                attempt += 1;
                TimeoutFuture::new(backoff_ms(attempt)).await;
                if !conn.is_current(generation) {
                    return;
                }
                conn.state.set(ConnState::Reconnecting { attempt, reason });
            }
        }
    }
}

/// 500 ms doubling to 5 s, with ±20 % jitter so that many tabs do not retry in step.
fn backoff_ms(attempt: u32) -> u32 {
    let base = (500u32 << attempt.saturating_sub(1).min(4)).min(5_000);
    let jitter = 0.8 + 0.4 * js_sys::Math::random();
    (f64::from(base) * jitter) as u32
}

async fn session(
    conn: Connection,
    base: &str,
    generation: u64,
    mut out: mpsc::UnboundedReceiver<String>,
    attempt: &mut u32,
) -> Ended {
    let ws = match WebSocket::open(&engine_url(base)) {
        Ok(ws) => ws,
        Err(e) => return Ended::Lost(format!("cannot open a WebSocket to {base}: {e}")),
    };
    let (mut sink, mut stream) = ws.split();

    // Engine.IO open; the first frame also tells us how long a silent server may take.
    let open = match stream.next().await {
        Some(Ok(Message::Text(text))) => EioPacket::decode(&text),
        Some(Ok(Message::Bytes(_))) => return Ended::Lost("unexpected binary frame".into()),
        Some(Err(e)) => return Ended::Lost(format!("could not connect: {e}")),
        None => return Ended::Lost("closed during the handshake".into()),
    };
    let silence_ms = match open {
        Ok(EioPacket::Open(open)) => (open.ping_interval + open.ping_timeout) as f64,
        Ok(other) => return Ended::Lost(format!("expected an open packet, got {other:?}")),
        Err(e) => return Ended::Lost(format!("bad open packet: {e}")),
    };
    let connect = SioPacket::Connect {
        nsp: event::NAMESPACE.into(),
        data: None,
    };
    if let Err(e) = sink
        .send(Message::Text(EioPacket::Message(connect.encode()).encode()))
        .await
    {
        return Ended::Lost(format!("send failed: {e}"));
    }

    let mut last_heard = js_sys::Date::now();
    loop {
        let left = (last_heard + silence_ms - js_sys::Date::now()).max(0.0) as u32;
        let timer = futures::FutureExt::fuse(TimeoutFuture::new(left));
        let incoming = stream.next();
        let outgoing = out.next();
        pin_mut!(timer);
        let mut incoming = futures::FutureExt::fuse(incoming);
        let mut outgoing = futures::FutureExt::fuse(outgoing);
        select! {
            frame = incoming => match frame {
                Some(Ok(Message::Text(text))) => {
                    last_heard = js_sys::Date::now();
                    if let Err(reason) = handle_frame(conn, generation, &text, &mut sink, attempt).await {
                        return Ended::Lost(reason);
                    }
                }
                Some(Ok(Message::Bytes(_))) => {}
                Some(Err(e)) => return Ended::Lost(format!("connection lost: {e}")),
                None => return Ended::Lost("connection closed by the server".into()),
            },
            frame = outgoing => match frame {
                Some(frame) => {
                    if let Err(e) = sink.send(Message::Text(frame)).await {
                        return Ended::Lost(format!("send failed: {e}"));
                    }
                }
                None => {
                    // Superseded: leave politely.
                    let bye = SioPacket::Disconnect { nsp: event::NAMESPACE.into() };
                    let _ = sink.send(Message::Text(EioPacket::Message(bye.encode()).encode())).await;
                    let _ = sink.close().await;
                    return Ended::Superseded;
                }
            },
            () = timer => return Ended::Lost(format!("no ping from the server for {} s", silence_ms / 1000.0)),
        }
    }
}

/// Handles one incoming frame; `Err(reason)` ends the session.
async fn handle_frame(
    conn: Connection,
    generation: u64,
    text: &str,
    sink: &mut (impl SinkExt<Message, Error = gloo_net::websocket::WebSocketError> + Unpin),
    attempt: &mut u32,
) -> Result<(), String> {
    if !conn.is_current(generation) {
        return Ok(());
    }
    match EioPacket::decode(text).map_err(|e| format!("protocol error: {e}"))? {
        EioPacket::Ping(data) => sink
            .send(Message::Text(EioPacket::Pong(data).encode()))
            .await
            .map_err(|e| format!("send failed: {e}"))?,
        EioPacket::Close => return Err("the server closed the session".into()),
        EioPacket::Message(text) => {
            match SioPacket::decode(&text).map_err(|e| format!("protocol error: {e}"))? {
                SioPacket::Connect { data, .. } => {
                    let sid = data
                        .as_ref()
                        .and_then(|d| d.get("sid"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    *attempt = 0;
                    conn.state.set(ConnState::Connected { sid });
                }
                SioPacket::ConnectError { message, .. } => {
                    return Err(format!("refused by the server: {message}"));
                }
                SioPacket::Disconnect { .. } => return Err("disconnected by the server".into()),
                SioPacket::Event { event, args, .. } => on_event(conn, &event, args),
                SioPacket::Ack { id, args, .. } => on_ack(conn, id, args),
            }
        }
        _ => {}
    }
    Ok(())
}

fn on_event(conn: Connection, name: &str, mut args: Vec<Value>) {
    match name {
        event::MESSAGE => {
            let Some(Value::String(text)) = args.first().cloned() else {
                return;
            };
            let meta = args
                .get_mut(1)
                .map(Value::take)
                .and_then(|m| serde_json::from_value::<MessageMeta>(m).ok());
            push_line(conn, text, meta);
        }
        event::WELCOME => {
            if let Some(welcome) = args
                .pop()
                .and_then(|w| serde_json::from_value::<Welcome>(w).ok())
            {
                conn.max_message_bytes.set(welcome.limits.max_message_bytes);
                conn.instance.set(Some(welcome.instance));
            }
        }
        event::ERROR => {
            let text = args
                .first()
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("the server reported an error")
                .to_owned();
            conn.tell(text, true);
        }
        _ => {}
    }
}

fn on_ack(conn: Connection, id: u64, mut args: Vec<Value>) {
    let sent_at = conn.pending.try_update_value(|p| p.remove(&id)).flatten();
    let Some(ack) = args
        .pop()
        .and_then(|a| serde_json::from_value::<SendAck>(a).ok())
    else {
        return;
    };
    match ack {
        SendAck::Ok { delivery, .. } => {
            if delivery == gridcast_shared::Delivery::LocalOnly {
                conn.tell(
                    "Redis is unreachable: delivered to this instance's clients only".into(),
                    true,
                );
            } else if let Some(sent_at) = sent_at {
                let rtt = (js_sys::Date::now() - sent_at).round();
                conn.tell(
                    format!("delivered to the cluster (ack after {rtt} ms)"),
                    false,
                );
            }
        }
        SendAck::Err { error, .. } => conn.tell(format!("not sent: {}", error.message), true),
    }
}

fn push_line(conn: Connection, text: String, meta: Option<MessageMeta>) {
    let now = js_sys::Date::now();
    let my_sid = match conn.state.get_untracked() {
        ConnState::Connected { sid } => sid,
        _ => String::new(),
    };
    let line = match meta {
        Some(meta) => Line {
            key: meta.id,
            mine: meta.sender == my_sid,
            latency_ms: Some((now - meta.received_at as f64).round() as i64),
            text,
            origin_url: meta.origin_url,
            origin: meta.origin,
            sender: meta.sender,
            time: clock(now),
        },
        None => Line {
            key: format!("plain-{now}-{}", js_sys::Math::random()),
            text,
            origin_url: String::new(),
            origin: "?".into(),
            sender: "?".into(),
            mine: false,
            latency_ms: None,
            time: clock(now),
        },
    };
    conn.lines.update(|lines| {
        if lines.len() >= HISTORY {
            lines.pop_front();
        }
        lines.push_back(line);
    });
}

fn clock(ms: f64) -> String {
    let date = js_sys::Date::new(&ms.into());
    format!(
        "{:02}:{:02}:{:02}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}
