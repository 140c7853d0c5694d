//! Sending one socket more than its buffer holds: emit while there is room, wait while the
//! client reads, give up when it stops reading.
//!
//! socketioxide gives each socket a bounded buffer (`CLIENT_BUFFER` packets) and fails an emit
//! at once when it is full (it reserves room before it encodes, so a failed emit leaves nothing
//! behind); it offers no way to wait for room. A replay is larger than the buffer, so a packet
//! that does not fit is tried again after a growing pause (1 ms doubling to 50 ms).
//!
//! Invariant: a packet is either handed to the socket's buffer or the whole send stops there
//! ([`Stop`]), so what the client receives never has a hole in it.

use std::time::Duration;

use socketioxide::SendError;
use socketioxide_core::adapter::errors::SocketError;

/// How long a socket's buffer may stay full before the client counts as too slow: it reads
/// nothing, or so little that its replay would hold a replay slot for ever.
pub(super) const STALL: Duration = Duration::from_secs(5);

/// Why a paced send stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The socket is closed.
    Gone,
    /// Its buffer stayed full for [`STALL`].
    Stalled,
}

/// What an emit's failure means for a paced send: wait (`Ok`) or stop.
pub(super) fn full(error: SendError) -> Result<(), Stop> {
    match error {
        SendError::Socket(SocketError::InternalChannelFull) => Ok(()),
        // Closed, or a packet that cannot be encoded (never: gridcast's own types).
        _ => Err(Stop::Gone),
    }
}

/// The pause between two tries to emit into a full buffer; any packet that fits starts it over.
#[derive(Debug)]
pub(super) struct Backoff {
    pause: Duration,
    waited: Duration,
}

impl Backoff {
    pub(super) fn new() -> Self {
        Self {
            pause: Duration::from_millis(1),
            waited: Duration::ZERO,
        }
    }

    /// Waits before the next try, or stops when the buffer has been full for [`STALL`].
    pub(super) async fn wait(&mut self) -> Result<(), Stop> {
        if self.waited >= STALL {
            return Err(Stop::Stalled);
        }
        tokio::time::sleep(self.pause).await;
        self.waited += self.pause;
        self.pause = (self.pause * 2).min(Duration::from_millis(50));
        Ok(())
    }
}

/// Emits one packet with `emit` as soon as the socket has room for it.
pub(super) async fn send(mut emit: impl FnMut() -> Result<(), SendError>) -> Result<(), Stop> {
    let mut backoff = Backoff::new();
    loop {
        match emit() {
            Ok(()) => return Ok(()),
            Err(e) => {
                full(e)?;
                backoff.wait().await?;
            }
        }
    }
}
