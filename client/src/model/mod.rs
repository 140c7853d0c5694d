//! What the UI computes, in plain Rust: the connection's one state and its words, message lines
//! (capped, never the same message twice), the presence store and the panel's view of it, the
//! instances the page knows, the live view's numbers and drawings, grid results, following the
//! newest message, what a tab keeps across a reload, the notices acks turn into, and where to
//! reconnect. No browser API is used here, so all of it is unit-tested natively
//! (`cargo test -p gridcast-client --lib`, run by `./dev test`), each part's tests beside its code.
//!
//! - `status`: the connection's state ([`Link`]), the header's words, the picker's marks.
//! - `instances`: the instances the page knows and their health, what a grid check covers.
//! - `lines`: message lines, their channels, the composer's target, the capped list, echoes.
//! - `follow`: whether the list follows new messages, the "N new" pill.
//! - `presence`: the presence store, its groups, search and window of rows.
//! - `live`: messages per second and latency per instance over the last minute, as SVG paths.
//! - `grid`: a grid result's time and staleness, and what an outage means for it.
//! - `saved`: what a tab keeps across a reload (its session, where it was).
//! - `ack`: what an ack id waits for and what its reply means.
//! - `reconnect`: the next instance to try, and what the page says once attached.
//! - `notice`: what the page tells the user, and until when.
//!
//! Invariants: no browser API; parts use only `notice`, `lines`, `status` and `instances` of
//! each other; the rest of the client names these items as `crate::model::X`.

mod ack;
mod follow;
mod grid;
mod instances;
mod lines;
mod live;
mod notice;
mod presence;
mod reconnect;
mod saved;
mod status;
mod user;

pub use ack::{AckOutcome, Awaiting, on_ack};
pub use follow::{at_bottom, pill};
pub use grid::{Checked, STALE_MS, stale, with_redis_down};
pub use instances::{Health, Instances, Known, typed_url};
pub use lines::{
    Arrival, Channel, Echoes, HISTORY, Line, Target, line, push_line, routed_channel, tenths_ms,
    trim,
};
pub use live::{Series, Traffic, bars, line as line_path, tenths};
pub use notice::{Notice, Until};
pub use presence::{COLLAPSE_OVER, Group, apply, distinct, groups, in_room, upsert, window};
pub use reconnect::{Arrived, RETRIES_BEFORE_MOVING, next_instance, on_recovery};
pub use saved::Resume;
pub use status::{Headline, Link, Phase, Tone, closed, duration, headline, label, mark};
pub use user::signed_in;
