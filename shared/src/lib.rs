//! The gridcast wire contract, shared by the server (native) and the browser client (wasm32).
//!
//! This crate does no I/O: it holds the event names, the payload types that travel beside the
//! plain `message` string, the limits every instance enforces, input validation, and a small
//! Engine.IO v4 / Socket.IO v5 text codec that the browser client and the native probe use.
//!
//! # Layout
//! - [`event`]: event names, one constant per event, each documented with direction, payload and an
//!   example frame.
//! - [`message`]: [`MessageMeta`], [`Welcome`]: the JSON objects that travel as event arguments.
//! - [`recovery`]: offsets, the CONNECT auth that carries them, and the outcome of catching up.
//! - [`reply`]: [`Reply`], the one envelope of every ack, and its bodies.
//! - [`presence`]: presence, rooms and direct messages: payloads and naming rules.
//! - `script` (private): whether a display name mixes scripts, for the naming rules.
//! - [`limits`]: sizes and rates the server enforces and the client can pre-check.
//! - [`validate`]: turns an untrusted event argument into a message text, or a [`Rejection`]
//!   (sent to its sender as an [`ErrorEvent`]).
//! - [`codec`]: Engine.IO and Socket.IO packet encoding and decoding (text frames only).
//! - [`session`]: the client side of a session as a state machine without I/O (handshake, pings,
//!   events, acks), driven by the browser client and the native probe alike.
//! - [`instance`]: instance identity and the `/health` and `/instances` response bodies.
//! - [`api`]: the bodies of the publish API for backends.
//! - [`auth`]: the claims of a client's token, and who it is then (`--auth jwt`).
//! - [`grid`]: the grid check: tags, the sender × receiver matrix, and its diagnosis.
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod codec;
pub mod event;
pub mod grid;
pub mod instance;
pub mod limits;
pub mod message;
pub mod presence;
pub mod recovery;
pub mod reply;
mod script;
pub mod session;
pub mod validate;

pub use instance::{
    Health, HistoryHealth, InstanceInfo, InstanceList, ListSource, LiveInstance, RedisLink,
};
pub use message::{Delivery, MessageMeta, Welcome};
pub use reply::{Changed, Members, Reply, Sent};
pub use validate::{ErrorEvent, Rejection, RejectionCode, Unreadable};
