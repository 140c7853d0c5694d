//! What the instances tell each other about the Admin UI, on the cluster bus
//! (`crate::redis::bus`, channel `<prefix>:bus:admin`); `super::listen` reads it.
//!
//! - `watch`: an Admin UI is connected to the sender. Every instance feeds it for
//!   [`WATCH_TTL`](super::feed::WATCH_TTL) after the last one heard (instances with an admin
//!   socket say it every 2 s, `super::stats`); a `fresh` one (an Admin UI that just connected)
//!   also has every instance describe its sockets to the Admin UIs a moment later.
//! - `command`: an operation of the Admin UI (`emit`, `join`, `leave`, `_disconnect`), which every
//!   instance applies to its own sockets (`super::apply`). A join has to reach the instance that
//!   holds the socket: only it may change the socket's member record and its presence hash.
//!
//! One channel carries both, so every instance sees them in one order. An instance skips what it
//! sent itself (it queued its own commands already).

use serde::{Deserialize, Serialize};

/// An operation of the Admin UI on the sockets of `/`, on every instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Command {
    /// What to do.
    pub(crate) op: Op,
    /// Which sockets: those in this room or with this public id; every socket when `None`.
    pub(crate) filter: Option<String>,
}

/// What a [`Command`] does to each socket it selects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub(crate) enum Op {
    /// Sends it `event` with `args`.
    Emit {
        event: String,
        args: Vec<serde_json::Value>,
    },
    /// Puts it in user room `room`.
    Join { room: String },
    /// Takes it out of user room `room`.
    Leave { room: String },
    /// Disconnects it.
    Disconnect,
}

/// One message on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Message {
    /// An Admin UI is connected to the sender (`fresh`: it just connected).
    Watch { fresh: bool },
    /// Apply this.
    Command(Command),
}

/// A message with the id of the instance that sent it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) from: String,
    pub(crate) message: Message,
}

impl Message {
    /// The bytes on the bus, from instance `from`.
    pub(crate) fn encode(self, from: &str) -> Vec<u8> {
        serde_json::to_vec(&Envelope {
            from: from.to_owned(),
            message: self,
        })
        .expect("bus messages serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for message in [
            Message::Watch { fresh: true },
            Message::Command(Command {
                op: Op::Emit {
                    event: "hello".into(),
                    args: vec![serde_json::json!({"a": 1})],
                },
                filter: Some("ops".into()),
            }),
            Message::Command(Command {
                op: Op::Disconnect,
                filter: None,
            }),
        ] {
            let bytes = message.clone().encode("i1");
            let back: Envelope = serde_json::from_slice(&bytes).unwrap();
            assert_eq!((back.from.as_str(), back.message), ("i1", message));
        }
    }
}
