//! A cluster-internal channel between instances: `<prefix>:bus:<name>`, sharded pub/sub on the
//! link (the same `SPUBLISH`/`SSUBSCRIBE` the adapter uses, so the link's subscription checks
//! repair it after a reconnect like the adapter's channels).
//!
//! socketioxide's adapter delivers packets to sockets only; an instance that must *act* on
//! something another instance decided (the Admin UI joining a socket of this instance to a room,
//! which also changes its member record and presence) needs a message it reads itself. Payloads
//! are opaque bytes here; the sender's instance comes back with every message, its own included.

use futures_util::{Stream, StreamExt};
use socketioxide_redis::drivers::Driver;

use super::link::{LinkDriver, LinkError};

/// Messages a subscriber may hold before the link's router waits for it (and with it the
/// adapter's messages behind): a subscriber must read fast.
const BUFFER: usize = 1024;

/// One named channel of the cluster.
#[derive(Clone)]
pub(crate) struct Bus {
    link: LinkDriver,
    channel: String,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("channel", &self.channel)
            .finish()
    }
}

impl Bus {
    /// The channel `name` of the cluster with key prefix `prefix`.
    pub(crate) fn new(link: LinkDriver, prefix: &str, name: &str) -> Self {
        Self {
            link,
            channel: format!("{prefix}:bus:{name}"),
        }
    }

    /// Sends `payload` to every instance subscribed, this one included; fails at once while the
    /// link is down, after the publish timeout otherwise.
    pub(crate) async fn publish(&self, payload: Vec<u8>) -> Result<(), LinkError> {
        self.link.publish(self.channel.clone(), payload).await
    }

    /// Subscribes: every message published from now on, in order.
    pub(crate) async fn subscribe(
        &self,
    ) -> Result<impl Stream<Item = Vec<u8>> + Send + Unpin + use<>, LinkError> {
        let stream = self.link.subscribe(self.channel.clone(), BUFFER).await?;
        Ok(stream.map(|(_, payload)| payload))
    }
}
