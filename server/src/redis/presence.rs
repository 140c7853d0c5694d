//! Presence: one hash per instance, `<prefix>:presence:<instance id>`, public id → JSON [`Member`]
//! (every command touches one key, so the hashes spread over a Redis Cluster's slots).
//!
//! Each hash expires with its instance's registry entry ([`TTL`]) and is refreshed by the same
//! heartbeat, so the clients of a killed instance disappear with it and readers never delete
//! anything: a client that connects before its instance's first heartbeat is listed a moment
//! later, not lost. Only the instance writes its hash; its heartbeat compares it with its live
//! sockets and repairs it (`crate::roster`): members missing after an outage are written again,
//! members left behind by a delete that failed are removed.

use std::sync::Arc;

use gridcast_shared::presence::Member;

use super::{
    link::{LinkDriver, LinkError},
    registry::{Registry, TTL},
};
use crate::warnings::Warnings;

/// Fields one `HSET` or `HDEL` of a repair carries at most (a bounded command, however many
/// members are missing or left behind).
const CHUNK: usize = 500;

/// Presence access for one cluster prefix.
#[derive(Clone)]
pub(crate) struct Presence {
    link: LinkDriver,
    prefix: String,
    registry: Registry,
    skipped: Arc<std::sync::atomic::AtomicU64>,
    warnings: Arc<Warnings>,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Presence {
    pub(crate) fn new(
        link: LinkDriver,
        prefix: &str,
        registry: Registry,
        warnings: Arc<Warnings>,
    ) -> Self {
        Self {
            link,
            prefix: prefix.to_owned(),
            skipped: Default::default(),
            registry,
            warnings,
        }
    }

    fn key(&self, instance: &str) -> String {
        format!("{}:presence:{instance}", self.prefix)
    }

    /// Records `member` as it is now.
    pub(crate) async fn upsert(&self, member: &Member) -> Result<(), LinkError> {
        let json = serde_json::to_string(member).expect("Member serializes");
        let key = self.key(&member.instance);
        // One round trip, not two: this runs for every connect (one key, so one slot on a
        // Redis Cluster).
        let mut pipe = redis::pipe();
        pipe.cmd("HSET")
            .arg(&key)
            .arg(&member.id)
            .arg(json)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(TTL.as_millis() as u64)
            .ignore();
        self.link.pipeline(&pipe).await
    }

    /// Forgets the members with public ids `ids` of `instance`.
    pub(crate) async fn remove_many(
        &self,
        instance: &str,
        ids: &[String],
    ) -> Result<(), LinkError> {
        let key = self.key(instance);
        for chunk in ids.chunks(CHUNK) {
            self.link
                .command::<()>(redis::cmd("HDEL").arg(&key).arg(chunk))
                .await?;
        }
        Ok(())
    }

    /// Records `members` of `instance` as they are now, and extends its presence for another
    /// [`TTL`].
    pub(crate) async fn upsert_many(
        &self,
        instance: &str,
        members: &[Member],
    ) -> Result<(), LinkError> {
        let key = self.key(instance);
        for chunk in members.chunks(CHUNK) {
            let mut hset = redis::cmd("HSET");
            hset.arg(&key);
            for member in chunk {
                let json = serde_json::to_string(member).expect("Member serializes");
                hset.arg(&member.id).arg(json);
            }
            self.link.command::<()>(&hset).await?;
        }
        self.refresh(instance).await
    }

    /// How many members `instance`'s hash holds (`HLEN`: constant time, the heartbeat's cheap
    /// check).
    pub(crate) async fn len(&self, instance: &str) -> Result<usize, LinkError> {
        self.link
            .command(redis::cmd("HLEN").arg(self.key(instance)))
            .await
    }

    /// The public ids `instance`'s hash holds (`HKEYS`: linear in the members, for a repair).
    pub(crate) async fn ids(&self, instance: &str) -> Result<Vec<String>, LinkError> {
        self.link
            .command(redis::cmd("HKEYS").arg(self.key(instance)))
            .await
    }

    /// Extends `instance`'s presence for another [`TTL`] (nothing to extend when it has no
    /// members).
    pub(crate) async fn refresh(&self, instance: &str) -> Result<(), LinkError> {
        self.link
            .command::<()>(
                redis::cmd("PEXPIRE")
                    .arg(self.key(instance))
                    .arg(TTL.as_millis() as u64),
            )
            .await
    }

    /// Members skipped so far because they could not be parsed.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn parse(&self, json: &str) -> Option<Member> {
        serde_json::from_str(json)
            .inspect_err(|e| {
                self.skipped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.warnings.warn("unreadable presence member skipped", e);
            })
            .ok()
    }

    /// The member with public id `id`, on any live instance.
    pub(crate) async fn get(&self, id: &str) -> Result<Option<Member>, LinkError> {
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

    /// One page of the members of every live instance: up to about `limit` (a hash is read with
    /// `HSCAN`, whose `COUNT` is a hint, so a page may run a little over), from `from` (`None`:
    /// the start), sorted by instance URL then connection time; with where the next page starts,
    /// `None` after the last. Instances are paged in id order; an instance that went away between
    /// two pages is skipped, one that came is read when the paging reaches its id.
    pub(crate) async fn page(
        &self,
        from: Option<&PageCursor>,
        limit: usize,
    ) -> Result<(Vec<Member>, Option<PageCursor>), LinkError> {
        let mut ids: Vec<String> = self
            .registry
            .live()
            .await?
            .into_iter()
            .map(|i| i.info.id)
            .collect();
        ids.sort();
        let (mut at, mut scan) = match from {
            None => (0, 0),
            Some(cursor) => match ids.binary_search(&cursor.instance) {
                Ok(i) => (i, cursor.scan),
                Err(i) => (i, 0),
            },
        };
        let limit = limit.max(1);
        let mut members = Vec::new();
        while at < ids.len() && members.len() < limit {
            let (next, flat): (u64, Vec<String>) = self
                .link
                .command(
                    redis::cmd("HSCAN")
                        .arg(self.key(&ids[at]))
                        .arg(scan)
                        .arg("COUNT")
                        .arg(limit - members.len()),
                )
                .await?;
            // Field, value, field, value…: the values are the members.
            members.extend(flat.iter().skip(1).step_by(2).filter_map(|j| self.parse(j)));
            if next == 0 {
                at += 1;
                scan = 0;
            } else {
                scan = next;
            }
        }
        members.sort_by(|a, b| {
            (&a.instance_url, a.since, &a.id).cmp(&(&b.instance_url, b.since, &b.id))
        });
        let next = ids.get(at).map(|instance| PageCursor {
            instance: instance.clone(),
            scan,
        });
        Ok((members, next))
    }
}

/// Where a presence page starts: an instance's hash and a position in it (`HSCAN`'s cursor). On
/// the wire, `<scan>:<instance id>`: opaque to clients, and checked when it comes back (a client
/// may send anything; a bad one is a `bad_request`, never a wrong page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageCursor {
    instance: String,
    scan: u64,
}

impl std::fmt::Display for PageCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.scan, self.instance)
    }
}

impl std::str::FromStr for PageCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || "not a cursor this cluster gave (pass the previous page's `next`)".to_owned();
        let (scan, instance) = text.split_once(':').ok_or_else(bad)?;
        let valid_id = (1..=64).contains(&instance.len())
            && instance
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_id {
            return Err(bad());
        }
        Ok(Self {
            instance: instance.to_owned(),
            scan: scan.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PageCursor;

    #[test]
    fn a_cursor_round_trips_and_hostile_ones_are_refused() {
        let cursor: PageCursor = "17:a1b2c3d4".parse().unwrap();
        assert_eq!(cursor.to_string(), "17:a1b2c3d4");
        for bad in [
            "",
            "17",
            ":a1",
            "x:a1",
            "-1:a1",
            "1:a b",
            "1:",
            &format!("1:{}", "a".repeat(65)),
        ] {
            assert!(bad.parse::<PageCursor>().is_err(), "{bad:?}");
        }
    }
}
