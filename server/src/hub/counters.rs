//! What the hub counts, for `/health` and `/metrics`.

use std::sync::atomic::AtomicU64;

/// Counters of one instance's hub.
#[derive(Debug, Default)]
pub(crate) struct HubCounters {
    /// Broadcasts queued in the outbox (ever).
    pub(crate) queued: AtomicU64,
    /// Broadcasts that found the outbox full: delivered on this instance only.
    pub(crate) overflowed: AtomicU64,
    /// Messages replayed to reconnecting clients.
    pub(crate) replayed: AtomicU64,
    /// Reconnects that could not be recovered.
    pub(crate) unrecovered: AtomicU64,
    /// Outbox broadcasts dropped from a full attach buffer before they were written (the client
    /// is told).
    pub(crate) attach_dropped: AtomicU64,
    /// Replays given up because the client took them too slowly.
    pub(crate) replay_stalled: AtomicU64,
    /// Replays that waited for a slot.
    pub(crate) replays_queued: AtomicU64,
    /// Entries written twice, delivered once.
    pub(crate) duplicates_skipped: AtomicU64,
    /// Entries live delivery could not read (skipped, each once).
    pub(crate) unreadable_skipped: AtomicU64,
}
