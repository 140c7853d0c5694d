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
    /// Broadcasts that reached only this instance because Redis was unreachable, since start.
    pub local_only_broadcasts: u64,
}

/// Body of `GET /instances`: the instances a UI can switch between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceList {
    /// The instance answering.
    pub this: InstanceInfo,
    /// Base URLs of every instance of the cluster, this one included, in a stable order.
    pub instances: Vec<String>,
}
