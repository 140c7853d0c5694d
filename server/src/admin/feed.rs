//! The Admin UI's live feed from one instance ([`AdminFeed`], which the instance carries): its own
//! sockets connecting, disconnecting, joining and leaving rooms, sent through the adapter to the
//! admin sockets of every instance (the room [`LIVE`] of `/admin`), and the per-second counts of
//! `server_stats`.
//!
//! **Nothing when nobody watches.** The feed works only while an Admin UI is connected somewhere
//! in the cluster: each instance with an admin socket says so on the bus every 2 s, and an
//! instance that heard nothing for [`WATCH_TTL`] stops (`crate::admin::bus`). Until then every
//! hook is one atomic load: no serialising, no publish, no counting, on the paths of connects,
//! disconnects and room changes; the message paths have no hook at all.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use gridcast_shared::presence::Member;
use serde::Serialize;
use socketioxide::{TransportType, extract::SocketRef, socket::DisconnectReason};

use super::wire::{
    AdminSocket, AggregatedEvent, CLIENTS, Handshake, NAMESPACE, iso8601, reason_name,
};
use crate::{
    clock::now_ms,
    redis::adapter::{ClusterAdapter, Io},
};

/// The room of `/admin` whose sockets get the live events: those that got their socket list.
pub(crate) const LIVE: &str = "~live";

/// How long an instance keeps feeding after it last heard that an Admin UI is connected.
pub(crate) const WATCH_TTL: Duration = Duration::from_secs(6);

/// One instance's feed to the Admin UI.
#[derive(Debug, Default)]
pub(crate) struct AdminFeed {
    /// Until when (ms since the epoch) an Admin UI is known to be connected somewhere.
    watched_until: AtomicU64,
    /// Set when the instance stops: nothing is sent from then on (its namespaces close).
    stopped: AtomicBool,
    /// Counts per (second, type, sub-type) since the last `server_stats`.
    counts: Mutex<BTreeMap<CountKey, u64>>,
}

/// A second (its start, ms), an event type and sub-type.
type CountKey = (u64, &'static str, Option<&'static str>);

/// A room change of a socket.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RoomChange<'a> {
    /// It joined this user room.
    Joined(&'a str),
    /// It left this user room.
    Left(&'a str),
}

/// What the Admin UI was told of a socket's transport: `polling` until the feed has said it
/// upgraded (kept in the socket's extensions).
#[derive(Debug)]
pub(crate) struct Reported {
    polling: AtomicBool,
}

impl Reported {
    /// The socket was reported with `transport`.
    pub(crate) fn new(transport: TransportType) -> Self {
        Self {
            polling: AtomicBool::new(transport == TransportType::Polling),
        }
    }

    /// Whether the socket was reported on polling and is on `now` no more (once).
    pub(crate) fn upgraded(&self, now: TransportType) -> bool {
        now == TransportType::Websocket && self.polling.swap(false, Ordering::Relaxed)
    }
}

impl AdminFeed {
    /// Whether an Admin UI is connected somewhere (as last heard).
    pub(crate) fn watched(&self) -> bool {
        now_ms() < self.watched_until.load(Ordering::Relaxed)
            && !self.stopped.load(Ordering::Relaxed)
    }

    /// The instance is stopping: no more events (socketioxide may not emit on a closed namespace).
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// An Admin UI is connected somewhere: feed for another [`WATCH_TTL`]. Returns whether the
    /// feed was off until now.
    pub(crate) fn watch(&self) -> bool {
        let now = now_ms();
        let until = now + WATCH_TTL.as_millis() as u64;
        self.watched_until.fetch_max(until, Ordering::Relaxed) <= now
    }

    /// Counts one `kind` (`sub_type`) event in the current second, while watched.
    fn count(&self, kind: &'static str, sub_type: Option<&'static str>) {
        let second = now_ms() / 1000 * 1000;
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry((second, kind, sub_type)).or_default() += 1;
    }

    /// The counts since the last call, emptied.
    pub(crate) fn take_counts(&self) -> Vec<AggregatedEvent> {
        let counts = std::mem::take(&mut *self.counts.lock().unwrap_or_else(|p| p.into_inner()));
        counts
            .into_iter()
            .map(|((timestamp, kind, sub_type), count)| AggregatedEvent {
                timestamp,
                kind,
                sub_type,
                count,
            })
            .collect()
    }

    /// `socket` (listed in presence as `member`) connected to this instance.
    pub(crate) async fn connected(
        &self,
        io: &Io,
        socket: &SocketRef<ClusterAdapter>,
        member: &Member,
    ) {
        if !self.watched() {
            return;
        }
        self.count("rawConnection", None);
        let transport = socket.transport_type();
        socket
            .extensions
            .insert(std::sync::Arc::new(Reported::new(transport)));
        let shown = AdminSocket::new(
            member,
            Some((transport, Handshake::of(socket.req_parts(), member.since))),
        );
        emit(io, "socket_connected", &(shown, iso8601(now_ms()))).await;
    }

    /// The socket with public id `id` disconnected from this instance.
    pub(crate) async fn disconnected(&self, io: &Io, id: &str, reason: DisconnectReason) {
        if !self.watched() {
            return;
        }
        let reason = reason_name(reason);
        self.count("rawDisconnection", Some(reason));
        emit(
            io,
            "socket_disconnected",
            &(CLIENTS, id, reason, iso8601(now_ms())),
        )
        .await;
    }

    /// The socket with public id `id`, of this instance, joined or left a room.
    pub(crate) async fn room_changed(&self, io: &Io, id: &str, change: RoomChange<'_>) {
        if !self.watched() {
            return;
        }
        let (event, room) = match change {
            RoomChange::Joined(room) => ("room_joined", room),
            RoomChange::Left(room) => ("room_left", room),
        };
        emit(io, event, &(CLIENTS, room, id, iso8601(now_ms()))).await;
    }
}

/// Emits `event` to the admin sockets of every instance that follow the live events.
pub(crate) async fn emit<T: Serialize + ?Sized>(io: &Io, event: &str, args: &T) {
    let Some(admins) = io.of(NAMESPACE) else {
        return;
    };
    if let Err(e) = admins.to(LIVE).emit(event, args).await {
        tracing::debug!(event, "admin feed not sent: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_until_watched_and_counts_emptied_when_taken() {
        let feed = AdminFeed::default();
        assert!(!feed.watched());
        assert!(feed.watch(), "the first watch turns it on");
        assert!(!feed.watch(), "a second one only extends it");
        assert!(feed.watched());
        feed.count("rawConnection", None);
        feed.count("rawConnection", None);
        feed.count("rawDisconnection", Some("transport close"));
        let counts = feed.take_counts();
        let total: u64 = counts.iter().map(|c| c.count).sum();
        assert_eq!(total, 3, "{counts:?}");
        assert!(counts.iter().all(|c| c.timestamp % 1000 == 0));
        assert!(feed.take_counts().is_empty());
    }
}
