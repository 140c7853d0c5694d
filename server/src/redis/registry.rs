//! The live instance registry: each instance refreshes a key with a short TTL every second.
//!
//! Keys (with the cluster's channel prefix, so clusters sharing a Redis stay apart):
//! - `{prefix}:instance:{id}`: JSON [`LiveInstance`], expires after [`TTL`] without a heartbeat;
//! - `{prefix}:instances`: the set of ids ever registered, pruned of expired ones when listed.
//!
//! A killed instance disappears when its key expires; no clock agreement between hosts is needed.

use std::time::Duration;

use fred::{
    clients::SubscriberClient,
    interfaces::{ClientLike, KeysInterface, SetsInterface},
    prelude::{Expiration, Options},
};
use gridcast_shared::LiveInstance;

use super::LinkError;

/// How long an instance stays listed after its last heartbeat.
pub const TTL: Duration = Duration::from_secs(3);

/// How often an instance sends a heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Registry access for one cluster prefix.
#[derive(Clone)]
pub struct Registry {
    client: SubscriberClient,
    options: Options,
    set_key: String,
    prefix: String,
    skipped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("set_key", &self.set_key)
            .finish()
    }
}

impl Registry {
    pub(super) fn new(client: SubscriberClient, prefix: &str) -> Self {
        Self {
            client,
            options: super::command_options(),
            set_key: format!("{prefix}:instances"),
            prefix: prefix.to_owned(),
            skipped: Default::default(),
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}:instance:{id}", self.prefix)
    }

    /// Announces `me` for the next [`TTL`].
    pub async fn beat(&self, me: &LiveInstance) -> Result<(), LinkError> {
        let json = serde_json::to_string(me).expect("LiveInstance serializes");
        let client = self.client.with_options(&self.options);
        let ttl = Expiration::PX(TTL.as_millis() as i64);
        client
            .set::<(), _, _>(self.key(&me.info.id), json, Some(ttl), None, false)
            .await
            .map_err(LinkError)?;
        client
            .sadd::<(), _, _>(&self.set_key, me.info.id.as_str())
            .await
            .map_err(LinkError)
    }

    /// Removes `id` at once (graceful shutdown).
    pub async fn leave(&self, id: &str) -> Result<(), LinkError> {
        let client = self.client.with_options(&self.options);
        client.del::<(), _>(self.key(id)).await.map_err(LinkError)?;
        client
            .srem::<(), _, _>(&self.set_key, id)
            .await
            .map_err(LinkError)
    }

    /// Registry entries skipped so far because they could not be parsed.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every instance with a live heartbeat, sorted by URL.
    pub async fn live(&self) -> Result<Vec<LiveInstance>, LinkError> {
        let client = self.client.with_options(&self.options);
        let ids: Vec<String> = client.smembers(&self.set_key).await.map_err(LinkError)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let values: Vec<Option<String>> = client.mget(keys).await.map_err(LinkError)?;
        let mut live = Vec::with_capacity(ids.len());
        let mut expired = Vec::new();
        for (id, value) in ids.into_iter().zip(values) {
            let Some(json) = value else {
                expired.push(id);
                continue;
            };
            match serde_json::from_str::<LiveInstance>(&json) {
                Ok(instance) => live.push(instance),
                // Not ours to delete: it expires with its TTL like any entry.
                Err(e) => {
                    self.skipped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(instance = %id, "unreadable registry entry skipped: {e}");
                }
            }
        }
        if !expired.is_empty() {
            // Best effort: a racing heartbeat re-adds its id on the next beat anyway.
            let _ = client.srem::<(), _, _>(&self.set_key, expired).await;
        }
        live.sort_by(|a, b| a.info.url.cmp(&b.info.url));
        Ok(live)
    }
}
