//! Engine.IO v4 packets (<https://socket.io/docs/v4/engine-io-protocol/>).
//!
//! | type | name    | example            |
//! |------|---------|--------------------|
//! | `0`  | open    | `0{"sid":"..",...}` |
//! | `1`  | close   | `1`                |
//! | `2`  | ping    | `2`, `2probe`      |
//! | `3`  | pong    | `3`, `3probe`      |
//! | `4`  | message | `4` + Socket.IO packet |
//! | `5`  | upgrade | `5`                |
//! | `6`  | noop    | `6`                |

use serde::{Deserialize, Serialize};

use super::error::CodecError;

/// Body of the Engine.IO open packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenPayload {
    /// Engine.IO session id.
    pub sid: String,
    /// Transports the session may upgrade to.
    #[serde(default)]
    pub upgrades: Vec<String>,
    /// Milliseconds between server pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong; the client should also give up on the server
    /// when no ping arrived within `ping_interval + ping_timeout`.
    pub ping_timeout: u64,
    /// Largest packet the server accepts, in bytes.
    #[serde(default)]
    pub max_payload: u64,
}

/// One Engine.IO packet (one WebSocket text frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioPacket {
    /// Session parameters, first packet from the server.
    Open(OpenPayload),
    /// Close the session.
    Close,
    /// Heartbeat from the server (or the `probe` of an upgrade).
    Ping(Option<String>),
    /// Answer to a ping, echoing its data.
    Pong(Option<String>),
    /// A Socket.IO packet.
    Message(String),
    /// Transport upgrade completed.
    Upgrade,
    /// No operation.
    Noop,
}

impl EioPacket {
    /// Decodes one text frame.
    pub fn decode(frame: &str) -> Result<Self, CodecError> {
        let mut chars = frame.chars();
        let kind = chars.next().ok_or(CodecError::Empty)?;
        let rest = chars.as_str();
        let data = || (!rest.is_empty()).then(|| rest.to_owned());
        Ok(match kind {
            '0' => Self::Open(
                serde_json::from_str(rest).map_err(|e| CodecError::payload("open payload", e))?,
            ),
            '1' => Self::Close,
            '2' => Self::Ping(data()),
            '3' => Self::Pong(data()),
            '4' => Self::Message(rest.to_owned()),
            '5' => Self::Upgrade,
            '6' => Self::Noop,
            'b' => return Err(CodecError::Unsupported("base64 binary packet")),
            found => {
                return Err(CodecError::UnknownType {
                    layer: "Engine.IO",
                    found,
                });
            }
        })
    }

    /// Encodes into one text frame.
    pub fn encode(&self) -> String {
        match self {
            Self::Open(open) => {
                format!(
                    "0{}",
                    serde_json::to_string(open).expect("open payload serializes")
                )
            }
            Self::Close => "1".to_owned(),
            Self::Ping(data) => format!("2{}", data.as_deref().unwrap_or("")),
            Self::Pong(data) => format!("3{}", data.as_deref().unwrap_or("")),
            Self::Message(data) => format!("4{data}"),
            Self::Upgrade => "5".to_owned(),
            Self::Noop => "6".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_open_packet_of_a_v4_server() {
        let frame = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let EioPacket::Open(open) = EioPacket::decode(frame).unwrap() else {
            panic!("not an open packet")
        };
        assert_eq!(open.sid, "lv_VI97HAXpY6yYWAAAC");
        assert_eq!((open.ping_interval, open.ping_timeout), (25000, 20000));
        assert_eq!(open.max_payload, 1_000_000);
    }

    #[test]
    fn round_trips_every_text_type() {
        for p in [
            EioPacket::Close,
            EioPacket::Ping(None),
            EioPacket::Ping(Some("probe".into())),
            EioPacket::Pong(None),
            EioPacket::Pong(Some("probe".into())),
            EioPacket::Message(r#"2["message","hi"]"#.into()),
            EioPacket::Message(String::new()),
            EioPacket::Upgrade,
            EioPacket::Noop,
        ] {
            assert_eq!(EioPacket::decode(&p.encode()).unwrap(), p);
        }
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(EioPacket::decode(""), Err(CodecError::Empty));
        assert!(matches!(
            EioPacket::decode("9"),
            Err(CodecError::UnknownType { found: '9', .. })
        ));
        assert!(matches!(
            EioPacket::decode("0{"),
            Err(CodecError::BadPayload { .. })
        ));
        assert!(matches!(
            EioPacket::decode("bAAAA"),
            Err(CodecError::Unsupported(_))
        ));
    }
}
