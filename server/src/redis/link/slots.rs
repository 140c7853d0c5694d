//! Connections the link can replace: each connection to one Redis (commands, the subscriber, the
//! probe, the history's reader and bulk connections) is a [`SlotConn`], a slot holding the current
//! `ConnectionManager`, and the link keeps every slot it opened ([`Slots`]) to swap them together.
//!
//! Two reasons to swap. With Sentinel, the master moved ([`super::sentinel`]): a
//! `ConnectionManager` reconnects to the address it was built with. And a connection that
//! silently stopped answering ([`Fixed::renew`], [`super::sentinel::Sentinel::renew`]): redis-rs
//! reconnects after a connection error, never after a response timeout, so a connection whose
//! peer vanished without a reset (a dropped NAT entry, a frozen proxy, a cable pulled) would time
//! out every command until the kernel gave up on it, ~15 minutes later. The health watch renews
//! the connections when it declares the link lost for want of an answer, and then has Redis close
//! the ones it replaced ([`Opened::swap_closing_old`]): commands sent on them and held on the way
//! (by a frozen proxy, or in a partition that heals) would otherwise still reach Redis after the
//! swap, an append among them written after the outbox had written it again (a review: 100
//! duplicates in the history).

use std::{
    sync::{
        Arc, Mutex, RwLock, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use redis::{
    Client, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, ProtocolVersion, RedisError, RedisFuture,
    RedisResult, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    io::tcp::TcpSettings,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long opening a connection (to a new master, or again to the same server) may take.
pub(super) const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

/// Commands in flight on one connection at once (sent and not answered, nor given up on); more
/// wait at the connection's gate, in the order they came.
pub(super) const IN_FLIGHT: usize = 1024;

/// The length of redis-rs' queue in front of a connection's writer: far above [`IN_FLIGHT`], so a
/// command let through the gate enters it on its first poll (the queue takes what its writer
/// has not written yet; commands timed out after they entered leave the gate at once and the
/// queue only once written). At 50, redis-rs' default, senders waiting for room were let in
/// in the order their tasks happened to run: one socket's messages reached the history out of
/// order once about 50 appends were pending on an instance.
pub(super) const QUEUE: usize = 65_536;

/// One connection of the link; clones share it, and [`Opened::swap`] swaps what is inside.
#[derive(Clone)]
pub(crate) struct SlotConn(Arc<Slot>);

struct Slot {
    manager: RwLock<ConnectionManager>,
    /// What it was opened with (its replacement gets the same).
    config: ConnectionManagerConfig,
    /// [`IN_FLIGHT`] permits: a command holds one from before it is queued until it ends.
    gate: Arc<Semaphore>,
    /// The connection's `CLIENT ID` when it was opened (0: unknown). A `ConnectionManager` that
    /// reconnected after an error has another one.
    id: AtomicU64,
}

/// `manager`'s `CLIENT ID`, or 0 when it does not say in time.
async fn client_id(manager: &ConnectionManager) -> u64 {
    let (mut manager, ask) = (manager.clone(), redis::cmd("CLIENT").arg("ID").clone());
    let asking = ask.query_async::<u64>(&mut manager);
    within(OPEN_TIMEOUT, asking, "asking the connection's id")
        .await
        .unwrap_or(0)
}

/// Every connection a link opened, to swap them together (dropped ones are pruned).
#[derive(Default)]
pub(super) struct Slots(Mutex<Vec<Weak<Slot>>>);

impl Slots {
    /// Opens a connection through `client`, with `config`, and keeps its slot.
    pub(super) async fn open(
        &self,
        client: Client,
        config: ConnectionManagerConfig,
    ) -> RedisResult<SlotConn> {
        let opening = ConnectionManager::new_with_config(client, config.clone());
        let manager = within(OPEN_TIMEOUT, opening, "opening a connection").await?;
        let id = client_id(&manager).await;
        let slot = Arc::new(Slot {
            manager: RwLock::new(manager),
            config,
            gate: Arc::new(Semaphore::new(IN_FLIGHT)),
            id: AtomicU64::new(id),
        });
        let mut slots = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|s| s.strong_count() > 0);
        slots.push(Arc::downgrade(&slot));
        Ok(SlotConn(slot))
    }

    /// Opens a connection through `client` for every slot, to swap them in with
    /// [`Opened::swap`]. All or none: when one cannot be opened within [`OPEN_TIMEOUT`], none is
    /// (the caller tries again later).
    pub(super) async fn open_all(&self, client: &Client) -> RedisResult<Opened> {
        let slots: Vec<Arc<Slot>> = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let opening = slots.iter().map(|slot| async {
            let manager = ConnectionManager::new_with_config(client.clone(), slot.config.clone());
            let manager = within(OPEN_TIMEOUT, manager, "opening a connection").await?;
            let id = client_id(&manager).await;
            Ok::<_, RedisError>((manager, id))
        });
        let opened = futures_util::future::try_join_all(opening).await?;
        let (managers, ids) = opened.into_iter().unzip();
        Ok(Opened {
            slots,
            managers,
            ids,
        })
    }
}

/// A new connection for every slot of a link, not swapped in yet.
pub(super) struct Opened {
    slots: Vec<Arc<Slot>>,
    managers: Vec<ConnectionManager>,
    /// The new connections' `CLIENT ID`s.
    ids: Vec<u64>,
}

impl Opened {
    /// Calls `before_swap`, then swaps the new connections in; returns how many. Commands
    /// already sent finish (or time out) on the connection they were sent on, which closes when
    /// the last of them is done.
    pub(super) fn swap(self, before_swap: impl FnOnce()) -> usize {
        self.swap_ids(before_swap).0.len()
    }

    /// Swaps like [`Opened::swap`]; the `CLIENT ID`s of the replaced connections, and a new one.
    fn swap_ids(self, before_swap: impl FnOnce()) -> (Vec<u64>, Option<ConnectionManager>) {
        before_swap();
        let first = self.managers.first().cloned();
        let mut old = Vec::with_capacity(self.slots.len());
        for ((slot, manager), id) in self.slots.iter().zip(self.managers).zip(self.ids) {
            *slot.manager.write().unwrap_or_else(|p| p.into_inner()) = manager;
            old.push(slot.id.swap(id, Ordering::Relaxed));
        }
        (old, first)
    }

    /// Swaps like [`Opened::swap`] (to the same server), then has Redis close the replaced
    /// connections (`CLIENT KILL ID`, on a new one), so nothing sent on them is served after
    /// this returns; returns how many were swapped. A kill that fails (an ACL without `CLIENT
    /// KILL`, a connection that reconnected by itself) is logged and passed over.
    pub(super) async fn swap_closing_old(self, before_swap: impl FnOnce()) -> usize {
        let (old, new) = self.swap_ids(before_swap);
        let Some(mut new) = new.filter(|_| old.iter().any(|id| *id != 0)) else {
            return old.len();
        };
        let mut kills = redis::pipe();
        for id in old.iter().filter(|id| **id != 0) {
            kills.cmd("CLIENT").arg("KILL").arg("ID").arg(id).ignore();
        }
        let killing = kills.query_async::<()>(&mut new);
        if let Err(e) = within(OPEN_TIMEOUT, killing, "closing the replaced connections").await {
            tracing::warn!("the replaced Redis connections could not be closed: {e}");
        }
        old.len()
    }
}

/// One Redis at a fixed address, and the link's connections to it.
pub(super) struct Fixed {
    client: Client,
    slots: Slots,
}

impl Fixed {
    /// The server at `url`, spoken to in RESP3 with TCP_NODELAY (nothing is opened yet).
    pub(super) fn new(url: &str) -> RedisResult<Self> {
        let info = url.into_connection_info()?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let tcp = TcpSettings::default().set_nodelay(true);
        let info = info.set_redis_settings(settings).set_tcp_settings(tcp);
        Ok(Self {
            client: Client::open(info)?,
            slots: Slots::default(),
        })
    }

    /// Opens a connection with `config`, replaced with the others by [`Fixed::renew`].
    pub(super) async fn open(&self, config: ConnectionManagerConfig) -> RedisResult<SlotConn> {
        self.slots.open(self.client.clone(), config).await
    }

    /// Opens every connection of the link again and swaps them in (all or none), calling
    /// `before_swap` first; returns how many.
    pub(super) async fn renew(&self, before_swap: impl FnOnce()) -> RedisResult<usize> {
        let opened = self.slots.open_all(&self.client).await?;
        Ok(opened.swap_closing_old(before_swap).await)
    }
}

/// `request`'s answer, or an I/O error after `timeout` saying `what` took too long.
pub(super) async fn within<T>(
    timeout: Duration,
    request: impl Future<Output = RedisResult<T>>,
    what: &'static str,
) -> RedisResult<T> {
    match tokio::time::timeout(timeout, request).await {
        Ok(answer) => answer,
        Err(_) => Err(RedisError::from((
            ErrorKind::Io,
            what,
            format!("no answer within {timeout:?}"),
        ))),
    }
}

impl SlotConn {
    fn manager(&self) -> ConnectionManager {
        self.0
            .manager
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A permit of the gate: waits while [`IN_FLIGHT`] commands are in flight.
    async fn through_gate(&self) -> OwnedSemaphorePermit {
        let gate = self.0.gate.clone();
        // Never closed.
        gate.acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("the gate is never closed"))
    }

    /// Runs `cmd`, dropping `place` once `cmd` is in the connection's queue, behind every
    /// command queued before (Redis answers one connection's commands in that order). The wait
    /// at the gate comes first, with `place` held: a caller that drops its place only here
    /// queues its commands in the order it made them.
    pub(super) async fn command_placed<P>(&self, cmd: &Cmd, place: P) -> RedisResult<Value> {
        let _permit = self.through_gate().await;
        let mut manager = self.manager();
        // With a permit, the queue has room: the first poll queues the command (unless redis-rs
        // is reconnecting this connection, which the link soon reports as down).
        after_first_poll(manager.req_packed_command(cmd), place).await
    }
}

/// Awaits `fut`, dropping `held` right after its first poll.
pub(super) async fn after_first_poll<F: Future + Unpin, H>(mut fut: F, held: H) -> F::Output {
    let mut held = Some(held);
    std::future::poll_fn(|cx| {
        let polled = std::pin::Pin::new(&mut fut).poll(cx);
        held.take();
        polled
    })
    .await
}

impl ConnectionLike for SlotConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let _permit = self.through_gate().await;
            self.manager().req_packed_command(cmd).await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let _permit = self.through_gate().await;
            self.manager().req_packed_commands(cmd, offset, count).await
        })
    }

    fn get_db(&self) -> i64 {
        self.manager().get_db()
    }
}
