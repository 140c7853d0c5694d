//! The link's health watch: pings Redis every [`PING_EVERY`] and owns the link's state. The
//! ping is also what makes an idle `ConnectionManager` try again after its retries ran out. On the
//! way back up the subscriptions are checked and repaired before the link counts as up.

use std::{sync::atomic::Ordering, time::Duration};

use redis::Value;

use super::{
    conn::{COMMAND_TIMEOUT, Conn, LinkError, query},
    state::{LinkDriver, Shared},
};

/// How often the link pings Redis.
pub(crate) const PING_EVERY: Duration = Duration::from_millis(250);
/// How many pings apart the subscriptions are checked while the link is up (a cluster failover
/// can move a channel's slot without the probe keys' nodes ever failing).
const CHECK_EVERY_PINGS: u64 = 8;

/// Pings Redis every [`PING_EVERY`]; on the way back up, checks and repairs the subscriptions
/// before the link counts as up again, and checks them every [`CHECK_EVERY_PINGS`] pings.
pub(super) async fn watch(link: std::sync::Weak<Shared>) {
    let mut pings = 0u64;
    loop {
        let Some(shared) = link.upgrade() else { return };
        let ping = probe(&shared).await;
        let was_up = shared.up.load(Ordering::SeqCst);
        let driver = LinkDriver(shared.clone());
        pings += 1;
        match ping {
            Ok(()) if !was_up => match driver.repair_subscriptions().await {
                Ok(()) => {
                    shared.set_up(true);
                    tracing::info!(redis = %shared.target, "redis link back");
                }
                Err(e) => {
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
            }
        }
        drop((driver, shared));
        tokio::time::sleep(PING_EVERY).await;
    }
}

/// Whether Redis answers: a `PING` to one Redis, on the command connection and on the subscriber
/// connection (a ping is also what makes an idle `ConnectionManager` reconnect). On a cluster,
/// an `EXISTS` of each probe key, so that the nodes serving those slots answer (a `PING` goes to
/// every primary the connection knows, a failed one included, until a keyed command makes it read
/// the new slot map); its subscriber connection is checked by the subscription repair.
async fn probe(shared: &Shared) -> Result<(), LinkError> {
    match shared.conn {
        Conn::Single(_) => {
            let subscriber = shared
                .subscriber
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let ping = redis::cmd("PING");
            let (commands, subscriptions) = futures_util::future::join(
                query::<Value>(&shared.conn, &ping, COMMAND_TIMEOUT),
                query::<Value>(&subscriber, &ping, COMMAND_TIMEOUT),
            )
            .await;
            commands.and(subscriptions).map(drop)
        }
        Conn::Cluster(_) => {
            let probes = shared.probe_keys.iter().map(|key| {
                let cmd = redis::cmd("EXISTS").arg(key).clone();
                async move { query::<Value>(&shared.conn, &cmd, COMMAND_TIMEOUT).await }
            });
            for result in futures_util::future::join_all(probes).await {
                result?;
            }
            Ok(())
        }
    }
}
