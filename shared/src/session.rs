//! The client side of one Engine.IO v4 / Socket.IO v5 session, as a state machine without I/O.
//!
//! A driver (the browser's WebSocket in `client/`, tokio-tungstenite in the native probe) feeds
//! every text frame it reads to [`ClientSession::receive`] and writes every frame it gets back; it
//! encodes what it sends with [`event_frame`]. The rules live here once:
//!
//! 1. the server's first frame is the Engine.IO open packet (`0{"sid",..,"pingInterval",..}`),
//!    answered with the Socket.IO CONNECT of the default namespace (`40`, with an auth object when
//!    given);
//! 2. the CONNECT reply (`40{"sid":..}`) means connected; a CONNECT_ERROR (`44{..}`) ends it;
//! 3. then Engine.IO pings (`2`) are answered with pongs (`3`), events and acks are handed up,
//!    and Engine.IO close or a Socket.IO DISCONNECT ends the session;
//! 4. a server that sends nothing for `pingInterval + pingTimeout` is gone
//!    ([`ClientSession::silence_limit_ms`]).

use serde_json::Value;

use crate::{
    codec::{EioPacket, SioPacket},
    event,
};

/// What happened, for the driver to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    /// Send this text frame to the server.
    Send(String),
    /// The namespace is joined; `sid` is the server's CONNECT reply (with socketioxide, the
    /// Engine.IO session id: a secret between this client and its instance, never to be shown).
    Connected {
        /// The id from the CONNECT reply.
        sid: String,
    },
    /// An event from the server.
    Event {
        /// Event name.
        event: String,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// The answer to one of our requests.
    Ack {
        /// The ack id we sent.
        id: u64,
        /// The answer's arguments.
        args: Vec<Value>,
    },
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionEnd {
    /// The server refused the namespace (CONNECT_ERROR), with its message.
    #[error("refused by the server: {0}")]
    Refused(String),
    /// The server closed the session (Engine.IO close or Socket.IO DISCONNECT).
    #[error("the server closed the session")]
    Closed,
    /// The server sent something that breaks the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitOpen,
    AwaitConnect,
    Connected,
}

/// The protocol state of one client session.
#[derive(Debug, Clone)]
pub struct ClientSession {
    phase: Phase,
    auth: Option<Value>,
    silence_limit_ms: Option<u64>,
}

impl ClientSession {
    /// A session about to open, that will send `auth` (if any) in its CONNECT packet.
    pub fn new(auth: Option<Value>) -> Self {
        Self {
            phase: Phase::AwaitOpen,
            auth,
            silence_limit_ms: None,
        }
    }

    /// Whether the namespace is joined.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// How long the server may stay silent before the session counts as lost
    /// (`pingInterval + pingTimeout` from its open packet; unknown before it).
    pub fn silence_limit_ms(&self) -> Option<u64> {
        self.silence_limit_ms
    }

    /// Feeds one text frame from the server: what to do, or why the session ended.
    pub fn receive(&mut self, frame: &str) -> Result<Vec<Happening>, SessionEnd> {
        let packet = EioPacket::decode(frame).map_err(|e| SessionEnd::Protocol(e.to_string()))?;
        match (self.phase, packet) {
            (Phase::AwaitOpen, EioPacket::Open(open)) => {
                self.silence_limit_ms = Some(open.ping_interval + open.ping_timeout);
                self.phase = Phase::AwaitConnect;
                let connect = SioPacket::Connect {
                    nsp: event::NAMESPACE.into(),
                    data: self.auth.clone(),
                };
                Ok(vec![Happening::Send(
                    EioPacket::Message(connect.encode()).encode(),
                )])
            }
            (_, EioPacket::Close) => Err(SessionEnd::Closed),
            (Phase::AwaitOpen, other) => Err(SessionEnd::Protocol(format!(
                "expected an open packet, got {other:?}"
            ))),
            (_, EioPacket::Ping(data)) => Ok(vec![Happening::Send(EioPacket::Pong(data).encode())]),
            (phase, EioPacket::Message(text)) => {
                let packet =
                    SioPacket::decode(&text).map_err(|e| SessionEnd::Protocol(e.to_string()))?;
                self.on_socketio(phase, packet)
            }
            (_, _) => Ok(Vec::new()),
        }
    }

    fn on_socketio(
        &mut self,
        phase: Phase,
        packet: SioPacket,
    ) -> Result<Vec<Happening>, SessionEnd> {
        match (phase, packet) {
            (Phase::AwaitConnect, SioPacket::Connect { data, .. }) => {
                self.phase = Phase::Connected;
                let sid = data
                    .as_ref()
                    .and_then(|d| d.get("sid"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                Ok(vec![Happening::Connected { sid }])
            }
            (_, SioPacket::ConnectError { message, .. }) => Err(SessionEnd::Refused(message)),
            (_, SioPacket::Disconnect { .. }) => Err(SessionEnd::Closed),
            (Phase::Connected, SioPacket::Event { event, args, .. }) => {
                Ok(vec![Happening::Event { event, args }])
            }
            (Phase::Connected, SioPacket::Ack { id, args, .. }) => {
                Ok(vec![Happening::Ack { id, args }])
            }
            (_, _) => Ok(Vec::new()),
        }
    }

    /// The frames that end the session politely: Socket.IO DISCONNECT, then Engine.IO close.
    pub fn goodbye() -> [String; 2] {
        [
            EioPacket::Message(
                SioPacket::Disconnect {
                    nsp: event::NAMESPACE.into(),
                }
                .encode(),
            )
            .encode(),
            EioPacket::Close.encode(),
        ]
    }
}

/// The text frame of `event` with `args` on the default namespace, asking for ack `ack` if given.
pub fn event_frame(event: &str, args: Vec<Value>, ack: Option<u64>) -> String {
    EioPacket::Message(SioPacket::event(event::NAMESPACE, event, args, ack).encode()).encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OPEN: &str = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":10000,"pingTimeout":5000,"maxPayload":1000000}"#;

    #[test]
    fn handshake_then_events_acks_and_pings() {
        let mut s = ClientSession::new(Some(json!({"offset": "1-0"})));
        assert_eq!(s.silence_limit_ms(), None);
        assert_eq!(
            s.receive(OPEN).unwrap(),
            vec![Happening::Send(r#"40{"offset":"1-0"}"#.into())]
        );
        assert_eq!(s.silence_limit_ms(), Some(15_000));
        assert!(!s.is_connected());
        // Events before the CONNECT reply are not handed up.
        assert_eq!(s.receive(r#"42["message","early"]"#).unwrap(), vec![]);
        assert_eq!(
            s.receive(r#"40{"sid":"abc"}"#).unwrap(),
            vec![Happening::Connected { sid: "abc".into() }]
        );
        assert!(s.is_connected());
        assert_eq!(
            s.receive(r#"42["message","hi"]"#).unwrap(),
            vec![Happening::Event {
                event: "message".into(),
                args: vec![json!("hi")]
            }]
        );
        assert_eq!(
            s.receive(r#"437[{"ok":true}]"#).unwrap(),
            vec![Happening::Ack {
                id: 7,
                args: vec![json!({"ok": true})]
            }]
        );
        assert_eq!(s.receive("2").unwrap(), vec![Happening::Send("3".into())]);
        assert_eq!(s.receive("41"), Err(SessionEnd::Closed));
    }

    #[test]
    fn refusals_and_protocol_errors_end_the_session() {
        let mut s = ClientSession::new(None);
        assert!(matches!(s.receive("40"), Err(SessionEnd::Protocol(_))));
        let mut s = ClientSession::new(None);
        assert_eq!(s.receive(OPEN).unwrap(), vec![Happening::Send("40".into())]);
        assert_eq!(
            s.receive(r#"44{"message":"no"}"#),
            Err(SessionEnd::Refused("no".into()))
        );
        assert!(matches!(
            ClientSession::new(None).receive("x"),
            Err(SessionEnd::Protocol(_))
        ));
        assert_eq!(
            ClientSession::new(None).receive("1"),
            Err(SessionEnd::Closed)
        );
    }

    #[test]
    fn frames() {
        assert_eq!(
            event_frame("message", vec![json!("hi")], Some(3)),
            r#"423["message","hi"]"#
        );
        assert_eq!(ClientSession::goodbye(), ["41".to_owned(), "1".to_owned()]);
    }
}
