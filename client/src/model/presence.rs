//! The presence store (the members the page knows, kept by snapshots and deltas) and the panel's
//! view of it: groups per instance with counts, a search, collapsing, and the window of rows a
//! scrolled list puts in the page.
//!
//! Invariants: a delta never lists a member twice (by id): an upsert replaces a known member in
//! place; members of an instance the page knows is down are not shown, and every count is
//! computed from what is shown ([`Group::total`] is the rows of the group, the panel's total the
//! sum of its groups); a window never holds more than the rows in view plus the margin.

use std::ops::Range;

use gridcast_shared::presence::{Member, PresenceDelta};

/// Groups larger than this start collapsed.
pub const COLLAPSE_OVER: usize = 24;

/// Replaces the member with `member`'s id, or adds it.
pub fn upsert(members: &mut Vec<Member>, member: Member) {
    match members.iter_mut().find(|m| m.id == member.id) {
        Some(m) => *m = member,
        None => members.push(member),
    }
}

/// A snapshot's members, each id once (the last record of an id wins, as with deltas): a
/// snapshot read while a session moves between instances can list it on both.
pub fn distinct(members: Vec<Member>) -> Vec<Member> {
    let mut out = Vec::with_capacity(members.len());
    for member in members {
        upsert(&mut out, member);
    }
    out
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

/// The clients of one instance, as the panel shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The instance's base URL.
    pub url: String,
    /// Its members that match the search, ordered: you first, then by name, the anonymous last.
    pub members: Vec<Member>,
    /// Its members, search or not.
    pub total: usize,
}

/// Whether `member` matches the search `query` (in the name, ignoring ASCII case, or the id's
/// start). ASCII case only: full Unicode case tables would weigh more than the rest of the panel.
pub fn matches(member: &Member, query: &str) -> bool {
    let query = query.trim().to_ascii_lowercase();
    query.is_empty()
        || member.name.to_ascii_lowercase().contains(&query)
        || member.id.starts_with(&query)
}

/// The order of the panel's rows: you first, then by name (ASCII case ignored), the anonymous
/// last, then by id.
fn order_key(member: &Member, me: &str) -> String {
    let rank = match (member.id == me, member.name.is_empty()) {
        (true, _) => '0',
        (false, false) => '1',
        (false, true) => '2',
    };
    format!(
        "{rank}{}\u{0}{}",
        member.name.to_ascii_lowercase(),
        member.id
    )
}

/// Inserts `item` into `sorted` (ascending by `key`) after its equals: a sort by insertion,
/// whose code is a fraction of the standard library's sorts in the bundle.
fn insert_sorted<T>(sorted: &mut Vec<(String, T)>, key: String, item: T) {
    let i = sorted.partition_point(|(k, _)| *k <= key);
    sorted.insert(i, (key, item));
}

/// One instance while grouping: how many members it has, and those matching the query by their
/// order key.
type Tally<'a> = (usize, Vec<(String, &'a Member)>);

/// The panel's groups: members by instance URL (sorted), without those of instances `down`
/// says are down, filtered by `query`; `me` is this page's public id.
pub fn groups(
    members: &[Member],
    down: impl Fn(&str) -> bool,
    query: &str,
    me: &str,
) -> Vec<Group> {
    // By URL, each group's matches by their order key.
    let mut by_url: Vec<(String, Tally)> = Vec::new();
    for m in members.iter().filter(|m| !down(&m.instance_url)) {
        let i = match by_url.iter().position(|(url, _)| *url == m.instance_url) {
            Some(i) => i,
            None => {
                insert_sorted(&mut by_url, m.instance_url.clone(), (0, Vec::new()));
                by_url
                    .iter()
                    .position(|(url, _)| *url == m.instance_url)
                    .expect("just added")
            }
        };
        let (total, shown) = &mut by_url[i].1;
        *total += 1;
        if matches(m, query) {
            insert_sorted(shown, order_key(m, me), m);
        }
    }
    by_url
        .into_iter()
        .map(|(url, (total, shown))| Group {
            url,
            members: shown.into_iter().map(|(_, m)| m.clone()).collect(),
            total,
        })
        .collect()
}

/// How many shown members are in `room`.
pub fn in_room(members: &[Member], down: impl Fn(&str) -> bool, room: &str) -> usize {
    members
        .iter()
        .filter(|m| !down(&m.instance_url) && m.rooms.iter().any(|r| r == room))
        .count()
}

/// The rows of a list of `count` rows of `row` pixels, scrolled to `top` in a box `height`
/// pixels tall, that belong in the page: those in view and `margin` more on each side.
pub fn window(count: usize, top: f64, height: f64, row: f64, margin: usize) -> Range<usize> {
    let first = (top.max(0.0) / row) as usize;
    let in_view = (height.max(0.0) / row).ceil() as usize + 1;
    let start = first.saturating_sub(margin).min(count);
    let end = (first + in_view + margin).min(count);
    start..end.max(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_lists_each_id_once() {
        let a = "http://localhost:3000";
        let b = "http://localhost:3001";
        let got = distinct(vec![
            member("p", a, "x"),
            member("q", b, "y"),
            member("p", b, "x"),
        ]);
        assert_eq!(got, vec![member("p", b, "x"), member("q", b, "y")]);
    }

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
    fn presence_store_follows_deltas() {
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

    #[test]
    fn groups_count_what_they_show_and_hide_instances_that_are_down() {
        let mut members = vec![
            member("b1", "http://b", ""),
            member("me", "http://b", "Zed"),
            member("b2", "http://b", "Ada"),
            member("a1", "http://a", "Cy"),
            member("d1", "http://dead", "Ghost"),
        ];
        members[3].rooms = vec!["ops".into()];
        members[4].rooms = vec!["ops".into()];
        let down = |url: &str| url == "http://dead";
        let gs = groups(&members, down, "", "me");
        assert_eq!(
            gs.iter().map(|g| g.url.as_str()).collect::<Vec<_>>(),
            ["http://a", "http://b"]
        );
        let names: Vec<&str> = gs[1].members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["Zed", "Ada", ""],
            "you first, then by name, anonymous last"
        );
        assert_eq!(gs.iter().map(|g| g.total).sum::<usize>(), 4);
        assert_eq!(in_room(&members, down, "ops"), 1);
        // A search keeps the totals and shows the matches.
        let found = groups(&members, down, " ADA", "me");
        assert_eq!(found[1].members.len(), 1);
        assert_eq!(found[1].total, 3);
        assert!(found[0].members.is_empty());
        assert!(matches(&members[0], "b1"), "ids match by their start");
    }

    #[test]
    fn a_window_holds_the_rows_in_view_and_a_margin() {
        // 1,000 rows of 30 px in a 300 px box.
        assert_eq!(window(1000, 0.0, 300.0, 30.0, 5), 0..16);
        assert_eq!(window(1000, 3000.0, 300.0, 30.0, 5), 95..116);
        assert_eq!(window(1000, 29_700.0, 300.0, 30.0, 5), 985..1000);
        assert_eq!(window(3, 0.0, 300.0, 30.0, 5), 0..3);
        assert_eq!(window(0, 90.0, 300.0, 30.0, 5), 0..0);
        assert!(window(100_000, 1e6, 300.0, 30.0, 5).len() <= 10 + 1 + 10);
    }
}
