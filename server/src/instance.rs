//! One instance: its identity, its counters and its Redis link.

use std::sync::atomic::{AtomicU64, Ordering};

use gridcast_shared::{Health, InstanceInfo, InstanceList, MessageMeta};
use socketioxide::{SocketIo, adapter::Emitter};
use socketioxide_redis::CustomRedisAdapter;

use crate::redis::LinkDriver;

/// The socketioxide adapter every instance uses: socketioxide-redis over [`LinkDriver`].
pub type ClusterAdapter = CustomRedisAdapter<Emitter, LinkDriver>;

/// The Socket.IO handle of an instance.
pub type Io = SocketIo<ClusterAdapter>;

/// Shared state of one instance, handed to HTTP routes and Socket.IO handlers.
#[derive(Debug)]
pub struct Instance {
    /// Who this instance is.
    pub info: InstanceInfo,
    /// URLs listed by `GET /instances`.
    pub instances: Vec<String>,
    link: LinkDriver,
    seq: AtomicU64,
    dropped: AtomicU64,
    local_only: AtomicU64,
}

impl Instance {
    /// A new instance with zeroed counters.
    pub fn new(info: InstanceInfo, instances: Vec<String>, link: LinkDriver) -> Self {
        Self {
            info,
            instances,
            link,
            seq: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            local_only: AtomicU64::new(0),
        }
    }

    /// Provenance for a message this instance just received from `sender`.
    pub fn stamp(&self, sender: &str, received_at: u64) -> MessageMeta {
        let n = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        MessageMeta {
            id: format!("{}-{n}", self.info.id),
            origin: self.info.id.clone(),
            origin_url: self.info.url.clone(),
            sender: sender.to_owned(),
            received_at,
        }
    }

    /// Counts outgoing packets dropped because a client's buffer was full.
    pub fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a broadcast that only reached this instance.
    pub fn count_local_only(&self) {
        self.local_only.fetch_add(1, Ordering::Relaxed);
    }

    /// The Redis link.
    pub fn link(&self) -> &LinkDriver {
        &self.link
    }

    /// The body of `GET /health`.
    pub fn health(&self, clients: usize) -> Health {
        Health {
            instance: self.info.clone(),
            redis: self.link.state(),
            clients,
            dropped_packets: self.dropped.load(Ordering::Relaxed),
            local_only_broadcasts: self.local_only.load(Ordering::Relaxed),
        }
    }

    /// The body of `GET /instances`.
    pub fn instance_list(&self) -> InstanceList {
        InstanceList {
            this: self.info.clone(),
            instances: self.instances.clone(),
        }
    }
}
