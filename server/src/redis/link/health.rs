//! The link's health watch: pings Redis every [`PING_EVERY`] and owns the link's state, decided
//! on a connection of its own (`Shared::probe`): a deep queue of commands, or an instance too busy
//! to read answers in time while Redis answers, is a busy link, not a lost one, for at most
//! [`BUSY_LIMIT`]. The ping on the command connection is also what makes an idle
//! `ConnectionManager` try again after its retries ran out. On the
//! way back up the subscriptions are checked and repaired before the link counts as up. With
//! Sentinel, a failed probe also asks the sentinels whether the master moved, and moves the
//! connections when it did ([`super::sentinel`]). When answers stay missing for [`RENEW_AFTER`]
//! (or past the busy limit), or a connection the probe cannot see timed out
//! ([`super::LinkDriver::suspect`]), the watch opens every connection to the Redis again and swaps
//! them in ([`super::slots`]), in a task of its own, at most every [`RENEW_EVERY`]: redis-rs never
//! replaces a connection that only stopped answering.

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use redis::{FromRedisValue, Value};

use super::{
    conn::{COMMAND_TIMEOUT, Conn, LinkError, query},
    state::{LinkDriver, Shared},
};

/// How often the link pings Redis.
pub(crate) const PING_EVERY: Duration = Duration::from_millis(250);
/// How long the link may stay busy (answering, but slower than [`COMMAND_TIMEOUT`]) before it
/// counts as lost: a connection that stopped answering altogether must not pass for a busy one
/// for ever. Long: at 100,000 clients on one machine every instance stayed busy for over 5 s as
/// the bursts began, and a limit of 5 s declared them all lost there (`docs/benchmarks.md`).
const BUSY_LIMIT: Duration = Duration::from_secs(30);
/// How long probes must have gone unanswered before the watch opens the link's connections
/// again: a Redis that stalls for a few seconds (a slow script, a fork) answers on the old ones
/// afterwards, and a swap leaves the instance unsubscribed for a moment.
const RENEW_AFTER: Duration = Duration::from_secs(5);
/// How often the watch opens the link's connections again at most. Each try opens a connection
/// per slot, and a stopped Redis leaves them waiting in its accept queue.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often a Sentinel link asks the sentinels whether the master moved while its own master
/// answers (see [`super::sentinel`]).
pub(super) const ASK_SENTINELS_EVERY: Duration = Duration::from_secs(2);
/// How many pings apart the subscriptions are checked while the link is up (a cluster failover
/// can move a channel's slot without the probe keys' nodes ever failing).
const CHECK_EVERY_PINGS: u64 = 8;

/// Pings Redis every [`PING_EVERY`]; on the way back up, checks and repairs the subscriptions
/// before the link counts as up again, and checks them every [`CHECK_EVERY_PINGS`] pings.
pub(super) async fn watch(link: std::sync::Weak<Shared>) {
    let mut pings = 0u64;
    // Whether asking the sentinels failed during this outage already (said once per outage).
    let mut unresolved = false;
    // Since when the probes have found the link busy (said once per stretch).
    let mut busy_since: Option<Instant> = None;
    // When the connections were last opened again (see `RENEW_EVERY`).
    let mut renewed: Option<Instant> = None;
    // Since when probes go unanswered (see `RENEW_AFTER`).
    let mut unanswered_since: Option<Instant> = None;
    loop {
        let Some(shared) = link.upgrade() else { return };
        let was_up = shared.up.load(Ordering::SeqCst);
        // Whether answers have been missing long enough to open the connections again.
        let mut stuck = false;
        let ping = match probe(&shared).await {
            Ok(Probe::Answered) => {
                if busy_since.take().is_some() {
                    tracing::info!(redis = %shared.target, "redis answers in time again");
                }
                Ok(())
            }
            // A link that is down comes back only when every connection answers in time.
            Ok(Probe::Busy) if !was_up => Err(LinkError::Timeout(COMMAND_TIMEOUT)),
            Ok(Probe::Busy) => match busy_since {
                None => {
                    busy_since = Some(Instant::now());
                    tracing::warn!(redis = %shared.target, "redis answers, but slower than {COMMAND_TIMEOUT:?} (a deep command queue, or a busy instance): commands time out until it drains (the link stays up for {BUSY_LIMIT:?})");
                    Ok(())
                }
                // Too long to be a queue draining: a connection that stopped answering (redis-rs
                // does not reconnect after a timeout) must not pass for a busy one for ever.
                Some(since) if since.elapsed() > BUSY_LIMIT => {
                    busy_since = None;
                    stuck = true;
                    Err(LinkError::Timeout(BUSY_LIMIT))
                }
                Some(_) => Ok(()),
            },
            Err(e) => Err(e),
        };
        match &ping {
            Err(e) if e.is_timeout() => {
                let since = *unanswered_since.get_or_insert_with(Instant::now);
                stuck |= since.elapsed() >= RENEW_AFTER;
            }
            _ => unanswered_since = None,
        }
        // A connection the probe cannot see (the history's reader) timed out.
        stuck |= ping.is_ok() && shared.suspect.swap(false, Ordering::Relaxed);
        if stuck && renewed.is_none_or(|at| at.elapsed() >= RENEW_EVERY) {
            renewed = Some(Instant::now());
            spawn_renew(&shared);
        }
        let driver = LinkDriver(shared.clone());
        pings += 1;
        // After a move to another master, probed again at once.
        let mut moved = false;
        match ping {
            Ok(()) if !was_up => match (shared.swaps(), driver.repair_subscriptions().await) {
                // A renewal (or a move) swapped the connections during the repair: the next
                // probe repairs the new subscriber before the link is up.
                (swaps, Ok(())) if !shared.up_unless_swapped(swaps) => {}
                (_, Ok(())) => {
                    unresolved = false;
                    tracing::info!(redis = %shared.target, "redis link back");
                }
                (_, Err(e)) => {
                    tracing::warn!(redis = %shared.target, "redis answers, but re-subscribing failed, retrying: {e}")
                }
            },
            Ok(()) if pings.is_multiple_of(CHECK_EVERY_PINGS) => {
                if let Err(e) = driver.repair_subscriptions().await {
                    tracing::warn!(redis = %shared.target, "checking the subscriptions failed, retrying: {e}")
                }
            }
            Ok(()) => {}
            Err(e) => {
                if shared.set_up(false) {
                    tracing::warn!(redis = %shared.target, "redis link lost, reconnecting: {e}");
                }
                if let Some(sentinel) = &shared.sentinel {
                    match sentinel.follow(|| shared.before_swap()).await {
                        Ok(Some((from, to))) => {
                            moved = true;
                            tracing::warn!(redis = %shared.target, %from, %to, "the sentinels name another master: every connection moved to it")
                        }
                        Ok(None) => {}
                        Err(e) if !unresolved => {
                            unresolved = true;
                            tracing::info!(redis = %shared.target, "no master from the sentinels yet, asking again: {e}")
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        drop((driver, shared));
        if !moved {
            tokio::time::sleep(PING_EVERY).await;
        }
    }
}

/// Opens every connection of the link again and swaps them in, in a task of its own (a frozen
/// Redis takes the whole open timeout to fail, and the watch keeps probing and following the
/// sentinels meanwhile); nothing when a renewal is under way already.
fn spawn_renew(shared: &std::sync::Arc<Shared>) {
    if shared.renewing.swap(true, Ordering::SeqCst) {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let renewed = shared.renew().await;
        shared.renewing.store(false, Ordering::SeqCst);
        match renewed {
            Some(Ok(0)) | None => {}
            Some(Ok(count)) => {
                tracing::warn!(redis = %shared.target, count, "redis did not answer in time: every connection opened again")
            }
            Some(Err(e)) => {
                tracing::info!(redis = %shared.target, "opening the connections again failed, trying again in {RENEW_EVERY:?}: {e}")
            }
        }
    });
}

/// Asks the sentinels every [`ASK_SENTINELS_EVERY`] whether the master moved, while the link is
/// up (the watch asks while it is down); when it did, the link is down until the watch has probed
/// the new master and repaired the subscriptions there. Apart from the watch, so that slow
/// sentinels never delay its pings.
pub(super) async fn ask_sentinels(link: std::sync::Weak<Shared>) {
    loop {
        tokio::time::sleep(ASK_SENTINELS_EVERY).await;
        let Some(shared) = link.upgrade() else { return };
        let Some(sentinel) = &shared.sentinel else {
            return;
        };
        if !shared.up.load(Ordering::SeqCst) {
            continue;
        }
        match sentinel.follow(|| shared.before_swap()).await {
            Ok(Some((from, to))) => {
                tracing::warn!(redis = %shared.target, %from, %to, "the sentinels name another master while the old one still answers: every connection moved to it");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(redis = %shared.target, "asking the sentinels failed: {e}")
            }
        }
    }
}

/// What a probe found.
#[derive(Debug)]
enum Probe {
    /// Redis answered every connection in time.
    Answered,
    /// Redis answered the probe connection in time and the command connection too slowly (a
    /// deep queue of commands there: see `Shared::probe`), or, on one Redis or Sentinel, answered
    /// other commands of the link while a ping waited too long (see `Answered`). The link stays
    /// up.
    Busy,
}

/// Whether Redis answers: [`verdict`] on the probe connection, and a ping on the command
/// connection, which also makes an idle `ConnectionManager` reconnect; only a failure there that
/// is not a timeout fails the probe (a closed connection, an error answered).
async fn probe(shared: &Shared) -> Result<Probe, LinkError> {
    let sent = Instant::now();
    let (verdict, queue) = futures_util::future::join(verdict(shared), ping_commands(shared)).await;
    // On a cluster, answers from other nodes say nothing of the probe keys' nodes.
    let one_server = !matches!(shared.conn, Conn::Cluster(_));
    match verdict {
        // No answer in time, but other commands got theirs meanwhile: the instance (or Redis)
        // is too busy to answer within the timeout, and Redis is there (see `Answered`).
        Err(e) if e.is_timeout() && one_server && shared.answered.since(sent) => {
            shared.busy_probes.fetch_add(1, Ordering::Relaxed);
            return Ok(Probe::Busy);
        }
        verdict => verdict?,
    }
    match queue {
        Ok(()) => Ok(Probe::Answered),
        Err(e) if e.is_timeout() => {
            shared.busy_probes.fetch_add(1, Ordering::Relaxed);
            Ok(Probe::Busy)
        }
        Err(e) => Err(e),
    }
}

/// The command connection's ping: `PING` to one Redis, an `EXISTS` of each probe key on a cluster
/// (a keyed command makes the connection read a new slot map after a failover).
async fn ping_commands(shared: &Shared) -> Result<(), LinkError> {
    match shared.conn {
        Conn::Single(_) | Conn::Sentinel(_) => {
            query::<Value>(&shared.conn, &redis::cmd("PING"), COMMAND_TIMEOUT)
                .await
                .map(drop)
        }
        Conn::Cluster(_) => exists_all(shared, &shared.conn).await,
    }
}

/// Whether Redis answers, on the probe connection and on the subscriber connection: a `PING` to
/// one Redis (with Sentinel, `ROLE`, which must say master). On a cluster, an `EXISTS` of each
/// probe key, so that the nodes serving those slots answer (a `PING` goes to every primary the
/// connection knows, a failed one included, until a keyed command makes it read the new slot
/// map); its subscriber connection is checked by the subscription repair.
async fn verdict(shared: &Shared) -> Result<(), LinkError> {
    match shared.conn {
        Conn::Sentinel(_) => {
            let subscriber = shared
                .subscriber
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let (role, subscriptions) = futures_util::future::join(
                query::<Vec<Value>>(&shared.probe, &redis::cmd("ROLE"), COMMAND_TIMEOUT),
                query::<Value>(&subscriber, &redis::cmd("PING"), COMMAND_TIMEOUT),
            )
            .await;
            subscriptions?;
            // A master demoted to a replica (the old master of a failover that came back, or a
            // manual failover) still answers pings, but answers writes with READONLY.
            let role = role?
                .into_iter()
                .next()
                .map(String::from_redis_value)
                .transpose()
                .map_err(|e| LinkError::Reply(format!("ROLE: {e}")))?;
            match role.as_deref() {
                Some("master") => Ok(()),
                other => Err(LinkError::Reply(format!(
                    "the server is no longer the master (role {other:?})"
                ))),
            }
        }
        Conn::Single(_) => {
            let subscriber = shared
                .subscriber
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let ping = redis::cmd("PING");
            let (probe, subscriptions) = futures_util::future::join(
                query::<Value>(&shared.probe, &ping, COMMAND_TIMEOUT),
                query::<Value>(&subscriber, &ping, COMMAND_TIMEOUT),
            )
            .await;
            probe.and(subscriptions).map(drop)
        }
        Conn::Cluster(_) => exists_all(shared, &shared.probe).await,
    }
}

/// An `EXISTS` of each of a cluster's probe keys on `conn`.
async fn exists_all(shared: &Shared, conn: &Conn) -> Result<(), LinkError> {
    let probes = shared.probe_keys.iter().map(|key| {
        let cmd = redis::cmd("EXISTS").arg(key).clone();
        async move { query::<Value>(conn, &cmd, COMMAND_TIMEOUT).await }
    });
    for result in futures_util::future::join_all(probes).await {
        result?;
    }
    Ok(())
}
