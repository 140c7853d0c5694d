//! Every 2 s, while an Admin UI is connected somewhere: this instance's `server_stats` to every
//! admin socket of the cluster (through the adapter), and `socket_updated` for its sockets whose
//! transport changed since the UI was told (a polling client that upgraded to WebSocket), or for
//! all of them (transport and handshake) when an Admin UI just connected and listed them from
//! presence (`super::namespace`).
//!
//! An instance with an admin socket of its own also tells every instance so on the bus (`watch`),
//! which keeps their feeds on (`super::feed`). An instance with nothing to watch does nothing but
//! count its admin sockets once per tick.
//!
//! Counted in `aggregatedEvents`: connections and disconnections (by reason) of gridcast's
//! sockets. Not counted: packets and bytes in and out (that would be work on every packet;
//! engineioxide offers no cheaper hook), the Admin UI's own sockets, and connections that never
//! reached the namespace.

use std::{sync::Arc, time::Duration};

use socketioxide::{TransportType, extract::SocketRef};
use tokio::time::MissedTickBehavior;

use super::{
    bus::Message,
    context::Admin,
    feed::{self, Reported},
    wire::{CLIENTS, Handshake, NAMESPACE, NamespaceDetails, ServerStats, SocketUpdate},
};
use crate::{
    clock::now_ms,
    redis::adapter::{ClusterAdapter, Io},
    socket::SocketState,
};

/// How often `server_stats` goes out (the UI marks a server unhealthy after 10 s without).
const EVERY: Duration = Duration::from_secs(2);

/// Most sockets one instance describes to a newly connected Admin UI (one packet each).
const DESCRIBED_AT_MOST: usize = 1000;

/// Runs for the life of the instance.
pub(crate) async fn run(admin: Arc<Admin>, io: Io) {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = admin.wake.notified() => {}
        }
        let admins = io.of(NAMESPACE).map_or(0, |ns| ns.local().sockets().len());
        if admins > 0 {
            admin.feed().watch();
            if let Err(e) = admin.tell(Message::Watch { fresh: false }).await {
                tracing::debug!(instance = %admin.instance.info.id, "other instances not told of the Admin UI: {e}");
            }
        }
        if !admin.feed().watched() {
            continue;
        }
        // `of("/")`, not `sockets()`: the namespace is gone once the instance stops, and
        // socketioxide's shorthand panics then.
        let sockets = io.of("/").map(|ns| ns.sockets()).unwrap_or_default();
        // A list longer than that stays without details (transport `unknown`).
        let describe = admin.describe_due() && sockets.len() <= DESCRIBED_AT_MOST;
        let mut polling = 0;
        for socket in &sockets {
            let transport = socket.transport_type();
            polling += usize::from(transport == TransportType::Polling);
            tell_transport(&io, socket, transport, describe).await;
        }
        let admin_sockets = io
            .of(NAMESPACE)
            .map(|ns| ns.local().sockets())
            .unwrap_or_default();
        polling += admin_sockets
            .iter()
            .filter(|s| s.transport_type() == TransportType::Polling)
            .count();
        let stats = ServerStats {
            server_id: admin.instance.info.url.clone(),
            hostname: hostname.clone(),
            pid: std::process::id(),
            uptime: now_ms().saturating_sub(admin.instance.started_at()) as f64 / 1000.0,
            clients_count: sockets.len() + admin_sockets.len(),
            polling_clients_count: polling,
            namespaces: vec![
                NamespaceDetails {
                    name: CLIENTS,
                    sockets_count: sockets.len(),
                },
                NamespaceDetails {
                    name: NAMESPACE,
                    sockets_count: admin_sockets.len(),
                },
            ],
            aggregated_events: admin.feed().take_counts(),
        };
        if let Some(admins) = io.of(NAMESPACE)
            && let Err(e) = admins.emit("server_stats", &stats).await
        {
            tracing::debug!(instance = %admin.instance.info.id, "server_stats not sent: {e}");
        }
    }
}

/// Tells the Admin UIs `socket`'s transport (and, when `describe`, its handshake) if they do not
/// know it: a socket reported on polling that upgraded since, or any socket to describe.
async fn tell_transport(
    io: &Io,
    socket: &SocketRef<ClusterAdapter>,
    transport: TransportType,
    describe: bool,
) {
    let Some(state) = socket.extensions.get::<Arc<SocketState>>() else {
        return;
    };
    let reported = socket.extensions.get::<Arc<Reported>>();
    let upgraded = reported.as_ref().is_some_and(|r| r.upgraded(transport));
    if !upgraded && !describe {
        return;
    }
    if reported.is_none() {
        socket.extensions.insert(Arc::new(Reported::new(transport)));
    }
    let update = SocketUpdate {
        id: state.id.clone(),
        nsp: CLIENTS,
        transport: super::wire::transport_name(transport),
        handshake: describe.then(|| Handshake::of(socket.req_parts(), state.member().since)),
    };
    feed::emit(io, "socket_updated", &update).await;
}
