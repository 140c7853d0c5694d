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
//! The parts, each in its file: [`record`] (a broadcast and its history encoding), [`live`] (the
//! cursor and local delivery), [`recent`] (ids delivered lately), [`counters`]. This file only
//! holds them together; none of them depends on it.

mod attach;
mod counters;
mod live;
mod outbox;
mod reader;
mod recent;
mod record;

use std::{sync::Arc, time::Duration};

use gridcast_shared::{
    Delivery, RedisLink,
    recovery::{Offset, Recovery},
};
use socketioxide::{extract::SocketRef, socket::Sid};

pub(crate) use attach::Attaching;
pub(crate) use counters::HubCounters;
pub(crate) use record::{Payload, Ready, Target};

use crate::{
    drops::Drops,
    redis::{
        adapter::{ClusterAdapter, Io},
        history::History,
        link::{LinkDriver, LinkError},
    },
};
use live::Live;
use outbox::Outbox;

/// The delivery core of one instance.
#[derive(Debug)]
pub(crate) struct Hub {
    history: History,
    link: LinkDriver,
    publish_timeout: Duration,
    live: Arc<Live>,
    outbox: Arc<Outbox>,
}

impl Hub {
    /// The hub of instance `own`, over `history` and `link`, failing appends after
    /// `publish_timeout` and queueing at most `outbox` broadcasts while Redis is away; packets
    /// dropped for full client buffers are counted in `drops`.
    pub(crate) fn new(
        own: String,
        history: History,
        link: LinkDriver,
        outbox: usize,
        publish_timeout: Duration,
        drops: Arc<Drops>,
    ) -> Self {
        Self {
            history,
            link,
            publish_timeout,
            live: Arc::new(Live::new(own, drops)),
            outbox: Arc::new(Outbox::new(outbox)),
        }
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

    /// Starts live delivery on `io` from the newest history entry: spawns the reader (on
    /// `delivery`, the runtime of the Redis connections: see [`crate::runtime`]) and the outbox
    /// flusher.
    pub(crate) async fn start(
        &self,
        io: Io,
        delivery: &tokio::runtime::Handle,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, LinkError> {
        self.live.lock().await.at = self.history.last_id().await?;
        Ok(vec![
            delivery.spawn(reader::run(self.live.clone(), self.history.clone(), io)),
            tokio::spawn(outbox::run_flusher(
                self.outbox.clone(),
                self.history.clone(),
                self.link.clone(),
                self.live.own.clone(),
            )),
        ])
    }

    /// Sends `payload` to `target` through the history; when Redis cannot take it, delivers it
    /// to the sockets of `io` at once and queues it. Says how far it goes.
    pub(crate) async fn publish(&self, io: &Io, target: Target, payload: Payload) -> Delivery {
        let record = Ready::record(&target, &payload, &self.live.own);
        let queued = self.outbox.len() > 0;
        if !queued && self.link.state() == RedisLink::Up {
            let started = std::time::Instant::now();
            let appended = self.history.append(&record, self.publish_timeout).await;
            self.link
                .publish_latency()
                .observe(started.elapsed().as_secs_f64());
            match appended {
                // The reader delivers it, here too, with its offset.
                Ok(_) => return Delivery::Cluster,
                Err(e) => {
                    tracing::warn!(instance = %self.live.own, "history append failed, delivering here and queueing: {e}")
                }
            }
        }
        outbox::deliver_now_and_queue(&self.live, &self.outbox, io, record, target, payload).await
    }

    /// First step of a connect: see [`attach`].
    pub(crate) async fn begin(
        &self,
        socket: &SocketRef<ClusterAdapter>,
        rooms: Vec<String>,
    ) -> Attaching {
        attach::begin(&self.live, socket, rooms).await
    }

    /// Second step: what a client with `offset` (public id `id`, in `rooms`) missed, and how the
    /// recovery went.
    pub(crate) async fn plan(
        &self,
        attaching: &Attaching,
        offset: &Offset,
        id: &str,
        rooms: &[String],
    ) -> (Recovery, Vec<Ready>) {
        attach::plan(&self.live, &self.history, attaching, offset, id, rooms).await
    }

    /// Last step: sends `replay` and what was buffered meanwhile, and joins live delivery.
    pub(crate) async fn finish(
        &self,
        socket: &SocketRef<ClusterAdapter>,
        replay: Vec<Ready>,
        offset: Option<&Offset>,
        id: &str,
        rooms: impl Fn() -> Vec<String>,
    ) {
        attach::finish(&self.live, socket, replay, offset, id, rooms).await
    }

    /// Forgets an attaching socket that went away.
    pub(crate) async fn forget(&self, sid: Sid) {
        attach::forget(&self.live, sid).await
    }
}
