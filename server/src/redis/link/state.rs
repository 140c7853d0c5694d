//! The link's shared state: the connections, whether Redis counts as up, the adapter's channel
//! handlers, and the commands every other module runs through it.
//!
//! Invariant: a command is never sent while the link is known to be down, and never waits longer
//! than its timeout, so no caller (a broadcast, an HTTP request, a handler) stalls on a dead Redis.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use gridcast_shared::{RedisLink, message::RedisLinkStatus};
use prometheus_client::metrics::histogram::Histogram;
use redis::{Cmd, FromRedisValue, Pipeline, PushInfo};
use socketioxide_redis::drivers::ChanItem;
use tokio::sync::{mpsc, watch};

use super::{
    conn::{COMMAND_TIMEOUT, Conn, LinkError, Opens, Target, query, query_placed, within},
    sentinel::Sentinel,
    slots::Fixed,
};
use crate::{clock::now_ms, error::Error};

pub(super) type Handlers = HashMap<String, mpsc::Sender<ChanItem>>;

/// What clones of one link share.
pub(super) struct Shared {
    pub(super) target: Target,
    /// The resolver of a Sentinel target, which moves the connections to a new master.
    pub(super) sentinel: Option<Arc<Sentinel>>,
    /// One Redis at a fixed address: how the link's connections to it are opened and replaced.
    pub(super) fixed: Option<Fixed>,
    pub(super) conn: Conn,
    /// The connection the health probe decides the link's state on, and nothing else uses.
    /// Commands share `conn` in one queue: a mass disconnect's thousands of session and presence
    /// writes put a ping sent there behind all of them, and it waited over its timeout while
    /// Redis answered every command in turn (all 8 instances of a 100,000-client run declared
    /// Redis lost as the clients left). Redis serves its connections in turn, so a ping here is
    /// answered at once while Redis works through the other queue.
    pub(super) probe: Conn,
    /// Probes that found the link slow but answering: a ping on `conn` slower than
    /// [`COMMAND_TIMEOUT`] while `probe` answered in time (a deep queue of commands), or a ping
    /// that timed out while other commands of the link got their answers (a busy instance).
    pub(super) busy_probes: AtomicU64,
    /// When a command of the link last got an answer (see [`Answered`]).
    pub(super) answered: Answered,
    /// How many times the connections were opened again and swapped in (see `Shared::renew`):
    /// a read already sent on a replaced connection would wait out its timeout there.
    pub(super) renewals: watch::Sender<u64>,
    /// Set when a part of the link saw a connection of its own time out while the link was up
    /// (the history's reader): the probe cannot see those connections, so the watch opens every
    /// connection again ([`LinkDriver::suspect`]).
    pub(super) suspect: AtomicBool,
    /// Whether a renewal is under way (one at a time).
    pub(super) renewing: AtomicBool,
    /// How many times the connections were swapped (renewed, or moved to another master),
    /// counted just before each swap, under this lock, which also guards marking the link up
    /// after a repair of the subscriptions ([`Shared::up_unless_swapped`]).
    pub(super) swaps: Mutex<u64>,
    /// Keys whose nodes must answer for the link to be up (on a cluster; one Redis is pinged).
    pub(super) probe_keys: Vec<String>,
    /// The connection holding the subscriptions, apart from the one commands use: Redis applies
    /// its pub/sub output-buffer limit to a subscribed connection, and large replies (a replay's
    /// pages, presence pages) sharing it could get it closed. On a cluster a failover can leave it
    /// stuck or unsubscribed, and then it is replaced.
    pub(super) subscriber: Mutex<Conn>,
    /// Where pushes go (for a replacement subscriber connection).
    pub(super) push: mpsc::UnboundedSender<PushInfo>,
    /// Whether the link counts as up; changed only through [`Shared::set_up`].
    pub(super) up: AtomicBool,
    /// The link's state and since when, told to whoever watches ([`LinkDriver::watch_status`]).
    pub(super) status: watch::Sender<RedisLinkStatus>,
    pub(super) handlers: RwLock<Handlers>,
    pub(super) publish_timeout: Duration,
    pub(super) publish_latency: Histogram,
    pub(super) tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// When a command of the link last got an answer (Redis' or an error it sent), for telling a
/// busy link from a lost one: a mass disconnect's writes kept the instances' threads and Redis so
/// busy that even a ping on an idle connection waited over a second, while thousands of commands
/// a second were being answered.
#[derive(Debug)]
pub(super) struct Answered {
    base: Instant,
    /// Microseconds after `base`.
    last: AtomicU64,
}

impl Default for Answered {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            last: AtomicU64::new(0),
        }
    }
}

impl Answered {
    /// Notes that a command got an answer now, when `result` is one.
    fn note<T>(&self, result: &Result<T, LinkError>) {
        let answered = match result {
            Ok(_) => true,
            Err(LinkError::Redis(e)) => e.kind() != redis::ErrorKind::Io && !e.is_timeout(),
            Err(LinkError::Down | LinkError::Timeout(_) | LinkError::Reply(_)) => false,
        };
        if answered {
            let now = self.base.elapsed().as_micros() as u64;
            self.last.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// Whether a command got an answer after `since`.
    pub(super) fn since(&self, since: Instant) -> bool {
        let since = since.saturating_duration_since(self.base).as_micros() as u64;
        self.last.load(Ordering::Relaxed) > since
    }
}

impl Shared {
    /// Where the link opens its connections.
    pub(super) fn opens(&self) -> Opens<'_> {
        Opens {
            target: &self.target,
            fixed: self.fixed.as_ref(),
            sentinel: self.sentinel.as_deref(),
        }
    }

    /// Opens every connection to one Redis again and swaps them in, all or none, marking the
    /// link down first (the new subscriber has no subscriptions until the watch repairs them);
    /// returns how many, or `None` on a cluster, whose connections redis-rs replaces itself.
    pub(super) async fn renew(&self) -> Option<redis::RedisResult<usize>> {
        let mark_down = || self.before_swap();
        let swapped = match (&self.fixed, &self.sentinel) {
            (Some(fixed), _) => fixed.renew(mark_down).await,
            (None, Some(sentinel)) => sentinel.renew(mark_down).await,
            (None, None) => return None,
        };
        if let Ok(1..) = swapped {
            self.renewals.send_modify(|n| *n += 1);
        }
        Some(swapped)
    }

    /// Marks the link down just before its connections are swapped: the new subscriber has no
    /// subscriptions until the watch repairs them.
    pub(super) fn before_swap(&self) {
        let mut swaps = self.swaps.lock().unwrap_or_else(|p| p.into_inner());
        *swaps += 1;
        self.set_up(false);
    }

    /// How many swaps so far (see [`Shared::up_unless_swapped`]).
    pub(super) fn swaps(&self) -> u64 {
        *self.swaps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the link up after the subscriptions were repaired, unless the connections were
    /// swapped since `swaps` (read before the repair), which then went to the old subscriber:
    /// the link stays down, and the next probe repairs the new one. Returns whether it did.
    pub(super) fn up_unless_swapped(&self, swaps: u64) -> bool {
        let now = self.swaps.lock().unwrap_or_else(|p| p.into_inner());
        if *now != swaps {
            return false;
        }
        self.set_up(true);
        true
    }

    /// Marks the link up or down; returns whether that changed it. Watchers of the status see
    /// every change, stamped with the time it happened: the atomic is read under the watch's
    /// lock, so concurrent flips (the health watch, the push router) leave the two agreeing.
    pub(super) fn set_up(&self, up: bool) -> bool {
        let changed = self.up.swap(up, Ordering::SeqCst) != up;
        if changed {
            self.status.send_if_modified(|status| {
                let state = link_state(self.up.load(Ordering::SeqCst));
                let modified = status.state != state;
                if modified {
                    *status = RedisLinkStatus {
                        state,
                        since: now_ms(),
                    };
                }
                modified
            });
        }
        changed
    }
}

fn link_state(up: bool) -> RedisLink {
    if up {
        RedisLink::Up
    } else {
        RedisLink::Reconnecting
    }
}

/// The status of a link that has just connected.
pub(super) fn connected_status() -> watch::Sender<RedisLinkStatus> {
    watch::Sender::new(RedisLinkStatus {
        state: RedisLink::Up,
        since: now_ms(),
    })
}

/// socketioxide-redis driver, and the connection the registry, presence, sessions and history
/// commands use.
#[derive(Clone)]
pub(crate) struct LinkDriver(pub(super) Arc<Shared>);

impl fmt::Debug for LinkDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkDriver")
            .field("target", &self.0.target)
            .field("publish_timeout", &self.0.publish_timeout)
            .finish()
    }
}

impl LinkDriver {
    /// Whether the connection to Redis is up right now.
    pub(crate) fn state(&self) -> RedisLink {
        link_state(self.0.up.load(Ordering::SeqCst))
    }

    /// The link's state and since when it is in it.
    pub(crate) fn status(&self) -> RedisLinkStatus {
        *self.0.status.borrow()
    }

    /// A receiver that sees every change of [`LinkDriver::status`] (the link going down or coming
    /// back), for telling clients.
    pub(crate) fn watch_status(&self) -> watch::Receiver<RedisLinkStatus> {
        self.0.status.subscribe()
    }

    /// Where the link goes.
    pub(crate) fn target(&self) -> &Target {
        &self.0.target
    }

    /// Runs `cmd`: at once an error while the link is down, after [`COMMAND_TIMEOUT`] without an
    /// answer otherwise, so an HTTP request or a handler never waits on a dead Redis.
    pub(crate) async fn command<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, LinkError> {
        self.command_within(cmd, COMMAND_TIMEOUT).await
    }

    /// [`LinkDriver::command`] with another timeout.
    pub(crate) async fn command_within<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        timeout: Duration,
    ) -> Result<T, LinkError> {
        if !self.0.up.load(Ordering::SeqCst) {
            return Err(LinkError::Down);
        }
        let result = query(&self.0.conn, cmd, timeout).await;
        self.0.answered.note(&result);
        result
    }

    /// [`LinkDriver::command_within`], dropping `place` once `cmd` is queued on the link's
    /// connection behind every command queued before it: Redis answers them in that order.
    pub(crate) async fn command_placed<T: FromRedisValue, P>(
        &self,
        cmd: &Cmd,
        timeout: Duration,
        place: P,
    ) -> Result<T, LinkError> {
        if !self.0.up.load(Ordering::SeqCst) {
            return Err(LinkError::Down);
        }
        let result = query_placed(&self.0.conn, cmd, timeout, place).await;
        self.0.answered.note(&result);
        result
    }

    /// Runs `cmd` on `conn`, a connection of another part (the history's bulk reads), like
    /// [`LinkDriver::command`]: at once an error while the link is down.
    pub(crate) async fn command_on<T: FromRedisValue>(
        &self,
        conn: &Conn,
        cmd: &Cmd,
    ) -> Result<T, LinkError> {
        if !self.0.up.load(Ordering::SeqCst) {
            return Err(LinkError::Down);
        }
        let result = query(conn, cmd, COMMAND_TIMEOUT).await;
        self.0.answered.note(&result);
        result
    }

    /// Runs `pipe` like [`LinkDriver::command`] runs a command.
    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
    ) -> Result<T, LinkError> {
        if !self.0.up.load(Ordering::SeqCst) {
            return Err(LinkError::Down);
        }
        let mut conn = self.0.conn.clone();
        let result = within(COMMAND_TIMEOUT, pipe.query_async(&mut conn)).await;
        self.0.answered.note(&result);
        result
    }

    /// Opens another connection to the same Redis, without pub/sub, whose answers may take up to
    /// `response_timeout` (for blocking reads, which would hold up everything else on a shared
    /// connection).
    pub(crate) async fn open_another(&self, response_timeout: Duration) -> Result<Conn, Error> {
        // To one Redis, one the link moves or replaces with its others.
        self.0.opens().open(response_timeout, None).await
    }

    /// The number of times the link's connections were opened again and swapped in, changed at
    /// each: a blocking read sent before a swap went out on the old connection.
    pub(crate) fn renewals(&self) -> watch::Receiver<u64> {
        self.0.renewals.subscribe()
    }

    /// Says that a connection of the link's (one of [`LinkDriver::open_another`]'s) timed out
    /// while the link was up: the health probe cannot see those, so the watch opens every
    /// connection again soon.
    pub(crate) fn suspect(&self) {
        self.0.suspect.store(true, Ordering::Relaxed);
    }

    /// With Sentinel, the number of times the link moved to another master, changed at each
    /// move; `None` for other targets, whose server never changes under the link.
    pub(crate) fn master_moves(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.0.sentinel.as_ref().map(|s| s.moves())
    }

    /// How many health probes found the command connection slow while Redis answered the probe
    /// connection in time (see `Shared::probe`).
    pub(crate) fn busy_probes(&self) -> u64 {
        self.0.busy_probes.load(Ordering::Relaxed)
    }

    /// How long publishes to Redis take (seconds), failures included.
    pub(crate) fn publish_latency(&self) -> &Histogram {
        &self.0.publish_latency
    }

    /// Stops pinging and routing (used on shutdown); the connections close when the last clone
    /// is dropped.
    pub(crate) async fn quit(&self) {
        for task in self
            .0
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.0.set_up(false);
    }
}
