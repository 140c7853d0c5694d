//! Instance identity and the bodies of `GET /health` and `GET /instances`.

use serde::{Deserialize, Serialize};

/// One gridcast instance as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// Short random id, unique per instance run (8 hex digits).
    pub id: String,
    /// Base URL a browser can reach the instance at, e.g. `http://127.0.0.1:3000`.
    pub url: String,
    /// TCP port the instance listens on.
    pub port: u16,
}

/// Whether two base URLs reach the same instance: equal, or the same port on loopback names
/// (`localhost`, `127.x.x.x`, `[::1]`), however the page was opened.
pub fn same_instance(a: &str, b: &str) -> bool {
    fn host_port(url: &str) -> Option<(&str, &str)> {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = rest.split('/').next()?;
        let (host, port) = authority.rsplit_once(':')?;
        Some((host, port))
    }
    fn loopback(host: &str) -> bool {
        host == "localhost" || host == "[::1]" || host.starts_with("127.")
    }
    let (a, b) = (a.trim_end_matches('/'), b.trim_end_matches('/'));
    a == b
        || matches!((host_port(a), host_port(b)),
            (Some((ha, pa)), Some((hb, pb))) if pa == pb && loopback(ha) && loopback(hb))
}

/// State of an instance's link to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisLink {
    /// Connected: broadcasts reach other instances.
    Up,
    /// Lost; the instance keeps serving its own clients and reconnects in the background.
    Reconnecting,
}

/// Things the server could not send to one client, or could not read from Redis, by cause.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsentCounts {
    /// `welcome` events not sent (the client was gone or its buffer full).
    pub welcome: u64,
    /// Acks and `error` events not sent.
    pub reply: u64,
    /// Registry entries in Redis that could not be parsed (skipped, left to expire).
    pub bad_registry_entries: u64,
    /// Presence members in Redis that could not be parsed (skipped).
    pub bad_presence_members: u64,
    /// History entries without gridcast's fields (written by something else, or unreadable)
    /// that live delivery skipped, each once.
    #[serde(default)]
    pub bad_history_entries: u64,
}

/// Body of `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The instance answering.
    pub instance: InstanceInfo,
    /// Its Redis link.
    pub redis: RedisLink,
    /// Socket.IO clients connected to this instance.
    pub clients: usize,
    /// Outgoing packets dropped because a client's buffer was full, since start.
    pub dropped_packets: u64,
    /// Of [`dropped_packets`](Self::dropped_packets), those of broadcasts relayed from other
    /// instances through Redis.
    #[serde(default)]
    pub dropped_relayed: u64,
    /// Clients closed because a packet did not fit in their buffer (they read too slowly), since
    /// start: each reconnects and gets what it missed from the history.
    #[serde(default)]
    pub slow_clients_closed: u64,
    /// What the server could not send or read, by cause.
    #[serde(default)]
    pub unsent: UnsentCounts,
    /// Broadcasts that reached only this instance because Redis was unreachable, since start.
    pub local_only_broadcasts: u64,
    /// The history: outbox, replays.
    #[serde(default)]
    pub history: HistoryHealth,
}

/// The history part of [`Health`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryHealth {
    /// Broadcasts waiting in the outbox for Redis now.
    pub outbox: usize,
    /// Broadcasts queued in the outbox since start (delivered here at once, to the other
    /// instances when Redis came back).
    pub queued: u64,
    /// Broadcasts that found the outbox full and reached this instance only (also counted in
    /// `local_only_broadcasts`).
    pub outbox_overflowed: u64,
    /// Messages replayed to reconnecting clients.
    pub replayed: u64,
    /// Reconnects with an offset that could not be recovered (expired, unknown, unreadable).
    pub unrecovered: u64,
    /// Broadcasts written to the history twice and delivered once.
    pub duplicates_skipped: u64,
    /// Broadcasts whose append got no answer in time (so they were delivered here and queued in
    /// the outbox) but had been written: the outbox found them in the history and did not write
    /// them again.
    #[serde(default)]
    pub landed_unanswered: u64,
    /// Outbox broadcasts a socket missed because its attach buffer was full before they were
    /// written to the history (other buffered deliveries that overflow are read back from the
    /// history instead). The client is told in its `welcome`.
    pub attach_dropped: u64,
    /// Replays given up because the client took them too slowly (its buffer stayed full); the
    /// client was disconnected and resumes from its last offset when it reconnects.
    #[serde(default)]
    pub replay_stalled: u64,
    /// Replays that had to wait for a free replay slot (`--max-replays`).
    #[serde(default)]
    pub replays_queued: u64,
    /// Replays running now.
    #[serde(default)]
    pub replays_active: u64,
}

/// An instance as the cluster registry sees it (refreshed every second through Redis). On the
/// wire its [`InstanceInfo`] fields sit beside the others (`{"id","url","port","started_at",
/// "clients"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "LiveWire", into = "LiveWire")]
pub struct LiveInstance {
    /// Who it is.
    pub info: InstanceInfo,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_at: u64,
    /// Socket.IO clients connected to it at its last heartbeat.
    pub clients: usize,
}

/// [`LiveInstance`] as sent: flat, spelled out rather than `#[serde(flatten)]`, which buffers
/// the input generically and costs the browser bundle several kilobytes.
#[derive(Serialize, Deserialize)]
struct LiveWire {
    id: String,
    url: String,
    port: u16,
    started_at: u64,
    clients: usize,
}

impl From<LiveWire> for LiveInstance {
    fn from(w: LiveWire) -> Self {
        Self {
            info: InstanceInfo {
                id: w.id,
                url: w.url,
                port: w.port,
            },
            started_at: w.started_at,
            clients: w.clients,
        }
    }
}

impl From<LiveInstance> for LiveWire {
    fn from(l: LiveInstance) -> Self {
        Self {
            id: l.info.id,
            url: l.info.url,
            port: l.info.port,
            started_at: l.started_at,
            clients: l.clients,
        }
    }
}

/// Where an [`InstanceList`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListSource {
    /// The live registry in Redis: instances that sent a heartbeat in the last few seconds.
    Registry,
    /// Redis was unreachable: the instance's own configuration.
    Config,
}

/// Body of `GET /instances`: the instances a UI can switch between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceList {
    /// The instance answering.
    pub this: InstanceInfo,
    /// Base URLs of every live instance of the cluster, this one included, sorted.
    pub instances: Vec<String>,
    /// The same instances with details, in the same order.
    pub live: Vec<LiveInstance>,
    /// Where the list came from.
    pub source: ListSource,
}

#[cfg(test)]
mod tests {
    use super::{InstanceInfo, LiveInstance, same_instance};

    #[test]
    fn a_live_instance_is_flat_on_the_wire() {
        let live = LiveInstance {
            info: InstanceInfo {
                id: "a1b2c3d4".into(),
                url: "http://127.0.0.1:3000".into(),
                port: 3000,
            },
            started_at: 7,
            clients: 2,
        };
        let json = serde_json::to_value(&live).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "a1b2c3d4", "url": "http://127.0.0.1:3000", "port": 3000,
                "started_at": 7, "clients": 2})
        );
        assert_eq!(serde_json::from_value::<LiveInstance>(json).unwrap(), live);
    }

    #[test]
    fn loopback_aliases_are_one_instance() {
        assert!(same_instance(
            "http://localhost:3000",
            "http://127.0.0.1:3000/"
        ));
        assert!(same_instance("http://[::1]:3000", "http://localhost:3000"));
        assert!(!same_instance(
            "http://localhost:3000",
            "http://127.0.0.1:3001"
        ));
        assert!(!same_instance(
            "http://10.0.0.5:3000",
            "http://localhost:3000"
        ));
        assert!(same_instance(
            "http://gridcast.example:3000",
            "http://gridcast.example:3000"
        ));
    }
}
