//! This instance's members as its presence hash should hold them ([`Roster`]), and the
//! heartbeat's repair of the hash ([`sync`]).
//!
//! Presence used to be written on connect and deleted on disconnect, and nothing else: a delete
//! that failed while Redis was away was never retried, and a member whose delete raced ahead of
//! its write (a client that closed at once) stayed for ever. Those ghosts filled the list (after
//! a polling flood, 10,954 of them and no real client) and direct messages to them were
//! accepted. Now each socket's writes are ordered (`crate::socket::presence`), the roster lists
//! what the hash should hold, and every heartbeat checks the hash against it:
//!
//! - **Cost.** Each beat compares the hash's `HLEN` with the roster's size (constant time on both
//!   sides). Only when they differ, and every [`FULL_EVERY`] beats anyway (a ghost and a missing
//!   member cancel out in a count), it reads the hash's ids (`HKEYS`, linear: about 400 KB for
//!   12,000 members) and compares them with the roster under its lock (a hash set of the ids),
//!   then removes the fields no local socket holds and writes the missing ones, in commands of at
//!   most 500 fields. Removed members go to the subscribers as leaves, written ones as upserts,
//!   like any change.
//! - **Races.** The hash is read before the roster: a member listed in between is in the roster
//!   and missing from the read, and is written again (harmless); one that left in between is
//!   removed again (harmless). A change between the comparison and the writes (a socket listed
//!   while a stale field of its id is removed, one leaving while it is written) leaves that member
//!   wrong until the next beat, whose count differs and repairs it.
//! - **Shared ids.** A session can be taken over by a socket on the same instance: for a moment
//!   two local sockets have one public id. The roster keeps the holder of each id (the last to
//!   announce itself), and only the holder's departure removes the id.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use gridcast_shared::presence::{Member, PresenceDelta};
use socketioxide::socket::Sid;
use tokio::sync::Notify;

use crate::{
    presence_batch::PresenceBatch,
    redis::{LinkError, presence::Presence},
    warnings::Warnings,
};

/// Heartbeats between two full comparisons when the counts agree.
pub(crate) const FULL_EVERY: u64 = 10;

/// How long departures gather before their ids leave the hash together ([`remove_departed`]).
const DEPART_WINDOW: Duration = Duration::from_millis(20);

/// The members this instance has announced, by public id, each with the socket holding it.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    listed: Mutex<HashMap<String, Listed>>,
    /// Ids unlisted and not yet removed from the hash.
    departed: Mutex<Vec<String>>,
    departing: Notify,
}

#[derive(Debug)]
struct Listed {
    holder: Sid,
    member: Arc<Mutex<Member>>,
}

impl Roster {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Listed>> {
        self.listed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lists public id `id` as held by socket `holder`, whose member record is `member` (read
    /// when the hash needs it written again).
    pub(crate) fn list(&self, id: &str, holder: Sid, member: Arc<Mutex<Member>>) {
        self.lock().insert(id.to_owned(), Listed { holder, member });
    }

    /// Unlists `id` if socket `holder` holds it; whether it did (otherwise a newer socket with
    /// the same session holds it, and the id stays).
    pub(crate) fn unlist(&self, id: &str, holder: Sid) -> bool {
        let mut listed = self.lock();
        match listed.get(id) {
            Some(l) if l.holder == holder => {
                listed.remove(id);
                true
            }
            _ => false,
        }
    }

    /// Queues `id`, unlisted, for removal from the hash with the others of its moment
    /// ([`remove_departed`]).
    pub(crate) fn departed(&self, id: String) {
        self.departed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(id);
        self.departing.notify_one();
    }

    /// The queued departures whose ids no socket listed again meanwhile (a session taken up by a
    /// new socket on this instance keeps its field).
    fn take_departed(&self) -> Vec<String> {
        let listed = self.lock();
        let mut departed = self.departed.lock().unwrap_or_else(|p| p.into_inner());
        let mut ids = std::mem::take(&mut *departed);
        ids.retain(|id| !listed.contains_key(id));
        ids
    }

    /// How many public ids are listed.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Against the ids the hash holds: the ones no local socket holds, and the members missing.
    fn compare(&self, stored: Vec<String>) -> (Vec<String>, Vec<Member>) {
        let listed = self.lock();
        let stored: HashSet<String> = stored.into_iter().collect();
        let missing = listed
            .iter()
            .filter(|(id, _)| !stored.contains(*id))
            .map(|(_, l)| l.member.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect();
        let extra = stored
            .into_iter()
            .filter(|id| !listed.contains_key(id))
            .collect();
        (extra, missing)
    }
}

/// What one [`sync`] changed in the hash.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Repaired {
    /// Members removed: no local socket holds them.
    pub(crate) removed: usize,
    /// Members written again: a local socket holds them and the hash did not.
    pub(crate) restored: usize,
}

/// Removes departed members' fields from `own`'s presence hash, those of every
/// [`DEPART_WINDOW`] in one `HDEL` (of at most 500 fields). One command per departure made a mass
/// disconnect (100,000 clients leaving a run) queue tens of thousands of commands on the link,
/// where everything else then waited. A removal that fails is left to the heartbeat's repair
/// ([`sync`]), like any failed presence write; so is a member listed again between the check and
/// the `HDEL` (its field removed until the next beat, whose count differs).
pub(crate) async fn remove_departed(
    roster: &Roster,
    presence: &Presence,
    own: &str,
    warnings: &Warnings,
) {
    loop {
        roster.departing.notified().await;
        tokio::time::sleep(DEPART_WINDOW).await;
        let ids = roster.take_departed();
        if ids.is_empty() {
            continue;
        }
        if let Err(e) = presence.remove_many(own, &ids).await {
            warnings.warn_times("presence not removed", &e, ids.len() as u64);
        }
    }
}

/// One heartbeat's presence work for instance `own`: compares its hash with `roster` (fully when
/// `full`, otherwise only when the counts differ), repairs it, tells the subscribers through
/// `batch`, and extends the hash's TTL.
pub(crate) async fn sync(
    roster: &Roster,
    presence: &Presence,
    own: &str,
    batch: &PresenceBatch,
    full: bool,
) -> Result<Repaired, LinkError> {
    let mut repaired = Repaired::default();
    if full || presence.len(own).await? != roster.len() {
        let (extra, missing) = roster.compare(presence.ids(own).await?);
        if !extra.is_empty() {
            presence.remove_many(own, &extra).await?;
            repaired.removed = extra.len();
            for id in extra {
                batch.push(PresenceDelta::Leave {
                    id,
                    instance: Some(own.to_owned()),
                });
            }
        }
        if !missing.is_empty() {
            presence.upsert_many(own, &missing).await?;
            repaired.restored = missing.len();
            for member in missing {
                batch.push(PresenceDelta::Upsert { member });
            }
        }
    }
    presence.refresh(own).await?;
    Ok(repaired)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use gridcast_shared::presence::Member;
    use socketioxide::socket::Sid;

    use super::Roster;

    fn member(id: &str) -> Arc<Mutex<Member>> {
        Arc::new(Mutex::new(Member {
            id: id.into(),
            instance: "i".into(),
            instance_url: "http://i".into(),
            name: String::new(),
            since: 0,
            rooms: vec![],
        }))
    }

    #[test]
    fn only_the_holder_unlists_and_the_comparison_finds_ghosts_and_gaps() {
        let roster = Roster::default();
        let (old, new) = (Sid::new(), Sid::new());
        roster.list("a", old, member("a"));
        // A newer socket takes the session over on this instance: it holds "a" now.
        roster.list("a", new, member("a"));
        assert!(
            !roster.unlist("a", old),
            "the old socket leaves, the id stays"
        );
        roster.list("b", old, member("b"));
        assert_eq!(roster.len(), 2);
        let (extra, missing) = roster.compare(vec!["a".into(), "ghost".into()]);
        assert_eq!(extra, vec!["ghost".to_owned()]);
        assert_eq!(missing.into_iter().map(|m| m.id).collect::<Vec<_>>(), ["b"]);
        assert!(roster.unlist("a", new));
        assert_eq!(roster.len(), 1);
    }

    #[test]
    fn departures_leave_together_unless_listed_again() {
        let roster = Roster::default();
        let (a, b, c) = (Sid::new(), Sid::new(), Sid::new());
        for (id, sid) in [("a", a), ("b", b), ("c", c)] {
            roster.list(id, sid, member(id));
        }
        for (id, sid) in [("a", a), ("b", b)] {
            assert!(roster.unlist(id, sid));
            roster.departed(id.into());
        }
        // "b"'s session comes back on a new socket of this instance before the batch goes.
        roster.list("b", Sid::new(), member("b"));
        assert_eq!(roster.take_departed(), ["a"]);
        assert!(roster.take_departed().is_empty());
    }
}
