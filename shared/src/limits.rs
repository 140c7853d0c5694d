//! Limits every instance enforces. The client may pre-check them; the server never trusts it to.

/// Largest accepted message text, in UTF-8 bytes. Longer texts are rejected with
/// [`RejectionCode::TooLarge`](crate::RejectionCode::TooLarge).
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// Largest Engine.IO packet (polling) or WebSocket message an instance reads, in bytes. It is far above [`MAX_MESSAGE_BYTES`] so that
/// an oversized text still reaches the handler and gets a readable error; a packet above this is a
/// protocol violation and the transport is closed.
pub const MAX_PACKET_BYTES: u64 = 256 * 1024;

/// Messages a socket may send in a burst before the rate limit applies.
pub const RATE_BURST: u32 = 50;

/// Messages per second a socket may sustain after its burst.
pub const RATE_PER_SECOND: u32 = 20;

/// Bounded parameters a client learns in [`Welcome`](crate::Welcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// See [`MAX_MESSAGE_BYTES`].
    pub max_message_bytes: usize,
    /// See [`RATE_BURST`].
    pub rate_burst: u32,
    /// See [`RATE_PER_SECOND`].
    pub rate_per_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: MAX_MESSAGE_BYTES,
            rate_burst: RATE_BURST,
            rate_per_second: RATE_PER_SECOND,
        }
    }
}
