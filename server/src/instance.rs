//! One instance: its identity, its counters and its Redis link.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use gridcast_shared::{
    Health, HistoryHealth, InstanceInfo, InstanceList, ListSource, LiveInstance, MessageMeta,
    instance::UnsentCounts, presence::Member,
};
use socketioxide::SocketIo;

pub use crate::redis::ClusterAdapter;
use crate::{
    hub::Hub,
    now_ms,
    redis::{self, LinkDriver, Presence, Registry, Sessions},
};

/// The Socket.IO handle of an instance.
pub type Io = SocketIo<ClusterAdapter>;

/// Something the server meant to send to one client and could not (its buffer was full or it
/// was gone), counted by cause in `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsent {
    /// The `welcome` event at connect.
    Welcome,
    /// An ack, or an `error` event answering a request.
    Reply,
}

/// How an instance is set up, beside its identity and Redis parts.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster's key and channel prefix.
    pub prefix: String,
    /// The per-socket rate limit (`None`: off).
    pub rate: Option<gridcast_shared::limits::Rate>,
}

/// Heartbeats between two refreshes of the local clients' session TTLs.
const SESSION_TOUCH_EVERY: u64 = 30;

/// Shared state of one instance, handed to HTTP routes and Socket.IO handlers.
#[derive(Debug)]
pub struct Instance {
    /// Who this instance is.
    pub info: InstanceInfo,
    /// URLs listed by `GET /instances` when the registry cannot be read.
    pub instances: Vec<String>,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_at: u64,
    /// The per-socket rate limit (`None`: off).
    pub rate: Option<gridcast_shared::limits::Rate>,
    link: LinkDriver,
    registry: Registry,
    presence: Presence,
    hub: Arc<Hub>,
    sessions: Sessions,
    seq: AtomicU64,
    dropped: AtomicU64,
    relay_dropped: Arc<AtomicU64>,
    unsent: [AtomicU64; 2],
    local_only: AtomicU64,
    presence_batch: crate::socket::presence_batch::PresenceBatch,
}

impl Instance {
    /// A new instance with zeroed counters, registering under `settings.prefix`.
    pub fn new(
        info: InstanceInfo,
        instances: Vec<String>,
        link: LinkDriver,
        hub: Arc<Hub>,
        sessions: Sessions,
        settings: Settings,
    ) -> Self {
        let Settings { prefix, rate } = settings;
        let prefix = prefix.as_str();
        Self {
            hub,
            sessions,
            info,
            instances,
            started_at: now_ms(),
            rate,
            registry: link.registry(prefix),
            presence: link.presence(prefix),
            link,
            seq: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            relay_dropped: Arc::default(),
            unsent: Default::default(),
            local_only: AtomicU64::new(0),
            presence_batch: Default::default(),
        }
    }

    /// Presence changes waiting to be sent.
    pub fn presence_batch(&self) -> &crate::socket::presence_batch::PresenceBatch {
        &self.presence_batch
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
            offset: None,
        }
    }

    /// Broadcasts this instance originated so far: each is stamped once, with the next sequence
    /// number.
    pub fn broadcasts(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// Counts outgoing packets of broadcasts this instance originated, dropped because a
    /// client's buffer was full.
    pub fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a packet for one client that could not be sent, and why.
    pub fn count_unsent(&self, what: Unsent) {
        self.unsent[what as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counter of packets dropped while relaying broadcasts from other instances (fed by
    /// [`crate::drops::DropLayer`]).
    pub fn relay_dropped(&self) -> &Arc<AtomicU64> {
        &self.relay_dropped
    }

    /// Packets dropped for full client buffers so far: (of broadcasts this instance originated,
    /// of broadcasts relayed from other instances).
    pub fn dropped(&self) -> (u64, u64) {
        let hub = &self.hub.counters;
        (
            self.dropped.load(Ordering::Relaxed) + hub.dropped_origin.load(Ordering::Relaxed),
            self.relay_dropped.load(Ordering::Relaxed)
                + hub.dropped_relayed.load(Ordering::Relaxed),
        )
    }

    /// Counts a broadcast that only reached this instance.
    pub fn count_local_only(&self) {
        self.local_only.fetch_add(1, Ordering::Relaxed);
    }

    /// The delivery core: history, replay, outbox.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The session store.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The Redis link.
    pub fn link(&self) -> &LinkDriver {
        &self.link
    }

    /// The body of `GET /health`.
    pub fn health(&self, clients: usize) -> Health {
        let (origin, relayed) = self.dropped();
        let unsent = |what: Unsent| self.unsent[what as usize].load(Ordering::Relaxed);
        let hub = &self.hub.counters;
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Health {
            instance: self.info.clone(),
            redis: self.link.state(),
            clients,
            dropped_packets: origin + relayed,
            dropped_relayed: relayed,
            unsent: UnsentCounts {
                welcome: unsent(Unsent::Welcome),
                reply: unsent(Unsent::Reply),
                bad_registry_entries: self.registry.skipped(),
                bad_presence_members: self.presence.skipped(),
            },
            local_only_broadcasts: self.local_only.load(Ordering::Relaxed) + count(&hub.overflowed),
            history: HistoryHealth {
                outbox: self.hub.outbox_len(),
                queued: count(&hub.queued),
                outbox_overflowed: count(&hub.overflowed),
                replayed: count(&hub.replayed),
                unrecovered: count(&hub.unrecovered),
                duplicates_skipped: count(&hub.duplicates_skipped),
                attach_dropped: count(&hub.attach_dropped),
            },
        }
    }

    /// The cluster registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The cluster presence store.
    pub fn presence(&self) -> &Presence {
        &self.presence
    }

    /// Keeps this instance and its clients (as `members` lists them) in the registry and
    /// presence while it runs (one beat per [`HEARTBEAT`](redis::registry::HEARTBEAT)); logs when
    /// that starts failing and when it recovers.
    pub async fn heartbeat(
        self: Arc<Self>,
        io: Io,
        members: fn(&Io) -> Vec<Member>,
        sessions: fn(&Io) -> Vec<(String, String)>,
    ) {
        let mut tick = tokio::time::interval(redis::registry::HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        for beats in 0u64.. {
            tick.tick().await;
            let live = self.live(io.sockets().len());
            let beat = async {
                redis::beat(&self.registry, &self.presence, &live, || members(&io)).await?;
                self.hub.trim_history().await?;
                if beats % SESSION_TOUCH_EVERY == 0 {
                    self.sessions.touch(&sessions(&io)).await?;
                }
                Ok::<_, redis::LinkError>(())
            };
            match beat.await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(instance = %self.info.id, "registry heartbeat restored");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(instance = %self.info.id, "registry heartbeat failed: {e}");
                }
                Err(_) => {}
            }
        }
    }

    /// This instance as the registry shows it.
    pub fn live(&self, clients: usize) -> LiveInstance {
        LiveInstance {
            info: self.info.clone(),
            started_at: self.started_at,
            clients,
        }
    }

    /// The body of `GET /instances`: the live registry, or this instance's configuration when
    /// Redis cannot be read.
    pub async fn instance_list(&self, clients: usize) -> InstanceList {
        let (mut live, source) = match self.registry.live().await {
            Ok(live) => (live, ListSource::Registry),
            Err(e) => {
                tracing::debug!(instance = %self.info.id, "registry unreadable: {e}");
                let live = self
                    .instances
                    .iter()
                    .map(|url| LiveInstance {
                        info: InstanceInfo {
                            id: String::new(),
                            url: url.clone(),
                            port: 0,
                        },
                        started_at: 0,
                        clients: 0,
                    })
                    .collect();
                (live, ListSource::Config)
            }
        };
        // This instance is live by definition, even before its first heartbeat lands.
        match live.iter_mut().find(|l| l.info.url == self.info.url) {
            Some(me) => *me = self.live(clients),
            None => live.push(self.live(clients)),
        }
        live.sort_by(|a, b| a.info.url.cmp(&b.info.url));
        InstanceList {
            this: self.info.clone(),
            instances: live.iter().map(|l| l.info.url.clone()).collect(),
            live,
            source,
        }
    }
}
