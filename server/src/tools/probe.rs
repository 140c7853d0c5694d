//! A native Socket.IO v5 client over WebSocket, built on the `shared` codec.
//!
//! It speaks only what gridcast needs (default namespace, text packets, acks), answers pings, and
//! hands every incoming event to the caller in order. Tests use it as a real client; tools use it
//! to probe a cluster.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::Arc,
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use gridcast_shared::{
    MessageMeta, Welcome,
    codec::engine_url,
    event,
    session::{ClientSession, Happening, SessionEnd, event_frame},
};
use serde::Deserialize;
use serde_json::Value;
use tokio::{
    sync::{Mutex, mpsc, oneshot},
    time::{Instant, timeout},
};
use tokio_tungstenite::tungstenite::Message;

use super::dial;

/// What can go wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The WebSocket could not be opened.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The Engine.IO URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered something this client did not expect.
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
    /// The session ended during the handshake (refused, closed, or a protocol error).
    #[error("{0}")]
    Session(#[from] SessionEnd),
    /// Nothing arrived in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// A `gridcast bench --procs` worker process failed, or did not answer in time.
    #[error("bench worker: {0}")]
    Worker(String),
}

/// Something the server sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// An event with its arguments.
    Event {
        /// Event name.
        event: String,
        /// Arguments.
        args: Vec<Value>,
        /// When the frame was read off the socket.
        at: Instant,
    },
    /// The connection ended (server disconnect, close, or transport error).
    Closed(String),
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<Value>>>>>;

/// Sees every event in the connection's reader task, in order, before it is decoded, and may
/// take it: a taken event is neither decoded nor handed up. A load generator records its
/// deliveries this way, without a JSON tree per event or a channel hop per delivery.
pub(crate) trait Tap: Send {
    /// Looks at the arguments of one event on the default namespace without an ack id, still in
    /// JSON (`["name",arg,...]`), read at `at` after the handshake; `true` takes it.
    fn event(&mut self, json: &str, at: Instant) -> bool;

    /// A new connection was made (the handshake done, nothing read yet).
    fn connected(&mut self) {}

    /// The offset of the last broadcast it saw, for a tap on a client that reconnects (which then
    /// resumes from it); `None` by default.
    fn offset(&self) -> Option<String> {
        None
    }
}

/// A [`Tap`] shared between the connection's reader task and its owner, and kept across
/// reconnects.
pub(crate) type SharedTap = Arc<std::sync::Mutex<dyn Tap>>;

/// A connected client on the default namespace.
#[derive(Debug)]
pub struct Probe {
    sid: String,
    id: Option<String>,
    out: mpsc::UnboundedSender<Message>,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    pending: Pending,
    next_ack: u64,
    ignored: Vec<String>,
    /// What arrived before `welcome` (the replay), kept by [`welcome`](Self::welcome) for the
    /// next reads.
    kept: VecDeque<Incoming>,
}

impl Probe {
    /// Connects to the server at `base` (e.g. `http://127.0.0.1:3000`) and joins namespace `/`.
    pub async fn connect(base: &str) -> Result<Self, ProbeError> {
        Self::connect_with(base, None).await
    }

    /// [`connect`](Self::connect), sending `auth` in the CONNECT packet (e.g. `{"offset": ..,
    /// "session": ..}` to catch up after a reconnect).
    pub async fn connect_with(base: &str, auth: Option<Value>) -> Result<Self, ProbeError> {
        Self::connect_tapped(base, auth, None, None).await
    }

    /// [`connect_with`](Self::connect_with), with `tap` looking at every frame after the
    /// handshake before this client decodes it, from the local address `local` if given (see
    /// [`connect_from`](Self::connect_from)).
    pub(crate) async fn connect_tapped(
        base: &str,
        auth: Option<Value>,
        tap: Option<SharedTap>,
        local: Option<IpAddr>,
    ) -> Result<Self, ProbeError> {
        Self::connect_inner(base, auth, tap, local).await
    }

    /// [`connect_with`](Self::connect_with) from the local address `local` (e.g. `127.0.0.2`, to
    /// be another address than other clients on this machine; plain `http://` bases only).
    pub async fn connect_from(
        base: &str,
        auth: Option<Value>,
        local: IpAddr,
    ) -> Result<Self, ProbeError> {
        Self::connect_inner(base, auth, None, Some(local)).await
    }

    async fn connect_inner(
        base: &str,
        auth: Option<Value>,
        tap: Option<SharedTap>,
        local: Option<IpAddr>,
    ) -> Result<Self, ProbeError> {
        let url = engine_url(base);
        let connect_err = |reason: String| ProbeError::Connect {
            url: url.clone(),
            reason,
        };
        let connecting = dial::websocket(&url, local);
        let ws = timeout(Duration::from_secs(5), connecting)
            .await
            .map_err(|_| connect_err("no answer within 5s".into()))?
            .map_err(connect_err)?;
        let (mut sink, mut stream) = ws.split();

        // The handshake, by the shared session rules: open → CONNECT → CONNECT reply.
        let mut session = ClientSession::new(auth);
        let sid = 'handshake: loop {
            for happening in session.receive(&next_text(&mut stream).await?)? {
                match happening {
                    Happening::Send(frame) => sink
                        .send(Message::text(frame))
                        .await
                        .map_err(|e| connect_err(e.to_string()))?,
                    Happening::Connected { sid } => break 'handshake sid,
                    Happening::Event { .. } | Happening::Ack { .. } => {}
                }
            }
        };

        if let Some(tap) = &tap {
            tap.lock().unwrap_or_else(|p| p.into_inner()).connected();
        }
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (in_tx, incoming) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        let acks = pending.clone();
        tokio::spawn(async move {
            let reason = loop {
                tokio::select! {
                    frame = out_rx.recv() => match frame {
                        Some(frame) => if let Err(e) = sink.send(frame).await { break format!("send failed: {e}") },
                        None => { let _ = sink.close().await; break "client closed".to_owned() }
                    },
                    frame = stream.next() => match frame {
                        Some(Ok(Message::Text(text)))
                            if tap.as_ref().is_some_and(|tap| tapped(tap, text.as_str())) => {}
                        Some(Ok(Message::Text(text))) => match session.receive(text.as_str()) {
                            Ok(happenings) => {
                                if let Err(e) = hand_up(happenings, &mut sink, &in_tx, &acks).await {
                                    break e;
                                }
                            }
                            Err(end) => break end.to_string(),
                        },
                        Some(Ok(Message::Close(frame))) => break format!("websocket closed: {frame:?}"),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => break format!("transport error: {e}"),
                        None => break "transport closed".to_owned(),
                    }
                }
            };
            let _ = in_tx.send(Incoming::Closed(reason));
        });
        Ok(Self {
            sid,
            id: None,
            out,
            incoming,
            pending,
            next_ack: 0,
            ignored: Vec::new(),
            kept: VecDeque::new(),
        })
    }

    /// The Socket.IO id the server gave this client in its CONNECT reply: with socketioxide, the
    /// Engine.IO session id, a secret between this client and its instance.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// Waits for the gridcast `welcome` event and remembers the public id it carries. What
    /// arrived before it (a replay: `welcome` is the last packet of attaching) is kept for the
    /// next reads, in order.
    pub async fn welcome(&mut self, wait: Duration) -> Result<Welcome, ProbeError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut before = VecDeque::new();
        let args = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await.map_err(|e| match e {
                ProbeError::Timeout(..) => ProbeError::Timeout(wait, "the welcome"),
                e => e,
            })? {
                Incoming::Event { event, args, .. } if event == event::WELCOME => break args,
                Incoming::Closed(_) => return Err(ProbeError::Closed),
                other => before.push_back(other),
            }
        };
        before.append(&mut self.kept);
        self.kept = before;
        let welcome: Welcome = args
            .into_iter()
            .next()
            .and_then(|w| serde_json::from_value(w).ok())
            .ok_or(ProbeError::Unexpected(
                "welcome without a valid payload".into(),
            ))?;
        self.id = Some(welcome.id.clone());
        Ok(welcome)
    }

    /// This client's public id, known once [`welcome`](Self::welcome) was read (empty before).
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// Emits `event` with `args`, without asking for an ack.
    pub fn emit(&self, event: &str, args: Vec<Value>) -> Result<(), ProbeError> {
        self.out
            .send(Message::text(event_frame(event, args, None)))
            .map_err(|_| ProbeError::Closed)
    }

    /// Emits `event` with `args` and waits for the server's ack.
    pub async fn emit_with_ack(
        &mut self,
        event: &str,
        args: Vec<Value>,
        wait: Duration,
    ) -> Result<Vec<Value>, ProbeError> {
        let id = self.next_ack;
        self.next_ack += 1;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(id, tx);
        self.send_frame(event_frame(event, args, Some(id)))?;
        let result = timeout(wait, rx).await;
        self.pending.lock().await.remove(&id);
        result
            .map_err(|_| ProbeError::Timeout(wait, "an ack"))?
            .map_err(|_| ProbeError::Closed)
    }

    /// A cheap, cloneable function that emits `message` with a text from any task (the load
    /// generator sends from one task while each probe is read in its own).
    pub(crate) fn sender(
        &self,
    ) -> impl Fn(String) -> Result<(), ProbeError> + Send + Sync + 'static {
        let out = self.out.clone();
        move |text: String| {
            out.send(Message::text(event_frame(
                event::MESSAGE,
                vec![Value::from(text)],
                None,
            )))
            .map_err(|_| ProbeError::Closed)
        }
    }

    /// Sends one raw WebSocket text frame (for testing how a server handles hostile input).
    pub fn send_frame(&self, frame: String) -> Result<(), ProbeError> {
        self.out
            .send(Message::text(frame))
            .map_err(|_| ProbeError::Closed)
    }

    /// Sends one raw WebSocket binary frame (a Socket.IO binary attachment, for hostile-input
    /// tests).
    pub fn send_binary(&self, data: Vec<u8>) -> Result<(), ProbeError> {
        self.out
            .send(Message::binary(data))
            .map_err(|_| ProbeError::Closed)
    }

    /// Drops `event` from now on (e.g. `presence` chatter in a test about messages).
    pub fn ignore(&mut self, event: &str) {
        self.ignored.push(event.to_owned());
    }

    /// The next thing the server sent (ignored events aside), waiting at most `wait`.
    pub async fn next(&mut self, wait: Duration) -> Result<Incoming, ProbeError> {
        timeout(wait, self.recv())
            .await
            .map_err(|_| ProbeError::Timeout(wait, "an event"))?
    }

    /// The next thing the server sent (ignored events aside), however long it takes: no timer per
    /// event, for a caller that bounds the wait once for many events (the load generator).
    pub(crate) async fn recv(&mut self) -> Result<Incoming, ProbeError> {
        if let Some(kept) = self.kept.pop_front() {
            return Ok(kept);
        }
        loop {
            let item = self.incoming.recv().await.ok_or(ProbeError::Closed)?;
            match &item {
                Incoming::Event { event, .. } if self.ignored.contains(event) => {}
                _ => return Ok(item),
            }
        }
    }

    /// The next `event`, skipping other events; fails if the connection closes first.
    pub async fn next_event(
        &mut self,
        name: &str,
        wait: Duration,
    ) -> Result<Vec<Value>, ProbeError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await.map_err(|e| match e {
                ProbeError::Timeout(..) => ProbeError::Timeout(wait, "an event"),
                e => e,
            })? {
                Incoming::Event { event, args, .. } if event == name => return Ok(args),
                Incoming::Event { .. } => {}
                Incoming::Closed(_) => return Err(ProbeError::Closed),
            }
        }
    }

    /// The next broadcast `message`: its text and, from gridcast servers, its provenance.
    pub async fn next_message(
        &mut self,
        wait: Duration,
    ) -> Result<(String, Option<MessageMeta>), ProbeError> {
        let args = self.next_event(event::MESSAGE, wait).await?;
        let text = args
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let meta = args.get(1).and_then(|m| MessageMeta::deserialize(m).ok());
        Ok((text, meta))
    }

    /// Everything received within `wait` (for asserting that nothing else arrives).
    pub async fn drain(&mut self, wait: Duration) -> Vec<Incoming> {
        let mut all = Vec::new();
        while let Ok(item) = self.next(wait).await {
            let closed = matches!(item, Incoming::Closed(_));
            all.push(item);
            if closed {
                break;
            }
        }
        all
    }

    /// Closes the connection: Socket.IO disconnect, Engine.IO close, WebSocket close.
    pub fn close(self) {
        for frame in ClientSession::goodbye() {
            let _ = self.send_frame(frame);
        }
    }
}

/// Shows `tap` the arguments of an event frame (`42[...]`: an Engine.IO message carrying a
/// Socket.IO event on `/`, no ack id); whether it took them.
fn tapped(tap: &SharedTap, frame: &str) -> bool {
    match frame.strip_prefix("42") {
        Some(json) if json.starts_with('[') => tap
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .event(json, Instant::now()),
        _ => false,
    }
}

async fn next_text<S>(stream: &mut S) -> Result<String, ProbeError>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match timeout(Duration::from_secs(5), stream.next()).await {
            Err(_) => return Err(ProbeError::Timeout(Duration::from_secs(5), "the handshake")),
            Ok(Some(Ok(Message::Text(text)))) => return Ok(text.as_str().to_owned()),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return Err(ProbeError::Closed),
        }
    }
}

/// Acts on what the session says: frames to send, events to hand to the caller, acks to match.
async fn hand_up<S>(
    happenings: Vec<Happening>,
    sink: &mut S,
    incoming: &mpsc::UnboundedSender<Incoming>,
    pending: &Pending,
) -> Result<(), String>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    for happening in happenings {
        match happening {
            Happening::Send(frame) => sink
                .send(Message::text(frame))
                .await
                .map_err(|e| format!("send failed: {e}"))?,
            Happening::Event { event, args } => {
                let _ = incoming.send(Incoming::Event {
                    event,
                    args,
                    at: Instant::now(),
                });
            }
            Happening::Ack { id, args } => {
                if let Some(tx) = pending.lock().await.remove(&id) {
                    let _ = tx.send(args);
                }
            }
            Happening::Connected { .. } => {}
        }
    }
    Ok(())
}
