//! Socket.IO v5 packets (<https://socket.io/docs/v4/socket-io-protocol/>).
//!
//! Text form: `<type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]`, where the namespace
//! is written only when it is not `/`.
//!
//! | type | name          | example                         |
//! |------|---------------|---------------------------------|
//! | `0`  | CONNECT       | `0`, `0{"sid":"abc"}`           |
//! | `1`  | DISCONNECT    | `1`                             |
//! | `2`  | EVENT         | `2["message","hi"]`, `27["message","hi"]` |
//! | `3`  | ACK           | `37[{"ok":true}]`               |
//! | `4`  | CONNECT_ERROR | `4{"message":"Not authorized"}` |
//! | `5`  | BINARY_EVENT  | unsupported here                |
//! | `6`  | BINARY_ACK    | unsupported here                |

use serde_json::Value;

use super::error::CodecError;

/// One Socket.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub enum SioPacket {
    /// Connect to a namespace (client), or connected (server, with `{"sid": ..}`).
    Connect {
        /// Namespace.
        nsp: String,
        /// Auth object from the client, or `{"sid": ..}` from the server.
        data: Option<Value>,
    },
    /// Leave a namespace.
    Disconnect {
        /// Namespace.
        nsp: String,
    },
    /// An event with its arguments, optionally asking for an ack.
    Event {
        /// Namespace.
        nsp: String,
        /// Ack id, when the sender wants an answer.
        id: Option<u64>,
        /// Event name.
        event: String,
        /// Arguments after the name.
        args: Vec<Value>,
    },
    /// Answer to an event that carried an ack id.
    Ack {
        /// Namespace.
        nsp: String,
        /// The id of the event being answered.
        id: u64,
        /// Answer arguments.
        args: Vec<Value>,
    },
    /// The server refused the namespace connection.
    ConnectError {
        /// Namespace.
        nsp: String,
        /// The server's reason (`message` field of the payload, or the payload itself).
        message: String,
    },
}

impl SioPacket {
    /// An event on `nsp`.
    pub fn event(nsp: &str, event: &str, args: Vec<Value>, id: Option<u64>) -> Self {
        Self::Event {
            nsp: nsp.to_owned(),
            id,
            event: event.to_owned(),
            args,
        }
    }

    /// Encodes into the payload of an Engine.IO message packet.
    pub fn encode(&self) -> String {
        let (kind, nsp, id, payload) = match self {
            Self::Connect { nsp, data } => ('0', nsp, None, data.as_ref().map(Value::to_string)),
            Self::Disconnect { nsp } => ('1', nsp, None, None),
            Self::Event {
                nsp,
                id,
                event,
                args,
            } => {
                let mut all = Vec::with_capacity(args.len() + 1);
                all.push(Value::String(event.clone()));
                all.extend(args.iter().cloned());
                ('2', nsp, *id, Some(Value::Array(all).to_string()))
            }
            Self::Ack { nsp, id, args } => (
                '3',
                nsp,
                Some(*id),
                Some(Value::Array(args.clone()).to_string()),
            ),
            Self::ConnectError { nsp, message } => (
                '4',
                nsp,
                None,
                Some(serde_json::json!({ "message": message }).to_string()),
            ),
        };
        let mut out = String::with_capacity(payload.as_ref().map_or(0, String::len) + 16);
        out.push(kind);
        if nsp != "/" && !nsp.is_empty() {
            out.push_str(nsp);
            out.push(',');
        }
        if let Some(id) = id {
            out.push_str(&id.to_string());
        }
        if let Some(payload) = payload {
            out.push_str(&payload);
        }
        out
    }

    /// Decodes the payload of an Engine.IO message packet.
    pub fn decode(text: &str) -> Result<Self, CodecError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(CodecError::Empty)?;
        let mut rest = chars.as_str();
        if matches!(kind, '5' | '6') {
            return Err(CodecError::Unsupported("binary attachments"));
        }
        if !('0'..='4').contains(&kind) {
            return Err(CodecError::UnknownType {
                layer: "Socket.IO",
                found: kind,
            });
        }
        let nsp = if rest.starts_with('/') {
            let end = rest.find(',').unwrap_or(rest.len());
            let nsp = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
            nsp.to_owned()
        } else {
            "/".to_owned()
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let id = if digits > 0 {
            let id = rest[..digits]
                .parse::<u64>()
                .map_err(|e| CodecError::payload("ack id", e))?;
            rest = &rest[digits..];
            Some(id)
        } else {
            None
        };
        if id.is_some() && !matches!(kind, '2' | '3') {
            return Err(CodecError::payload(
                "packet",
                "only EVENT and ACK packets carry an ack id",
            ));
        }
        let payload = || -> Result<Option<Value>, CodecError> {
            if rest.is_empty() {
                Ok(None)
            } else {
                serde_json::from_str(rest)
                    .map(Some)
                    .map_err(|e| CodecError::payload("JSON payload", e))
            }
        };
        Ok(match kind {
            '0' => match payload()? {
                data @ (None | Some(Value::Object(_))) => Self::Connect { nsp, data },
                Some(_) => {
                    return Err(CodecError::payload(
                        "CONNECT",
                        "the payload must be an object",
                    ));
                }
            },
            '1' => Self::Disconnect { nsp },
            '2' => {
                let Some(Value::Array(mut all)) = payload()? else {
                    return Err(CodecError::payload("event", "payload is not an array"));
                };
                if all.is_empty() {
                    return Err(CodecError::payload("event", "no event name"));
                }
                let Value::String(event) = all.remove(0) else {
                    return Err(CodecError::payload("event", "event name is not a string"));
                };
                Self::Event {
                    nsp,
                    id,
                    event,
                    args: all,
                }
            }
            '3' => {
                let id = id.ok_or_else(|| CodecError::payload("ack", "missing ack id"))?;
                let Some(Value::Array(args)) = payload()? else {
                    return Err(CodecError::payload("ack", "payload is not an array"));
                };
                Self::Ack { nsp, id, args }
            }
            _ => {
                let message = match payload()? {
                    Some(Value::Object(mut map)) => match map.remove("message") {
                        Some(Value::String(m)) => m,
                        Some(other) => other.to_string(),
                        None => Value::Object(map).to_string(),
                    },
                    Some(Value::String(m)) => m,
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                Self::ConnectError { nsp, message }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_the_reference_examples() {
        let connect = SioPacket::Connect {
            nsp: "/".into(),
            data: None,
        };
        assert_eq!(connect.encode(), "0");
        let admin = SioPacket::Connect {
            nsp: "/admin".into(),
            data: Some(json!({"token":"123"})),
        };
        assert_eq!(admin.encode(), r#"0/admin,{"token":"123"}"#);
        let ev = SioPacket::event("/", "message", vec![json!("hi")], Some(12));
        assert_eq!(ev.encode(), r#"212["message","hi"]"#);
        let ack = SioPacket::Ack {
            nsp: "/admin".into(),
            id: 13,
            args: vec![json!("bar")],
        };
        assert_eq!(ack.encode(), r#"3/admin,13["bar"]"#);
    }

    #[test]
    fn decodes_what_it_encodes() {
        for p in [
            SioPacket::Connect {
                nsp: "/".into(),
                data: Some(json!({"sid":"x"})),
            },
            SioPacket::Disconnect {
                nsp: "/chat".into(),
            },
            SioPacket::event("/", "message", vec![json!("a"), json!({"id":"b"})], None),
            SioPacket::event("/chat", "message", vec![], Some(0)),
            SioPacket::Ack {
                nsp: "/".into(),
                id: 99,
                args: vec![json!({"ok":true})],
            },
            SioPacket::ConnectError {
                nsp: "/".into(),
                message: "nope".into(),
            },
        ] {
            assert_eq!(SioPacket::decode(&p.encode()).unwrap(), p, "{}", p.encode());
        }
    }

    #[test]
    fn rejects_malformed_packets() {
        for bad in [
            "",
            "9",
            "2",
            "2{}",
            "2[]",
            "2[1]",
            "3[]",
            "2[\"a\"",
            "51-[\"a\",{\"_placeholder\":true,\"num\":0}]",
        ] {
            assert!(SioPacket::decode(bad).is_err(), "{bad:?} decoded");
        }
    }

    #[test]
    fn connect_error_reads_the_message_field() {
        let p = SioPacket::decode(r#"4{"message":"Not authorized"}"#).unwrap();
        assert_eq!(
            p,
            SioPacket::ConnectError {
                nsp: "/".into(),
                message: "Not authorized".into()
            }
        );
    }
}
