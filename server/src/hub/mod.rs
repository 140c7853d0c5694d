//! Broadcasts a client can miss (`message`, `room_message`, `direct`): written to the cluster's
//! history, delivered from it in one order on every instance, replayed to clients that come back,
//! and kept in an outbox while Redis is away.
//!
//! **Transport.** A handler appends the broadcast to the history stream
//! ([`History`]); every instance's reader ([`reader`]) reads the stream in order and delivers each
//! entry to its own sockets, with the entry id as the message's offset. So every client of the
//! cluster gets broadcasts in the same order, and "everything up to offset X" means the same on
//! every instance, which is what makes replay exact.
//!
//! **Attaching** ([`attach`]). A socket that connects is *attaching* until its `welcome` and its
//! replay are sent: live deliveries skip it and are buffered for it instead, so no entry is missed
//! or sent twice between replay and live.
//!
//! **Outage** ([`outbox`]). When Redis cannot take a broadcast (known down, or the append fails),
//! the origin delivers it to its own sockets at once and queues it in its outbox; the flusher
//! writes the outbox to the history when Redis is back, other instances deliver it then, and the
//! origin's reader skips it.
//!
//! **Failover** ([`failover`], Sentinel only). The promoted replica may lack the old master's last
//! entries: the instance writes its own again, and its reader checks where it stands.
//!
//! The parts, each in its file: [`record`] (a broadcast and its history encoding), [`live`] (the
//! cursor and local delivery), [`lineup`] (the order broadcasts took their place in, which the
//! outbox keeps), [`recent`] (ids delivered lately), [`pace`] (sending a socket more
//! than its buffer holds), [`slots`] (replays at once), [`counters`]. This file only holds them
//! together; none of them depends on it.

mod attach;
mod counters;
mod failover;
mod lineup;
mod live;
mod outbox;
mod pace;
mod reader;
mod recent;
mod record;
mod slots;

use std::{sync::Arc, time::Duration};

use gridcast_shared::{
    Delivery, RedisLink, Welcome,
    recovery::{Offset, Recovery, StreamId},
};
use socketioxide::{extract::SocketRef, socket::Sid};

pub(crate) use attach::{Attached, Attaching};
pub(crate) use counters::HubCounters;
pub(crate) use pace::CLIENT_BUFFER;
pub(crate) use record::{Payload, Target};

use crate::{
    drops::Drops,
    redis::{
        adapter::{ClusterAdapter, Io},
        history::History,
        link::{LinkDriver, LinkError},
    },
    warnings::Warnings,
};
use lineup::Lineup;
use live::Live;
use outbox::Outbox;
use record::Ready;
use slots::{Budget, Slots};

/// The delivery core of one instance.
#[derive(Debug)]
pub(crate) struct Hub {
    history: History,
    link: LinkDriver,
    publish_timeout: Duration,
    live: Arc<Live>,
    outbox: Arc<Outbox>,
    lineup: Lineup,
    slots: Slots,
    budget: Budget,
    warnings: Arc<Warnings>,
}

impl Hub {
    /// The hub of instance `own`, over `history` and `link`, within `limits`; packets dropped for
    /// full client buffers are counted in `drops`, repeated warnings summarised by `warnings`.
    pub(crate) fn new(
        own: String,
        history: History,
        link: LinkDriver,
        limits: HubLimits,
        drops: Arc<Drops>,
        warnings: Arc<Warnings>,
    ) -> Self {
        Self {
            history,
            link,
            publish_timeout: limits.publish_timeout,
            live: Arc::new(Live::new(own, drops)),
            outbox: Arc::new(Outbox::new(limits.outbox)),
            lineup: Lineup::default(),
            slots: Slots::new(limits.replays),
            budget: Budget::new(limits.replay_rate),
            warnings,
        }
    }

    /// Where live delivery stands in the history: a socket that joins a room now gets, on a
    /// replay, that room's messages after this entry only.
    pub(crate) async fn position(&self) -> StreamId {
        self.live.lock().await.at
    }

    /// Whether a replay from `offset` can be complete: the history still holds the entry it
    /// names (or it is the very start). An offset ahead of this instance's reader counts as held
    /// if the history has it (the replay waits for the reader).
    pub(crate) async fn offset_known(&self, offset: &Offset) -> Result<bool, LinkError> {
        if offset.at == StreamId::ZERO {
            return Ok(true);
        }
        self.history.contains(offset.at).await
    }

    /// Replays running now.
    pub(crate) fn replays_active(&self) -> u64 {
        self.slots.active()
    }

    /// What the hub counted.
    pub(crate) fn counters(&self) -> &HubCounters {
        &self.live.counters
    }

    /// Drops history entries older than the configured age (called by the heartbeat).
    pub(crate) async fn trim_history(&self) -> Result<(), LinkError> {
        self.history.trim().await
    }

    /// Broadcasts waiting in the outbox.
    pub(crate) fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Broadcasts whose append got no answer but was written, found so by the outbox (and not
    /// written again), since start.
    pub(crate) fn outbox_landed(&self) -> u64 {
        self.outbox.landed()
    }

    /// Writes what the outbox holds to the history, for up to `limit` (when stopping, after the
    /// flusher stopped); how many broadcasts are left.
    pub(crate) async fn flush_outbox(&self, limit: Duration) -> usize {
        let flushing = outbox::flush(&self.outbox, &self.history, &self.link, &self.live.own);
        let _ = tokio::time::timeout(limit, flushing).await;
        self.outbox.len()
    }

    /// Starts live delivery on `io` from the newest history entry: spawns the reader (on
    /// `delivery`, the runtime of the Redis connections: see [`crate::runtime`]), its deliverer
    /// (here, on the main runtime) and the outbox flusher.
    pub(crate) async fn start(
        &self,
        io: Io,
        delivery: &tokio::runtime::Handle,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, LinkError> {
        self.live.lock().await.at = self.history.last_id().await?;
        // One batch at a time: the reader waits for each to be delivered.
        let (batches, read) = tokio::sync::mpsc::channel(1);
        let mut tasks = vec![
            delivery.spawn(reader::run(
                self.live.clone(),
                self.history.clone(),
                batches,
            )),
            // On the main runtime, where the sockets' writers run.
            tokio::spawn(reader::deliver(self.live.clone(), io, read)),
            tokio::spawn(outbox::run_flusher(
                self.outbox.clone(),
                self.history.clone(),
                self.link.clone(),
                self.live.own.clone(),
            )),
        ];
        if let Some(moves) = self.history.master_moves() {
            let own = self.live.own.clone();
            tasks.push(tokio::spawn(failover::rewrite_lost(
                self.history.clone(),
                moves,
                own,
            )));
        }
        Ok(tasks)
    }

    /// Sends `payload` to `target` through the history; when Redis cannot take it, delivers it
    /// to the sockets of `io` at once and queues it. Says how far it goes, and its offset when
    /// the history took it at once.
    ///
    /// `place` (e.g. the sender's turn) is dropped once the broadcast has its place in the order:
    /// once its append is on the link's connection (Redis takes a connection's commands in
    /// order), or once it is delivered here and queued in the outbox. A broadcast bound for the
    /// outbox (Redis known away, or its append failed) goes there only after every broadcast
    /// published here before it has settled ([`lineup`]), so the outbox keeps the order too.
    pub(crate) async fn publish<P>(
        &self,
        io: &Io,
        target: Target,
        payload: Payload,
        place: P,
    ) -> Published {
        let record = Ready::record(&target, &payload, &self.live.own);
        let ticket = self.lineup.take();
        let queued = self.outbox.len() > 0;
        let mut place = Some(place);
        let mut unsure_after = None;
        if !queued && self.link.state() == RedisLink::Up {
            let seen = self.history.seen();
            let started = std::time::Instant::now();
            let appended = self
                .history
                .append(&record, self.publish_timeout, place.take())
                .await;
            self.link
                .publish_latency()
                .observe(started.elapsed().as_secs_f64());
            match appended {
                // The reader delivers it, here too, with its offset.
                Ok(at) => {
                    self.live.appended(at);
                    return Published {
                        delivery: Delivery::Cluster,
                        offset: Some(at),
                    };
                }
                Err(e) => {
                    // Not sent while the link is down; otherwise it may have been written.
                    unsure_after = (!matches!(e, LinkError::Down)).then_some(seen);
                    self.warnings
                        .warn("history append failed, delivered here and queued", &e)
                }
            }
        }
        ticket.front().await;
        let parts = (&*self.live, &*self.outbox, &*self.warnings);
        let queued = (record, unsure_after);
        let delivery = outbox::deliver_now_and_queue(parts, io, queued, target, payload).await;
        drop(ticket);
        drop(place);
        Published {
            delivery,
            offset: None,
        }
    }

    /// First step of a connect (in the connect middleware): see [`attach`].
    pub(crate) async fn begin(
        &self,
        socket: &SocketRef<ClusterAdapter>,
        rooms: Vec<String>,
    ) -> Attaching {
        attach::begin(&self.live, socket, rooms).await
    }

    /// Last step: replays what the client with public id `id` (of `user`, in `rooms`) missed since
    /// `offset`, sends what was buffered meanwhile, then the `welcome` that `welcome` makes from
    /// the outcome, and joins live delivery. See [`attach`].
    pub(crate) async fn attach(
        &self,
        socket: &SocketRef<ClusterAdapter>,
        attaching: Attaching,
        offset: Option<&Offset>,
        (id, user): (&str, Option<&str>),
        rooms: impl Fn() -> Vec<(String, StreamId)>,
        welcome: impl Fn(Option<Recovery>) -> Welcome,
    ) -> Attached {
        // This instance's unsure outbox broadcasts the offset's mark says the client has.
        let had = match offset.and_then(|o| o.mark.as_ref()) {
            Some(mark) if mark.instance == self.live.own => {
                self.outbox.delivered_unsure(mark.count)
            }
            _ => Vec::new(),
        };
        let parts = attach::Parts {
            live: &self.live,
            history: &self.history,
            slots: &self.slots,
            budget: &self.budget,
            had,
        };
        let client = attach::Client {
            socket,
            offset,
            id,
            user,
            rooms,
        };
        attach::attach(parts, client, attaching, welcome).await
    }

    /// Forgets an attaching socket that went away.
    pub(crate) async fn forget(&self, sid: Sid) {
        attach::forget(&self.live, sid).await;
    }
}

/// How far a broadcast went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Published {
    pub(crate) delivery: Delivery,
    /// Its entry in the history, when Redis took it at once (not while it waits in the outbox).
    pub(crate) offset: Option<StreamId>,
}

/// The hub's limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HubLimits {
    /// How long an append may take before the broadcast goes to the outbox.
    pub(crate) publish_timeout: Duration,
    /// Broadcasts the outbox holds at most.
    pub(crate) outbox: usize,
    /// Replays running at once at most.
    pub(crate) replays: usize,
    /// Bytes per second all replays may send together.
    pub(crate) replay_rate: u64,
}
