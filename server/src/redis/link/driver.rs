//! The socketioxide-redis [`Driver`] over the link: `SPUBLISH` / `SSUBSCRIBE` (sharded pub/sub,
//! so a channel lives on one node of a cluster), and the router that hands pushes to the
//! adapter's streams in order, waiting (never dropping) when a stream is full.

use std::{collections::HashMap, sync::atomic::Ordering};

use redis::{FromRedisValue, PushInfo, PushKind, Value};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

use super::{
    conn::{ADAPTER_COMMAND_TIMEOUT, Conn, LinkError, on_master_of},
    state::{LinkDriver, Shared},
};

/// Hands pub/sub messages to the adapter's streams, in order; marks the link down when a
/// connection drops.
pub(super) async fn route(
    link: std::sync::Weak<Shared>,
    mut pushes: mpsc::UnboundedReceiver<PushInfo>,
) {
    while let Some(push) = pushes.recv().await {
        let Some(link) = link.upgrade() else { return };
        match push.kind {
            PushKind::Disconnection if link.set_up(false) => {
                tracing::warn!(redis = %link.target, "redis link lost, reconnecting");
            }
            PushKind::Message | PushKind::SMessage => {
                let mut data = push.data.into_iter();
                let (Some(chan), Some(payload)) = (data.next(), data.next()) else {
                    continue;
                };
                let (Ok(chan), Ok(payload)) = (
                    String::from_redis_value(chan),
                    Vec::<u8>::from_redis_value(payload),
                ) else {
                    tracing::warn!(redis = %link.target, "unreadable pub/sub message skipped");
                    continue;
                };
                let handler = link
                    .handlers
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&chan)
                    .cloned();
                if let Some(handler) = handler {
                    // Waits while the adapter's stream is full: later messages queue behind.
                    let _ = handler.send((chan, payload)).await;
                }
            }
            _ => {}
        }
    }
}

impl Driver for LinkDriver {
    type Error = LinkError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        let started = std::time::Instant::now();
        let published = self
            .command_within::<Value>(
                redis::cmd("SPUBLISH").arg(chan).arg(val),
                self.0.publish_timeout,
            )
            .await;
        self.0
            .publish_latency
            .observe(started.elapsed().as_secs_f64());
        published.map(drop)
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        self.0
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(chan.clone(), tx);
        if let Err(e) = self.ssubscribe(&chan).await {
            self.0
                .handlers
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&chan);
            return Err(e);
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.0
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&chan);
        if !self.0.up.load(Ordering::SeqCst) {
            return Err(LinkError::Down);
        }
        self.sunsubscribe(&chan).await
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        // Sharded subscribers, counted by the node serving the channel's slot.
        let cmd = redis::cmd("PUBSUB").arg("SHARDNUMSUB").arg(chan).clone();
        let counts: HashMap<String, u16> = match &self.0.conn {
            Conn::Single(_) | Conn::Sentinel(_) => {
                self.command_within(&cmd, ADAPTER_COMMAND_TIMEOUT).await?
            }
            Conn::Cluster(conn) => {
                if !self.0.up.load(Ordering::SeqCst) {
                    return Err(LinkError::Down);
                }
                on_master_of(conn, chan, cmd, ADAPTER_COMMAND_TIMEOUT).await?
            }
        };
        Ok(counts.get(chan).copied().unwrap_or(0))
    }
}
