//! What the UI shows, computed in plain Rust: message lines (capped, never the same message
//! twice), the presence store, the notices acks turn into, and where to reconnect. No browser API
//! is used here, so all of it is unit-tested natively (`cargo test -p gridcast-client --lib`, run
//! by `./dev test`), each part's tests beside its code.
//!
//! - `lines`: message lines, their channels, the composer's target, the capped list.
//! - `presence`: the presence store and its grouping by instance.
//! - `ack`: what an ack id waits for and what its reply means.
//! - `reconnect`: the connection's state, the next instance to try, recovery notices.
//! - `notice`: what the page tells the user.
//!
//! Invariants: no browser API; `ack` and `reconnect` use `notice`, `reconnect` uses `lines`, and
//! no part uses another otherwise; the rest of the client names these items as
//! `crate::model::X`.

mod ack;
mod lines;
mod notice;
mod presence;
mod reconnect;

pub use ack::{AckOutcome, Awaiting, on_ack};
pub use lines::{
    Arrival, Channel, HISTORY, Line, Target, line, push_line, routed_channel, tenths_ms,
};
pub use notice::Notice;
pub use presence::{apply, by_instance, upsert};
pub use reconnect::{ConnState, RETRIES_BEFORE_MOVING, next_instance, on_recovery};
