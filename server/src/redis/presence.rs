//! Presence: one hash per cluster, `{prefix}:presence`, socket id → JSON [`Member`].
//!
//! Readers keep only members of instances that are live in the [`Registry`], and prune the rest,
//! so the clients of a killed instance disappear with its heartbeat.

use std::{collections::HashSet, time::Duration};

use fred::{
    clients::SubscriberClient,
    interfaces::{ClientLike, HashesInterface},
    prelude::Options,
};
use gridcast_shared::presence::Member;

use super::{LinkError, Registry};

/// Presence access for one cluster prefix.
#[derive(Clone)]
pub struct Presence {
    client: SubscriberClient,
    options: Options,
    key: String,
    registry: Registry,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence").field("key", &self.key).finish()
    }
}

impl Presence {
    pub(super) fn new(client: SubscriberClient, prefix: &str, registry: Registry) -> Self {
        Self {
            client,
            options: Options {
                timeout: Some(Duration::from_secs(1)),
                fail_fast: true,
                max_attempts: Some(1),
                ..Default::default()
            },
            key: format!("{prefix}:presence"),
            registry,
        }
    }

    /// Records `member` as it is now.
    pub async fn upsert(&self, member: &Member) -> Result<(), LinkError> {
        let json = serde_json::to_string(member).expect("Member serializes");
        self.client
            .with_options(&self.options)
            .hset::<(), _, _>(&self.key, (member.sid.as_str(), json))
            .await
            .map_err(LinkError)
    }

    /// Forgets socket `sid`.
    pub async fn remove(&self, sid: &str) -> Result<(), LinkError> {
        self.client
            .with_options(&self.options)
            .hdel::<(), _, _>(&self.key, sid)
            .await
            .map_err(LinkError)
    }

    /// The member with socket id `sid`, if it is connected to a live instance.
    pub async fn get(&self, sid: &str) -> Result<Option<Member>, LinkError> {
        let json: Option<String> = self
            .client
            .with_options(&self.options)
            .hget(&self.key, sid)
            .await
            .map_err(LinkError)?;
        let Some(member) = json.and_then(|j| serde_json::from_str::<Member>(&j).ok()) else {
            return Ok(None);
        };
        let live = self.registry.live().await?;
        Ok(live
            .iter()
            .any(|i| i.info.id == member.instance)
            .then_some(member))
    }

    /// Every member connected to a live instance, sorted by instance URL then connection time.
    pub async fn all(&self) -> Result<Vec<Member>, LinkError> {
        let client = self.client.with_options(&self.options);
        let entries: Vec<(String, String)> = client
            .hgetall::<std::collections::HashMap<String, String>, _>(&self.key)
            .await
            .map_err(LinkError)?
            .into_iter()
            .collect();
        let live: HashSet<String> = self
            .registry
            .live()
            .await?
            .into_iter()
            .map(|i| i.info.id)
            .collect();
        let mut members = Vec::with_capacity(entries.len());
        let mut stale = Vec::new();
        for (sid, json) in entries {
            match serde_json::from_str::<Member>(&json) {
                Ok(m) if live.contains(&m.instance) => members.push(m),
                _ => stale.push(sid),
            }
        }
        if !stale.is_empty() {
            let _ = client.hdel::<(), _, _>(&self.key, stale).await;
        }
        members.sort_by(|a, b| {
            (&a.instance_url, a.since, &a.sid).cmp(&(&b.instance_url, b.since, &b.sid))
        });
        Ok(members)
    }
}
