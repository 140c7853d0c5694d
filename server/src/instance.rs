//! One instance: its identity, the parts its handlers use (hub, Redis stores, presence batch),
//! its counters, and the heartbeat that keeps it listed.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use gridcast_shared::{
    Health, HistoryHealth, InstanceInfo, InstanceList, ListSource, LiveInstance, MessageMeta,
    instance::UnsentCounts, limits::Rate,
};

use crate::{
    admin::feed::AdminFeed,
    auth::Auth,
    clock::now_ms,
    drops::Drops,
    hub::Hub,
    limit::{budget::Budgets, report::Refusals},
    presence_batch::PresenceBatch,
    redis::{
        adapter::Io,
        link::{LinkDriver, LinkError},
        presence::Presence,
        registry::{HEARTBEAT, Registry},
        sessions::Sessions,
    },
    roster::{self, FULL_EVERY, Roster},
    warnings::Warnings,
};

/// Something the server meant to send to one client and could not (its buffer was full or it
/// was gone), counted by cause in `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsent {
    /// The `welcome` event at connect.
    Welcome,
    /// An ack, or an `error` event answering a request.
    Reply,
}

/// How an instance is set up, beside its identity and Redis parts.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The cluster's key and channel prefix.
    pub(crate) prefix: String,
    /// The per-client rate limit (`None`: off).
    pub(crate) rate: Option<Rate>,
    /// The per-address rate limit (`None`: off).
    pub(crate) address_rate: Option<Rate>,
    /// How long a session outlives its client.
    pub(crate) session_ttl: Duration,
    /// How clients are authenticated.
    pub(crate) auth: Arc<Auth>,
}

/// Heartbeats between two refreshes of the local clients' session TTLs.
const SESSION_TOUCH_EVERY: u64 = 30;

/// One instance, as its HTTP routes and Socket.IO handlers see it.
#[derive(Debug)]
pub struct Instance {
    /// Who this instance is.
    pub info: InstanceInfo,
    /// URLs listed by `GET /instances` when the registry cannot be read.
    instances: Vec<String>,
    /// When it started, in milliseconds since the Unix epoch.
    started_at: u64,
    /// The per-client rate limit (`None`: off), as `welcome` tells clients.
    pub(crate) rate: Option<Rate>,
    /// The request budgets of clients and addresses.
    budgets: Budgets,
    /// What the limits refused, for the summary log line.
    refusals: Arc<Refusals>,
    link: LinkDriver,
    registry: Registry,
    presence: Presence,
    hub: Hub,
    sessions: Sessions,
    /// Broadcasts stamped so far (the last message id's number).
    seq: AtomicU64,
    drops: Arc<Drops>,
    unsent: [AtomicU64; 2],
    presence_batch: Arc<PresenceBatch>,
    roster: Roster,
    warnings: Arc<Warnings>,
    auth: Arc<Auth>,
    admin: AdminFeed,
}

impl Instance {
    /// A new instance with zeroed counters, registering under `settings.prefix`; packets dropped
    /// for full client buffers are counted in `drops`, repeated warnings summarised by
    /// `warnings` (both shared with `hub`).
    pub(crate) fn new(
        info: InstanceInfo,
        instances: Vec<String>,
        link: LinkDriver,
        hub: Hub,
        (drops, warnings): (Arc<Drops>, Arc<Warnings>),
        settings: Settings,
    ) -> Self {
        let Settings {
            prefix,
            rate,
            address_rate,
            session_ttl,
            auth,
        } = settings;
        let registry = Registry::new(link.clone(), &prefix);
        Self {
            hub,
            sessions: Sessions::new(link.clone(), &prefix, session_ttl),
            presence: Presence::new(link.clone(), &prefix, registry.clone(), warnings.clone()),
            registry,
            info,
            instances,
            started_at: now_ms(),
            rate,
            budgets: Budgets::new(rate, address_rate),
            refusals: Arc::default(),
            link,
            seq: AtomicU64::new(0),
            drops,
            unsent: Default::default(),
            presence_batch: Arc::default(),
            roster: Roster::default(),
            warnings,
            auth,
            admin: AdminFeed::default(),
        }
    }

    /// How clients are authenticated.
    pub(crate) fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The members this instance has announced: what its presence hash should hold.
    pub(crate) fn roster(&self) -> &Roster {
        &self.roster
    }

    /// What the Admin UI hears of this instance's sockets.
    pub(crate) fn admin(&self) -> &AdminFeed {
        &self.admin
    }

    /// When it started, in milliseconds since the Unix epoch.
    pub(crate) fn started_at(&self) -> u64 {
        self.started_at
    }

    /// Warnings that can repeat per client or request, summarised per interval.
    /// What was dropped for clients that cannot keep up.
    pub(crate) fn drops(&self) -> &Drops {
        &self.drops
    }

    pub(crate) fn warnings(&self) -> &Arc<Warnings> {
        &self.warnings
    }

    /// The request budgets of clients and addresses.
    pub(crate) fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// What the limits refused since the last summary.
    pub(crate) fn refusals(&self) -> &Arc<Refusals> {
        &self.refusals
    }

    /// Presence changes waiting to be sent.
    pub(crate) fn presence_batch(&self) -> &Arc<PresenceBatch> {
        &self.presence_batch
    }

    /// Provenance for a message this instance just received from `sender`.
    pub(crate) fn stamp(&self, sender: &str, received_at: u64) -> MessageMeta {
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
    pub(crate) fn broadcasts(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// Counts a packet for one client that could not be sent, and why.
    pub(crate) fn count_unsent(&self, what: Unsent) {
        self.unsent[what as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Logs, once per `every` in which some were counted, the packets for one client that could
    /// not be sent (by cause), instead of a line each.
    pub(crate) async fn report_unsent(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = [0; 2];
        loop {
            tick.tick().await;
            let now = [Unsent::Welcome, Unsent::Reply]
                .map(|what| self.unsent[what as usize].load(Ordering::Relaxed));
            if now != last {
                tracing::warn!(
                    instance = %self.info.id,
                    welcome = now[0] - last[0],
                    reply = now[1] - last[1],
                    "packets for one client not sent in the last {every:?} (its buffer was full, \
                     or it was gone): `welcome`s and replies"
                );
                last = now;
            }
        }
    }

    /// The delivery core: history, replay, outbox.
    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub(crate) fn link(&self) -> &LinkDriver {
        &self.link
    }

    /// The body of `GET /health`, with `clients` connected.
    pub fn health(&self, clients: usize) -> Health {
        let (origin, relayed) = self.drops.totals();
        let unsent = |what: Unsent| self.unsent[what as usize].load(Ordering::Relaxed);
        let hub = self.hub.counters();
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Health {
            instance: self.info.clone(),
            redis: self.link.state(),
            clients,
            dropped_packets: origin + relayed,
            dropped_relayed: relayed,
            slow_clients_closed: self.drops.closed(),
            unsent: UnsentCounts {
                welcome: unsent(Unsent::Welcome),
                reply: unsent(Unsent::Reply),
                bad_registry_entries: self.registry.skipped(),
                bad_presence_members: self.presence.skipped(),
                bad_history_entries: count(&hub.unreadable_skipped),
            },
            local_only_broadcasts: self.presence_batch.local_only() + count(&hub.overflowed),
            history: HistoryHealth {
                outbox: self.hub.outbox_len(),
                queued: count(&hub.queued),
                outbox_overflowed: count(&hub.overflowed),
                replayed: count(&hub.replayed),
                unrecovered: count(&hub.unrecovered),
                duplicates_skipped: count(&hub.duplicates_skipped),
                landed_unanswered: self.hub.outbox_landed(),
                attach_dropped: count(&hub.attach_dropped),
                replay_stalled: count(&hub.replay_stalled),
                replays_queued: count(&hub.replays_queued),
                replays_active: self.hub.replays_active(),
            },
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn presence(&self) -> &Presence {
        &self.presence
    }

    /// Removes departed members from this instance's presence hash, in batches
    /// ([`roster::remove_departed`]); runs until aborted.
    pub(crate) async fn remove_departed(self: Arc<Self>) {
        roster::remove_departed(&self.roster, &self.presence, &self.info.id, &self.warnings).await
    }

    /// Keeps this instance and its clients in the registry and presence while it runs (one beat
    /// per [`HEARTBEAT`]): refreshes its entry, repairs its presence hash from the roster
    /// ([`roster::sync`]), and touches the sessions of `io`'s sockets (listed by `sessions`);
    /// logs when that starts failing and when it recovers.
    pub(crate) async fn heartbeat(
        self: Arc<Self>,
        io: Io,
        sessions: fn(&Io) -> Vec<(String, String)>,
    ) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        for beats in 0u64.. {
            tick.tick().await;
            let live = self.live(io.sockets().len());
            let beat = async {
                self.registry.beat(&live).await?;
                let repaired = roster::sync(
                    &self.roster,
                    &self.presence,
                    &self.info.id,
                    &self.presence_batch,
                    beats % FULL_EVERY == 0,
                )
                .await?;
                if repaired != roster::Repaired::default() {
                    tracing::debug!(instance = %self.info.id, ?repaired, "presence repaired");
                }
                self.hub.trim_history().await?;
                if beats % SESSION_TOUCH_EVERY == 0 {
                    self.sessions.touch(&sessions(&io)).await?;
                }
                Ok::<_, LinkError>(())
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
    pub(crate) fn live(&self, clients: usize) -> LiveInstance {
        LiveInstance {
            info: self.info.clone(),
            started_at: self.started_at,
            clients,
        }
    }

    /// The body of `GET /instances`: the live registry, or this instance's configuration when
    /// Redis cannot be read.
    pub(crate) async fn instance_list(&self, clients: usize) -> InstanceList {
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
