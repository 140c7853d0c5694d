//! Redis Sentinel: the link's connections go to the master the sentinels name, and follow it when
//! it changes.
//!
//! A `ConnectionManager` reconnects to the address it was built with, so after a failover it would
//! keep talking to the old master: dead, or demoted to a replica that answers writes with
//! `READONLY`. So every connection of a Sentinel link (commands, the subscriber, the history's
//! reader and bulk connections) is a [`SlotConn`]: a slot holding the current manager, which
//! the resolver ([`Sentinel`]) swaps for one on the new master ([`super::slots`]). The health watch asks the resolver
//! to [`follow`](Sentinel::follow) whenever its probe fails (the master does not answer, or its
//! `ROLE` says it is a replica now), and asks anyway every [`super::health::ASK_SENTINELS_EVERY`]
//! while the link is up: after a failover the sentinels ordered (`SENTINEL FAILOVER`, or a
//! master cut off from them), the old master still says it is the master until the sentinels
//! convert it, 8 s or more later, and what it takes meanwhile its resync erases. The resolver
//! asks the sentinels, and when they name
//! another server it opens a manager there for every slot and swaps them all at once (none when
//! one cannot be opened: the next probe tries again). The rest is the link's usual way back up:
//! the watch checks and repairs the subscriptions (the new subscriber has none) before the link
//! counts as up; until then every command fails at once. [`Sentinel::moves`] tells the hub, which
//! writes again what the new master lacks and checks its reader's position.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use redis::{
    Client, ProtocolVersion, RedisConnectionInfo, RedisResult,
    aio::ConnectionManagerConfig,
    io::tcp::TcpSettings,
    sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType},
};
use tokio::sync::watch;

use super::slots::{SlotConn, Slots, within};

/// How long asking the sentinels for the master may take (they are asked three at a time, and
/// the server they name is asked for its role).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The master of a Sentinel target and the connections to it.
pub(crate) struct Sentinel {
    sentinels: tokio::sync::Mutex<SentinelClient>,
    /// The master the connections go to now.
    master: Mutex<Master>,
    /// Every connection opened, to move them together.
    slots: Slots,
    /// How many times the connections moved to another master.
    moves: watch::Sender<u64>,
}

#[derive(Clone)]
struct Master {
    client: Client,
    /// `host:port`.
    addr: String,
}

impl Sentinel {
    /// Asks `sentinels` (URLs) for the master they call `master` (within a few seconds);
    /// `target` names them in logs.
    pub(super) async fn connect(
        target: String,
        master: &str,
        sentinels: &[String],
    ) -> RedisResult<Arc<Self>> {
        let node = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(
                RedisConnectionInfo::default().set_protocol(ProtocolVersion::RESP3),
            )
            .set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let mut client = SentinelClient::build(
            sentinels.to_vec(),
            master.to_owned(),
            Some(node),
            SentinelServerType::Master,
        )?;
        let found = resolve(&mut client).await?;
        tracing::info!(redis = %target, master = %found.addr, "the sentinels name the master");
        Ok(Arc::new(Self {
            sentinels: tokio::sync::Mutex::new(client),
            master: Mutex::new(found),
            slots: Slots::default(),
            moves: watch::channel(0).0,
        }))
    }

    /// Opens a connection to the current master, with `config`, that follows the master.
    pub(super) async fn open(&self, config: ConnectionManagerConfig) -> RedisResult<SlotConn> {
        self.slots.open(self.master().client, config).await
    }

    fn master(&self) -> Master {
        self.master
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A receiver of the number of moves so far, changed at every move.
    pub(crate) fn moves(&self) -> watch::Receiver<u64> {
        self.moves.subscribe()
    }

    /// Asks the sentinels for the master; when they name another server than the current one,
    /// opens a connection there for every connection of the link, marks the link down
    /// (`mark_down`: until the watch has checked the new master and its subscriptions) and swaps
    /// them all.
    /// Says where from and to when the connections moved.
    pub(super) async fn follow(
        &self,
        mark_down: impl FnOnce(),
    ) -> RedisResult<Option<(String, String)>> {
        // Held to the end: one follow at a time (the watch's and the periodic check's).
        let mut sentinels = self.sentinels.lock().await;
        let found = resolve(&mut sentinels).await?;
        let old = self.master();
        if found.addr == old.addr {
            return Ok(None);
        }
        // All or none: a link half on the old master and half on the new one would read a
        // history that others no longer write.
        self.slots.open_all(&found.client).await?.swap(mark_down);
        *self.master.lock().unwrap_or_else(|p| p.into_inner()) = found.clone();
        self.moves.send_modify(|n| *n += 1);
        Ok(Some((old.addr, found.addr)))
    }

    /// Opens every connection of the link again on the current master and swaps them in (all
    /// or none), calling `before_swap` first; returns how many (0 when the master moved
    /// meanwhile: `follow` moved them). For connections that stopped answering while the master
    /// stayed where it was ([`super::slots`]). Opening does not hold up `follow`: a frozen master
    /// takes the whole open timeout to fail.
    pub(super) async fn renew(&self, before_swap: impl FnOnce()) -> RedisResult<usize> {
        let master = self.master();
        let opened = self.slots.open_all(&master.client).await?;
        // One swap at a time, and only onto the master of the moment.
        let _sentinels = self.sentinels.lock().await;
        if self.master().addr != master.addr {
            return Ok(0);
        }
        Ok(opened.swap_closing_old(before_swap).await)
    }
}

/// The master the sentinels name now (they check that it says it is a master).
async fn resolve(sentinels: &mut SentinelClient) -> RedisResult<Master> {
    let asking = sentinels.async_get_client();
    let client = within(RESOLVE_TIMEOUT, asking, "asking the sentinels").await?;
    let addr = client.get_connection_info().addr().to_string();
    Ok(Master { client, addr })
}
