//! Presence: one hash per instance, `<prefix>:presence:<instance id>`, public id → JSON [`Member`]
//! (every command touches one key, so the hashes spread over a Redis Cluster's slots).
//!
//! Each hash expires with its instance's registry entry ([`TTL`]) and is refreshed by the same
//! heartbeat, so the clients of a killed instance disappear with it and readers never delete
//! anything: a client that connects before its instance's first heartbeat is listed a moment
//! later, not lost. If a hash expired while its instance lived (a long Redis outage), the
//! heartbeat writes the instance's members again.

use gridcast_shared::presence::Member;

use super::{LinkDriver, LinkError, Registry, registry::TTL};

/// Presence access for one cluster prefix.
#[derive(Clone)]
pub struct Presence {
    link: LinkDriver,
    prefix: String,
    registry: Registry,
    skipped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Presence {
    pub(super) fn new(link: LinkDriver, prefix: &str, registry: Registry) -> Self {
        Self {
            link,
            prefix: prefix.to_owned(),
            skipped: Default::default(),
            registry,
        }
    }

    fn key(&self, instance: &str) -> String {
        format!("{}:presence:{instance}", self.prefix)
    }

    /// Records `member` as it is now.
    pub async fn upsert(&self, member: &Member) -> Result<(), LinkError> {
        let json = serde_json::to_string(member).expect("Member serializes");
        let key = self.key(&member.instance);
        self.link
            .command::<()>(redis::cmd("HSET").arg(&key).arg(&member.id).arg(json))
            .await?;
        self.link
            .command(redis::cmd("PEXPIRE").arg(&key).arg(TTL.as_millis() as u64))
            .await
    }

    /// Forgets the member with public id `id` of `instance`.
    pub async fn remove(&self, instance: &str, id: &str) -> Result<(), LinkError> {
        self.link
            .command(redis::cmd("HDEL").arg(self.key(instance)).arg(id))
            .await
    }

    /// Extends `instance`'s presence for another [`TTL`]; `false` when its hash is gone (expired
    /// or never written), so the caller can write its members again.
    pub async fn refresh(&self, instance: &str) -> Result<bool, LinkError> {
        self.link
            .command(
                redis::cmd("PEXPIRE")
                    .arg(self.key(instance))
                    .arg(TTL.as_millis() as u64),
            )
            .await
    }

    /// Members skipped so far because they could not be parsed.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn parse(&self, json: &str) -> Option<Member> {
        serde_json::from_str(json)
            .inspect_err(|e| {
                self.skipped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(prefix = %self.prefix, "unreadable presence member skipped: {e}");
            })
            .ok()
    }

    /// The member with public id `id`, on any live instance.
    pub async fn get(&self, id: &str) -> Result<Option<Member>, LinkError> {
        for instance in self.registry.live().await? {
            let json: Option<String> = self
                .link
                .command(redis::cmd("HGET").arg(self.key(&instance.info.id)).arg(id))
                .await?;
            if let Some(member) = json.and_then(|j| self.parse(&j)) {
                return Ok(Some(member));
            }
        }
        Ok(None)
    }

    /// Every member of every live instance, sorted by instance URL then connection time.
    pub async fn all(&self) -> Result<Vec<Member>, LinkError> {
        let mut members = Vec::new();
        for instance in self.registry.live().await? {
            let entries: std::collections::HashMap<String, String> = self
                .link
                .command(redis::cmd("HGETALL").arg(self.key(&instance.info.id)))
                .await?;
            members.extend(entries.values().filter_map(|j| self.parse(j)));
        }
        members.sort_by(|a, b| {
            (&a.instance_url, a.since, &a.id).cmp(&(&b.instance_url, b.since, &b.id))
        });
        Ok(members)
    }
}
