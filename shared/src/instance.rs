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

/// State of an instance's link to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisLink {
    /// Connected: broadcasts reach other instances.
    Up,
    /// Lost; the instance keeps serving its own clients and reconnects in the background.
    Reconnecting,
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
    /// Broadcasts that reached only this instance because Redis was unreachable, since start.
    pub local_only_broadcasts: u64,
}

/// An instance as the cluster registry sees it (refreshed every second through Redis).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveInstance {
    /// Who it is.
    #[serde(flatten)]
    pub info: InstanceInfo,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_at: u64,
    /// Socket.IO clients connected to it at its last heartbeat.
    pub clients: usize,
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
