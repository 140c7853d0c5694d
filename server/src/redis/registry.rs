//! The live instance registry: each instance refreshes a key with a short TTL every second.
//!
//! Keys (with the cluster's prefix `P`, so clusters sharing a Redis stay apart; `{P}` is a Redis
//! Cluster hash tag, so the keys listed together live in one slot and one `MGET` reads them):
//! - `{P}:instance:<id>`: JSON [`LiveInstance`], expires after [`TTL`] without a heartbeat;
//! - `{P}:instances`: the set of ids ever registered, pruned of expired ones when listed.
//!
//! A killed instance disappears when its key expires; no clock agreement between hosts is needed.

use std::time::Duration;

use gridcast_shared::LiveInstance;

use super::link::{LinkDriver, LinkError};

/// How long an instance stays listed after its last heartbeat.
pub(crate) const TTL: Duration = Duration::from_secs(3);

/// How often an instance sends a heartbeat.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);

/// The key of the set of registered ids, for key prefix `prefix`.
pub(crate) fn set_key(prefix: &str) -> String {
    format!("{{{prefix}}}:instances")
}

/// Registry access for one cluster prefix.
#[derive(Clone)]
pub(crate) struct Registry {
    link: LinkDriver,
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
    pub(crate) fn new(link: LinkDriver, prefix: &str) -> Self {
        Self {
            link,
            set_key: set_key(prefix),
            prefix: prefix.to_owned(),
            skipped: Default::default(),
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{{{}}}:instance:{id}", self.prefix)
    }

    /// Announces `me` for the next [`TTL`].
    pub(crate) async fn beat(&self, me: &LiveInstance) -> Result<(), LinkError> {
        let json = serde_json::to_string(me).expect("LiveInstance serializes");
        self.link
            .command::<()>(
                redis::cmd("SET")
                    .arg(self.key(&me.info.id))
                    .arg(json)
                    .arg("PX")
                    .arg(TTL.as_millis() as u64),
            )
            .await?;
        self.link
            .command(redis::cmd("SADD").arg(&self.set_key).arg(&me.info.id))
            .await
    }

    /// Removes `id` at once (graceful shutdown).
    pub(crate) async fn leave(&self, id: &str) -> Result<(), LinkError> {
        self.link
            .command::<()>(redis::cmd("DEL").arg(self.key(id)))
            .await?;
        self.link
            .command(redis::cmd("SREM").arg(&self.set_key).arg(id))
            .await
    }

    /// Registry entries skipped so far because they could not be parsed.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every instance with a live heartbeat, sorted by URL.
    pub(crate) async fn live(&self) -> Result<Vec<LiveInstance>, LinkError> {
        let ids: Vec<String> = self
            .link
            .command(redis::cmd("SMEMBERS").arg(&self.set_key))
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let values: Vec<Option<String>> = self.link.command(redis::cmd("MGET").arg(keys)).await?;
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
            let _ = self
                .link
                .command::<()>(redis::cmd("SREM").arg(&self.set_key).arg(expired))
                .await;
        }
        live.sort_by(|a, b| a.info.url.cmp(&b.info.url));
        Ok(live)
    }
}
