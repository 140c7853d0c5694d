//! The presence store: the members the page knows, kept by snapshots and deltas, and grouped
//! by instance for the sidebar.
//!
//! Invariants: a delta never lists a member twice (by id): an upsert replaces a known member in
//! place, keeping the store's order; groups are sorted by instance URL, each in the store's
//! order.

use gridcast_shared::presence::{Member, PresenceDelta};

/// Replaces the member with `member`'s id, or adds it.
pub fn upsert(members: &mut Vec<Member>, member: Member) {
    match members.iter_mut().find(|m| m.id == member.id) {
        Some(m) => *m = member,
        None => members.push(member),
    }
}

/// Applies a presence delta to the store. A leave from one instance keeps a member of that id
/// listed on another (its session moved or was taken over there, and the old socket's leave
/// came after the new one's arrival).
pub fn apply(members: &mut Vec<Member>, delta: PresenceDelta) {
    match delta {
        PresenceDelta::Upsert { member } => upsert(members, member),
        PresenceDelta::Leave { id, instance } => members
            .retain(|m| m.id != id || instance.as_ref().is_some_and(|left| *left != m.instance)),
    }
}

/// Members grouped by instance URL (sorted), each group in the store's order.
pub fn by_instance(members: &[Member]) -> Vec<(String, Vec<Member>)> {
    let mut groups: Vec<(String, Vec<Member>)> = Vec::new();
    for m in members {
        match groups.iter_mut().find(|(url, _)| *url == m.instance_url) {
            Some((_, ms)) => ms.push(m.clone()),
            None => groups.push((m.instance_url.clone(), vec![m.clone()])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, url: &str, name: &str) -> Member {
        Member {
            id: id.into(),
            instance: "i".into(),
            instance_url: url.into(),
            name: name.into(),
            since: 0,
            rooms: vec![],
        }
    }

    #[test]
    fn presence_store_follows_deltas_and_groups_by_instance() {
        let mut members = vec![member("1", "http://b", "")];
        apply(
            &mut members,
            PresenceDelta::Upsert {
                member: member("2", "http://a", "Ada"),
            },
        );
        apply(
            &mut members,
            PresenceDelta::Upsert {
                member: member("1", "http://b", "Bob"),
            },
        );
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].name, "Bob");
        let groups = by_instance(&members);
        assert_eq!(groups[0].0, "http://a");
        assert_eq!(groups[1].1[0].id, "1");
        // Its session moved to instance "j" before the leave from "i" came: it stays.
        let mut moved = member("1", "http://b", "Bob");
        moved.instance = "j".into();
        apply(&mut members, PresenceDelta::Upsert { member: moved });
        let leave = |instance: Option<&str>| PresenceDelta::Leave {
            id: "1".into(),
            instance: instance.map(str::to_owned),
        };
        apply(&mut members, leave(Some("i")));
        assert_eq!(members.len(), 2);
        apply(&mut members, leave(Some("j")));
        assert_eq!(members.len(), 1);
        apply(&mut members, leave(None));
        assert_eq!(members.len(), 1);
    }
}
