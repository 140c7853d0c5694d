//! Sending one socket more than its buffer holds: a burst at a time, the next once the client has
//! read it, giving up when it stops reading.
//!
//! socketioxide gives each socket a bounded buffer ([`CLIENT_BUFFER`] packets) and fails an emit
//! at once when it is full (it reserves room before it encodes, so a failed emit leaves nothing
//! behind). A replay is larger than the buffer, and filling the whole buffer with it would hold
//! up to 1024 packets of up to ~25 KB per replaying socket. So a [`Pacer`] sends [`BURST`]
//! packets, then waits until the buffer is empty again (`Socket::buffer_room`, from gridcast's
//! socketioxide patch) before the next burst: at most a burst of a replay waits in a socket's
//! buffer. Waiting is a growing pause (1 ms doubling to 50 ms).
//!
//! Invariant: a packet is either handed to the socket's buffer or the whole send stops there
//! ([`Stop`]), so what the client receives never has a hole in it.

use std::time::Duration;

use socketioxide::{SendError, extract::SocketRef};
use socketioxide_core::adapter::errors::SocketError;

use super::slots::Budget;
use crate::redis::adapter::ClusterAdapter;

/// Packets socketioxide buffers per client before it reports `InternalChannelFull` (its default is
/// 128, which a burst of cluster-wide broadcasts overflows).
pub(crate) const CLIENT_BUFFER: usize = 1024;

/// Packets a paced sender puts in a socket's buffer before it waits for the buffer to empty.
const BURST: usize = 32;

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

/// Paces the packets of one sender (a replay) to one socket, within the instance's replay
/// [`Budget`].
#[derive(Debug)]
pub(super) struct Pacer<'a> {
    budget: &'a Budget,
    /// Packets sent since the buffer was last seen empty.
    in_burst: usize,
    /// How long it waited for the budget (the server's doing, not the client's).
    pub(super) budget_waits: Duration,
}

impl<'a> Pacer<'a> {
    pub(super) fn new(budget: &'a Budget) -> Self {
        Self {
            budget,
            in_burst: 0,
            budget_waits: Duration::ZERO,
        }
    }

    /// Emits one packet of about `bytes` with `emit`, once the budget allows it and the previous
    /// burst left the socket's buffer.
    pub(super) async fn send(
        &mut self,
        socket: &SocketRef<ClusterAdapter>,
        bytes: u64,
        mut emit: impl FnMut() -> Result<(), SendError>,
    ) -> Result<(), Stop> {
        self.budget_waits += self.budget.take(bytes).await;
        if self.in_burst >= BURST {
            let mut backoff = Backoff::new();
            while socket.buffer_room(CLIENT_BUFFER) < CLIENT_BUFFER {
                if !socket.connected() {
                    return Err(Stop::Gone);
                }
                backoff.wait().await?;
            }
            self.in_burst = 0;
        }
        let mut backoff = Backoff::new();
        loop {
            match emit() {
                Ok(()) => {
                    self.in_burst += 1;
                    return Ok(());
                }
                Err(e) => {
                    full(e)?;
                    backoff.wait().await?;
                }
            }
        }
    }
}
