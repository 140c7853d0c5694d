//! The adapter's subscriptions: after every reconnect (and every few pings while up) the link
//! checks that its connection is really subscribed to every channel the adapter asked for, and
//! repairs it. redis-rs ignores errors of its own resubscription pipeline, and after a cluster
//! failover it did not re-subscribe on the promoted replica at all.

use std::collections::HashMap;

use redis::{Value, cluster_async::ClusterConnection};

use super::{
    conn::{
        ADAPTER_COMMAND_TIMEOUT, COMMAND_TIMEOUT, Conn, LinkError, Target, on_master_of,
        open_cluster, query, within,
    },
    state::LinkDriver,
};

/// The value of `field` in a `CLIENT INFO` line.
fn client_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.split_whitespace()
        .find_map(|f| f.strip_prefix(field)?.strip_prefix('='))
}

/// The `ssub` count of a `CLIENT INFO` line.
fn shard_subscriptions(info: &str) -> Option<usize> {
    client_field(info, "ssub").and_then(|n| n.parse().ok())
}

impl LinkDriver {
    /// Makes sure this connection is subscribed to every channel the adapter asked for.
    pub(super) async fn repair_subscriptions(&self) -> Result<(), LinkError> {
        let channels: Vec<String> = self
            .0
            .handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        if channels.is_empty() {
            return Ok(());
        }
        let subscriber = self.subscriber();
        let missing: Vec<String> = match &subscriber {
            Conn::Single(_) | Conn::Sentinel(_) => {
                let info: String = query(
                    &subscriber,
                    redis::cmd("CLIENT").arg("INFO"),
                    COMMAND_TIMEOUT,
                )
                .await?;
                let subscribed = shard_subscriptions(&info).ok_or_else(|| {
                    LinkError::Reply(format!("no ssub count in CLIENT INFO: {info}"))
                })?;
                if subscribed < channels.len() {
                    channels.clone()
                } else {
                    Vec::new()
                }
            }
            Conn::Cluster(_) => {
                // Checked on the subscriber connection; if it cannot tell (stuck after a
                // failover) or lacks a channel, it is replaced by a fresh one.
                match self.cluster_missing(&channels).await {
                    Ok(missing) if missing.is_empty() => Vec::new(),
                    Ok(_) | Err(_) => return self.replace_subscriber(&channels).await,
                }
            }
        };
        if !missing.is_empty() {
            for chan in &missing {
                self.ssubscribe(chan).await?;
            }
            tracing::warn!(redis = %self.0.target, channels = missing.len(), "subscriptions were missing after a reconnect: subscribed again");
        }
        Ok(())
    }

    /// The connection holding the subscriptions.
    pub(super) fn subscriber(&self) -> Conn {
        self.0
            .subscriber
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The subscriber connection of a cluster.
    fn cluster_subscriber(&self) -> Result<ClusterConnection, LinkError> {
        match self.subscriber() {
            Conn::Cluster(conn) => Ok(conn),
            _ => Err(LinkError::Reply("not a cluster connection".into())),
        }
    }

    /// The channels the subscriber connection lacks, asking the node serving each channel's slot
    /// (`CLIENT INFO` describes the asking connection: its `ssub` count, grouped by node).
    async fn cluster_missing(&self, channels: &[String]) -> Result<Vec<String>, LinkError> {
        let conn = self.cluster_subscriber()?;
        let mut by_node: HashMap<String, (usize, Vec<String>)> = HashMap::new();
        for chan in channels {
            let info: String = on_master_of(
                &conn,
                chan,
                redis::cmd("CLIENT").arg("INFO").clone(),
                COMMAND_TIMEOUT,
            )
            .await?;
            let (Some(node), Some(subscribed)) =
                (client_field(&info, "laddr"), shard_subscriptions(&info))
            else {
                return Err(LinkError::Reply(format!("CLIENT INFO: {info}")));
            };
            let entry = by_node.entry(node.to_owned()).or_default();
            entry.0 = subscribed;
            entry.1.push(chan.clone());
        }
        Ok(by_node
            .into_values()
            .filter(|(subscribed, chans)| *subscribed < chans.len())
            .flat_map(|(_, chans)| chans)
            .collect())
    }

    /// Opens a new subscriber connection, subscribes it to `channels`, and drops the old one.
    async fn replace_subscriber(&self, channels: &[String]) -> Result<(), LinkError> {
        let Target::Cluster(urls) = &self.0.target else {
            unreachable!("only a cluster's subscriber is replaced here")
        };
        let mut fresh = open_cluster(
            &self.0.target,
            urls,
            COMMAND_TIMEOUT.max(self.0.publish_timeout),
            Some(self.0.push.clone()),
        )
        .await
        .map_err(|e| LinkError::Reply(e.to_string()))?;
        // One channel per command: each may live in another slot.
        for chan in channels {
            within(ADAPTER_COMMAND_TIMEOUT, fresh.ssubscribe(chan)).await?;
        }
        *self.0.subscriber.lock().unwrap_or_else(|p| p.into_inner()) = Conn::Cluster(fresh);
        tracing::warn!(redis = %self.0.target, channels = channels.len(), "subscriptions were missing after a reconnect: re-subscribed on a new connection");
        Ok(())
    }

    pub(super) async fn ssubscribe(&self, chan: &str) -> Result<(), LinkError> {
        match self.subscriber() {
            // A raw SSUBSCRIBE of one channel is answered by one confirmation, which the
            // connection takes as the reply and records for its automatic resubscription.
            conn @ (Conn::Single(_) | Conn::Sentinel(_)) => query::<Value>(
                &conn,
                redis::cmd("SSUBSCRIBE").arg(chan),
                ADAPTER_COMMAND_TIMEOUT,
            )
            .await
            .map(drop),
            Conn::Cluster(mut conn) => within(ADAPTER_COMMAND_TIMEOUT, conn.ssubscribe(chan)).await,
        }
    }

    pub(super) async fn sunsubscribe(&self, chan: &str) -> Result<(), LinkError> {
        match self.subscriber() {
            conn @ (Conn::Single(_) | Conn::Sentinel(_)) => query::<Value>(
                &conn,
                redis::cmd("SUNSUBSCRIBE").arg(chan),
                ADAPTER_COMMAND_TIMEOUT,
            )
            .await
            .map(drop),
            Conn::Cluster(mut conn) => {
                within(ADAPTER_COMMAND_TIMEOUT, conn.sunsubscribe(chan)).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_shard_subscription_count() {
        let info = "id=3 addr=127.0.0.1:5 laddr=127.0.0.1:6 fd=8 name= age=0 idle=0 flags=P db=0 sub=0 psub=0 ssub=3 multi=-1";
        assert_eq!(super::shard_subscriptions(info), Some(3));
        assert_eq!(super::shard_subscriptions("id=3 sub=0"), None);
        assert_eq!(
            super::client_field(info, "laddr"),
            Some("127.0.0.1:6"),
            "the node's address"
        );
        assert_eq!(super::client_field(info, "addr"), Some("127.0.0.1:5"));
    }
}
