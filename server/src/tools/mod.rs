//! Client-side tools: a native Socket.IO client and the two commands built on it. Nothing here
//! runs inside `gridcast serve`; it talks to a cluster from the outside, like any client.
//!
//! - [`probe`]: a native Socket.IO v5 client over WebSocket on the `shared` codec (tests use it
//!   as a real client); `dial`, how it opens its WebSocket (local address, read buffer).
//! - [`follow`]: a client that reconnects, fails over to another live instance and catches up
//!   from its last offset (what `gridcast bench` clients are).
//! - [`check`]: `gridcast check`, one probe per instance and the N × N delivery matrix.
//! - [`bench`](mod@bench): `gridcast bench`, load and per-delivery latency, side by side with another
//!   cluster.
//! - [`ramp`]: `gridcast bench --ramp`, the load raised step by step to each cluster's
//!   saturation point, and its SVG plot.
//! - [`publish`]: `gridcast publish`, a message through the publish API.
//! - [`token`]: `gridcast token`, a signed token for `--auth jwt` (demos and tests).

pub mod bench;
pub mod check;
mod dial;
pub mod follow;
pub mod probe;
pub mod publish;
pub mod ramp;
pub mod token;
