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
    event,
    grid::{Collector, GridReport},
    presence::{Member, OpReply, PresenceDelta, Routed},
    validate,
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
    /// Connected. `id` is our public id from `welcome` (empty until it arrives); the Engine.IO
    /// session id is a secret of the transport and is never shown.
    Connected {
        /// Public id.
        id: String,
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
    /// Public id of the sender.
    pub sender: String,
    /// Whether we sent it.
    pub mine: bool,
    /// Milliseconds from the origin instance receiving it to us receiving it.
    pub latency_ms: Option<i64>,
    /// Local time it arrived, `HH:MM:SS`.
    pub time: String,
    /// Where it was sent.
    pub channel: Channel,
}

/// Who a message was addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// Everyone (`message`).
    All,
    /// Members of a room.
    Room(String),
    /// One socket: the recipient's id and the sender's display name.
    Direct {
        /// Recipient socket id.
        to: String,
        /// Sender's display name.
        from_name: String,
    },
}

/// Where the composer sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `message` to everyone.
    All,
    /// `room_message` to a room the user is in.
    Room(String),
    /// `direct` to one socket.
    Direct(String),
}

/// What an outstanding ack id is waiting for.
#[derive(Debug, Clone, Copy)]
enum Awaiting {
    /// The ack of a message sent at this time (ms).
    Sent(f64),
    /// A presence snapshot.
    Presence,
    /// A set_name/join/leave reply.
    Op,
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
    /// Every client of the cluster, from the presence snapshot and deltas.
    pub members: RwSignal<Vec<Member>>,
    /// Where the composer sends.
    pub send_to: RwSignal<Target>,
    out: StoredValue<Option<mpsc::UnboundedSender<String>>>,
    generation: StoredValue<u64>,
    pending: StoredValue<HashMap<u64, Awaiting>>,
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
            members: RwSignal::new(Vec::new()),
            send_to: RwSignal::new(Target::All),
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
        self.members.set(Vec::new());
        self.send_to.set(Target::All);
        self.target.set(base.clone());
        self.instance.set(None);
        self.state.set(ConnState::Connecting);
        spawn_local(run(self, base, generation));
    }

    /// Sends `text` to the composer's target (everyone, a room, or one client), after the same
    /// checks the server applies. Returns whether it was handed to the socket; the server's
    /// verdict arrives later as a notice or a line.
    pub fn send(self, text: &str) -> bool {
        if let Err(rejection) = validate::check_text(text) {
            self.tell(rejection.message, true);
            return false;
        }
        let (name, arg) = match self.send_to.get_untracked() {
            Target::All => (event::MESSAGE, Value::from(text)),
            Target::Room(room) => (
                event::ROOM_MESSAGE,
                serde_json::json!({ "room": room, "text": text }),
            ),
            Target::Direct(to) => (event::DIRECT, serde_json::json!({ "to": to, "text": text })),
        };
        self.request(name, vec![arg], Awaiting::Sent(js_sys::Date::now()))
    }

    /// Sets this client's display name.
    pub fn set_name(self, name: &str) -> bool {
        if let Err(r) = gridcast_shared::presence::check_display_name(name) {
            self.tell(r.message, true);
            return false;
        }
        self.request(
            event::SET_NAME,
            vec![serde_json::json!({ "name": name })],
            Awaiting::Op,
        )
    }

    /// Joins (or leaves) a room.
    pub fn room(self, room: &str, join: bool) -> bool {
        if let Err(r) = gridcast_shared::presence::check_room(room) {
            self.tell(r.message, true);
            return false;
        }
        let name = if join { event::JOIN } else { event::LEAVE };
        if !join && self.send_to.get_untracked() == Target::Room(room.to_owned()) {
            self.send_to.set(Target::All);
        }
        self.request(
            name,
            vec![serde_json::json!({ "room": room })],
            Awaiting::Op,
        )
    }

    /// This client's public id, when connected and welcomed.
    pub fn id(self) -> Option<String> {
        match self.state.get() {
            ConnState::Connected { id } if !id.is_empty() => Some(id),
            _ => None,
        }
    }

    fn request(self, name: &str, args: Vec<Value>, awaiting: Awaiting) -> bool {
        let Some(out) = self.out.get_value() else {
            self.tell("not connected: nothing was sent".into(), true);
            return false;
        };
        if !matches!(self.state.get_untracked(), ConnState::Connected { .. }) {
            self.tell("not connected: nothing was sent".into(), true);
            return false;
        }
        let id = self.next_ack.get_value();
        self.next_ack.set_value(id + 1);
        self.pending.update_value(|p| {
            p.insert(id, awaiting);
        });
        let packet = SioPacket::event(event::NAMESPACE, name, args, Some(id));
        out.unbounded_send(EioPacket::Message(packet.encode()).encode())
            .is_ok()
    }

    /// Asks for a fresh presence snapshot (also done every few seconds while connected).
    pub fn refresh_presence(self) {
        if matches!(self.state.get_untracked(), ConnState::Connected { .. }) {
            self.request(event::PRESENCE, vec![], Awaiting::Presence);
        }
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
                SioPacket::Connect { .. } => {
                    *attempt = 0;
                    conn.state.set(ConnState::Connected { id: String::new() });
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
            // Grid-check probes use the plain broadcast contract; keep them out of the history.
            if !gridcast_shared::grid::is_tag(&text) {
                push_line(conn, text, meta, Channel::All);
            }
        }
        event::ROOM_MESSAGE | event::DIRECT => {
            let Some(routed) = args
                .pop()
                .and_then(|r| serde_json::from_value::<Routed>(r).ok())
            else {
                return;
            };
            let channel = match (routed.room, routed.to) {
                (Some(room), _) => Channel::Room(room),
                (None, Some(to)) => Channel::Direct {
                    to,
                    from_name: routed.from_name,
                },
                (None, None) => Channel::All,
            };
            push_line(conn, routed.text, Some(routed.meta), channel);
        }
        event::PRESENCE => {
            if let Some(delta) = args
                .pop()
                .and_then(|d| serde_json::from_value::<PresenceDelta>(d).ok())
            {
                conn.members.update(|members| match delta {
                    PresenceDelta::Upsert { member } => upsert(members, member),
                    PresenceDelta::Leave { id } => members.retain(|m| m.id != id),
                });
            }
        }
        event::WELCOME => {
            if let Some(welcome) = args
                .pop()
                .and_then(|w| serde_json::from_value::<Welcome>(w).ok())
            {
                conn.max_message_bytes.set(welcome.limits.max_message_bytes);
                conn.instance.set(Some(welcome.instance));
                conn.state.set(ConnState::Connected { id: welcome.id });
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
    let Some(awaiting) = conn.pending.try_update_value(|p| p.remove(&id)).flatten() else {
        return;
    };
    let Some(reply) = args.pop() else { return };
    match awaiting {
        Awaiting::Sent(sent_at) => match serde_json::from_value::<SendAck>(reply) {
            Ok(SendAck::Ok {
                delivery: gridcast_shared::Delivery::LocalOnly,
                ..
            }) => conn.tell(
                "Redis is unreachable: delivered to this instance's clients only".into(),
                true,
            ),
            Ok(SendAck::Ok { .. }) => {
                let rtt = (js_sys::Date::now() - sent_at).round();
                conn.tell(format!("delivered (ack after {rtt} ms)"), false);
            }
            Ok(SendAck::Err { error, .. }) => {
                conn.tell(format!("not sent: {}", error.message), true)
            }
            Err(_) => {}
        },
        Awaiting::Presence => match serde_json::from_value::<Vec<Member>>(reply) {
            Ok(members) => conn.members.set(members),
            Err(_) => conn.tell("presence is unavailable right now".into(), true),
        },
        Awaiting::Op => match serde_json::from_value::<OpReply>(reply) {
            Ok(OpReply::Ok { member, .. }) => {
                conn.members.update(|members| upsert(members, member))
            }
            Ok(OpReply::Err { error, .. }) => conn.tell(error.message, true),
            Err(_) => {}
        },
    }
}

fn upsert(members: &mut Vec<Member>, member: Member) {
    match members.iter_mut().find(|m| m.id == member.id) {
        Some(m) => *m = member,
        None => members.push(member),
    }
}

fn push_line(conn: Connection, text: String, meta: Option<MessageMeta>, channel: Channel) {
    let now = js_sys::Date::now();
    let my_id = match conn.state.get_untracked() {
        ConnState::Connected { id } => id,
        _ => String::new(),
    };
    let line = match meta {
        Some(meta) => Line {
            key: meta.id,
            mine: !my_id.is_empty() && meta.sender == my_id,
            latency_ms: Some((now - meta.received_at as f64).round() as i64),
            text,
            origin_url: meta.origin_url,
            origin: meta.origin,
            sender: meta.sender,
            time: clock(now),
            channel,
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
            channel,
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
}

fn now_precise() -> f64 {
    window()
        .performance()
        .map_or_else(js_sys::Date::now, |p| p.now())
}

/// Runs the grid check from the browser: one hidden connection per instance URL, each sending a
/// tagged `message` once all are connected; the same matrix and diagnosis as `gridcast check`.
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
    loop {
        let now = now_precise();
        let stop = complete_at.map_or(deadline, |t| (t + 300.0).min(deadline));
        if now >= stop {
            break;
        }
        let timer = futures::FutureExt::fuse(TimeoutFuture::new((stop - now) as u32));
        pin_mut!(timer);
        let mut next = futures::FutureExt::fuse(rx.next());
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
            None => break,
        }
        if complete_at.is_none() && pending == 0 && collector.complete() {
            complete_at = Some(now_precise());
        }
    }
    drop(stops);
    collector.report(&urls)
}

/// One hidden grid-check connection: connect, report ready, send the tag on the go signal, then
/// report every `message` until the coordinator stops listening.
async fn grid_probe(
    i: usize,
    url: String,
    tag: String,
    report: mpsc::UnboundedSender<ProbeEvent>,
    go: futures::channel::oneshot::Receiver<()>,
    stop: futures::channel::oneshot::Receiver<()>,
) {
    let Ok(ws) = WebSocket::open(&engine_url(&url)) else {
        let _ = report.unbounded_send(ProbeEvent::Failed(i));
        return;
    };
    let (mut sink, mut stream) = ws.split();
    // Handshake: open packet, namespace connect, connect answer.
    let mut connected = false;
    let connect = EioPacket::Message(
        SioPacket::Connect {
            nsp: event::NAMESPACE.into(),
            data: None,
        }
        .encode(),
    )
    .encode();
    while let Some(Ok(Message::Text(text))) = stream.next().await {
        match EioPacket::decode(&text) {
            Ok(EioPacket::Open(_)) if sink.send(Message::Text(connect.clone())).await.is_err() => {
                break;
            }
            Ok(EioPacket::Message(m))
                if matches!(SioPacket::decode(&m), Ok(SioPacket::Connect { .. })) =>
            {
                connected = true;
                break;
            }
            Ok(EioPacket::Message(m))
                if matches!(SioPacket::decode(&m), Ok(SioPacket::ConnectError { .. })) =>
            {
                break;
            }
            _ => {}
        }
    }
    if !connected {
        let _ = report.unbounded_send(ProbeEvent::Failed(i));
        return;
    }
    if report.unbounded_send(ProbeEvent::Ready).is_err() {
        return;
    }
    let mut go = futures::FutureExt::fuse(go);
    let mut stop = futures::FutureExt::fuse(stop);
    loop {
        let mut next = futures::FutureExt::fuse(stream.next());
        select! {
            _ = stop => break,
            signal = go => {
                if signal.is_err() {
                    break;
                }
                let frame = EioPacket::Message(SioPacket::event(event::NAMESPACE, event::MESSAGE, vec![Value::from(tag.as_str())], None).encode()).encode();
                let at = now_precise();
                if sink.send(Message::Text(frame)).await.is_err() || report.unbounded_send(ProbeEvent::Sent(i, at)).is_err() {
                    break;
                }
            }
            frame = next => {
                let Some(Ok(Message::Text(text))) = frame else { break };
                let at = now_precise();
                match EioPacket::decode(&text) {
                    Ok(EioPacket::Ping(data)) => {
                        let _ = sink.send(Message::Text(EioPacket::Pong(data).encode())).await;
                    }
                    Ok(EioPacket::Message(m)) => {
                        if let Ok(SioPacket::Event { event: name, args, .. }) = SioPacket::decode(&m)
                            && name == event::MESSAGE
                            && let Some(Value::String(text)) = args.into_iter().next()
                            && report.unbounded_send(ProbeEvent::Received(i, text, at)).is_err()
                        {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let _ = sink.close().await;
}
