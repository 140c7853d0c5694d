//! Presence across instances, with a real Redis: who is connected where, paged, batched, and
//! rebuilt after faults.

use std::time::{Duration, Instant};

use crate::support::{QUIET, WAIT, client, instances, redis, watcher};
use gridcast_server::{
    free_port,
    tools::probe::{Incoming, Probe},
};
use gridcast_shared::{
    Changed, Members, RejectionCode, Reply, Sent, event,
    presence::{Member, PresenceDelta, Routed},
};
use serde_json::{Value, json};

pub(crate) async fn op(probe: &mut Probe, name: &str, arg: Value) -> Reply<Changed> {
    let ack = probe.emit_with_ack(name, vec![arg], WAIT).await.unwrap();
    serde_json::from_value(ack[0].clone()).unwrap()
}

pub(crate) fn member(reply: Reply<Changed>) -> Member {
    match reply {
        Reply::Ok(Changed { member }) => member,
        Reply::Err(error) => panic!("refused: {error:?}"),
    }
}

pub(crate) fn refusal(reply: Reply<Changed>) -> (RejectionCode, String) {
    match reply {
        Reply::Err(error) => (error.code, error.message),
        Reply::Ok(changed) => panic!("accepted: {changed:?}"),
    }
}

/// The presence list: a small cluster's is one page.
pub(crate) async fn snapshot(probe: &mut Probe) -> Vec<Member> {
    only_page(probe, vec![]).await
}

/// The page `presence` answers with `args`, which must be the last one.
async fn only_page(probe: &mut Probe, args: Vec<Value>) -> Vec<Member> {
    let ack = probe
        .emit_with_ack(event::PRESENCE, args, WAIT)
        .await
        .unwrap();
    match serde_json::from_value(ack[0].clone()) {
        Ok(Reply::Ok(Members {
            members,
            next: None,
        })) => members,
        other => panic!("{other:?}: {ack:?}"),
    }
}

fn ids(members: Vec<Member>) -> std::collections::HashSet<String> {
    members.into_iter().map(|m| m.id).collect()
}

pub(crate) async fn send(probe: &mut Probe, name: &str, arg: Value) -> Reply<Sent> {
    let ack = probe.emit_with_ack(name, vec![arg], WAIT).await.unwrap();
    serde_json::from_value(ack[0].clone()).unwrap()
}

pub(crate) async fn next_routed(probe: &mut Probe, name: &str) -> Routed {
    serde_json::from_value(probe.next_event(name, WAIT).await.unwrap()[0].clone()).unwrap()
}

/// Waits for a presence delta matching `pred` (deltas come in batches: arrays).
async fn wait_delta(probe: &mut Probe, pred: impl Fn(&PresenceDelta) -> bool) -> PresenceDelta {
    loop {
        let args = probe
            .next_event(event::PRESENCE, WAIT)
            .await
            .expect("a presence delta");
        let batch: Vec<PresenceDelta> = serde_json::from_value(args[0].clone()).unwrap();
        if let Some(delta) = batch.into_iter().find(&pred) {
            return delta;
        }
    }
}

#[tokio::test]
async fn presence_follows_connects_renames_and_disconnects_on_any_instance() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut b = watcher(&cluster[1]).await;
    // Asking for the list subscribes to its changes.
    snapshot(&mut b).await;
    let mut a = client(&cluster[0]).await;
    let a_sid = a.id().to_owned();
    let a_instance = cluster[0].instances().next().unwrap().info.clone();

    // B (on the other instance) hears that A connected, then that A renamed itself.
    wait_delta(
        &mut b,
        |d| matches!(d, PresenceDelta::Upsert { member } if member.id == a_sid),
    )
    .await;
    let me = member(op(&mut a, event::SET_NAME, json!({"name": "Ada"})).await);
    assert_eq!(
        (me.name.as_str(), me.instance.as_str()),
        ("Ada", a_instance.id.as_str())
    );
    let started = Instant::now();
    wait_delta(&mut b, |d| matches!(d, PresenceDelta::Upsert { member } if member.id == a_sid && member.name == "Ada")).await;
    // A pushed delta, not the 2 s snapshot refresh: well under a second even on a slow machine.
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "rename seen on the other instance after {took:?}"
    );

    let all = snapshot(&mut b).await;
    let ada = all.iter().find(|m| m.id == a_sid).expect("A listed");
    assert_eq!(
        (ada.name.as_str(), ada.instance_url.as_str()),
        ("Ada", a_instance.url.as_str())
    );
    assert!(all.iter().any(|m| m.id == b.id()), "B lists itself");

    a.close();
    wait_delta(
        &mut b,
        |d| matches!(d, PresenceDelta::Leave { id, instance } if *id == a_sid && instance.as_ref() == Some(&a_instance.id)),
    )
    .await;
    assert!(!snapshot(&mut b).await.iter().any(|m| m.id == a_sid));
}

/// A connect storm costs each instance one batch per window, sent only to the clients that asked
/// for the list: those get every arrival, coalesced; the others get no presence traffic at all.
#[tokio::test]
async fn a_large_list_comes_in_pages_and_hostile_page_requests_are_refused() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let clients = futures_util::future::join_all((0..5).map(|n| client(&cluster[n % 2]))).await;
    let mut asker = client(&cluster[0]).await;
    let mut everyone: std::collections::HashSet<String> =
        clients.iter().map(|p| p.id().to_owned()).collect();
    everyone.insert(asker.id().to_owned());

    // A client is announced just after its `welcome`: under load, the last announcements may
    // still be on their way. Once one full list has everyone, so must the pages.
    let deadline = Instant::now() + WAIT;
    loop {
        let all: std::collections::HashSet<String> = snapshot(&mut asker)
            .await
            .into_iter()
            .map(|m| m.id)
            .collect();
        if all == everyone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "listed {all:?}, expected {everyone:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Pages of (about: HSCAN's COUNT is a hint) one member, instance after instance; every
    // member is on a page, and the last page says so.
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let mut listed = std::collections::HashSet::new();
    loop {
        let page = json!({"cursor": cursor, "limit": 1});
        let ack = asker
            .emit_with_ack(event::PRESENCE, vec![page], WAIT)
            .await
            .unwrap();
        let Ok(Reply::Ok(Members { members, next })) = serde_json::from_value(ack[0].clone())
        else {
            panic!("{ack:?}")
        };
        pages += 1;
        // Only the last page may be empty (a hash's scan can end with an empty read).
        assert!(
            !members.is_empty() || next.is_none(),
            "page {pages} is empty"
        );
        listed.extend(members.into_iter().map(|m| m.id));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "the paging ends");
    }
    assert!(pages >= 2, "at least a page per instance, got {pages}");
    assert_eq!(listed, everyone);

    // Bad pages are refused with a readable reason; the connection and the list are unharmed.
    let too_long = format!("1:{}", "a".repeat(65));
    let hostile = [
        json!({"cursor": "nonsense"}),
        json!({"cursor": "18446744073709551616:a1b2c3d4"}),
        json!({"cursor": too_long}),
        json!({"cursor": 7}),
        json!({"limit": 0}),
        json!({"limit": 501}),
        json!("presence please"),
    ];
    for arg in hostile {
        let ack = asker
            .emit_with_ack(event::PRESENCE, vec![arg.clone()], WAIT)
            .await
            .unwrap();
        match serde_json::from_value::<Reply<Members>>(ack[0].clone()) {
            Ok(Reply::Err(error)) => {
                assert_eq!(error.code, RejectionCode::BadRequest, "{arg}: {error:?}");
                assert!(
                    error.message.contains("cursor")
                        || error.message.contains("limit")
                        || error.message.contains("expected"),
                    "{arg}: {}",
                    error.message
                );
            }
            other => panic!("{arg} accepted: {other:?}"),
        }
    }
    // A cursor of an instance that is gone is not an error: the paging goes on after it.
    let after_gone = only_page(&mut asker, vec![json!({"cursor": "0:00000000"})]).await;
    assert_eq!(ids(after_gone), everyone);
    assert_eq!(snapshot(&mut asker).await.len(), everyone.len());
    // `null` is no argument (JavaScript's `emit("presence", undefined, ack)`).
    assert_eq!(
        ids(only_page(&mut asker, vec![Value::Null]).await),
        everyone
    );
}

#[tokio::test]
async fn presence_changes_are_batched_and_only_go_to_subscribers() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut subscriber = watcher(&cluster[1]).await;
    snapshot(&mut subscriber).await;
    let mut bystander = watcher(&cluster[1]).await;

    // Arriving together, on both instances.
    let arrivals = futures_util::future::join_all((0..20).map(|n| client(&cluster[n % 2]))).await;
    let ids: std::collections::HashSet<String> =
        arrivals.iter().map(|p| p.id().to_owned()).collect();
    let mut seen = std::collections::HashSet::new();
    let mut batches = 0;
    while !ids.is_subset(&seen) {
        let args = subscriber
            .next_event(event::PRESENCE, WAIT)
            .await
            .expect("the arrivals are announced");
        let batch: Vec<PresenceDelta> = serde_json::from_value(args[0].clone()).unwrap();
        batches += 1;
        for delta in batch {
            if let PresenceDelta::Upsert { member } = delta {
                seen.insert(member.id);
            }
        }
    }
    assert!(
        batches < ids.len(),
        "{} arrivals in {batches} batches: changes are coalesced",
        ids.len()
    );
    let told: Vec<_> = bystander
        .drain(QUIET)
        .await
        .into_iter()
        .filter(|i| matches!(i, Incoming::Event { event, .. } if event == event::PRESENCE))
        .collect();
    assert!(told.is_empty(), "a client that never asked: {told:?}");
}

#[tokio::test]
async fn clients_of_a_killed_instance_leave_presence_with_it() {
    let redis = redis().await;
    let cluster = instances(&redis, 1).await;
    let mut a = client(&cluster[0]).await;
    let port = free_port().unwrap();
    let mut child = crate::support::spawn_gridcast(port, &redis.url());
    let victim = crate::support::connect_with_retry(&format!("http://127.0.0.1:{port}")).await;
    let victim_sid = victim.id().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !snapshot(&mut a).await.iter().any(|m| m.id == victim_sid) {
        assert!(Instant::now() < deadline, "victim never listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let killed = Instant::now();
    while snapshot(&mut a).await.iter().any(|m| m.id == victim_sid) {
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "victim still listed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Its presence expires with its registry entry (3 s TTL, read every 200 ms here).
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "killed instance's client left presence after {took:?}"
    );
}

#[tokio::test]
async fn presence_is_rebuilt_after_redis_restarts_empty() {
    let mut redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut a = client(&cluster[0]).await;
    let mut b = client(&cluster[1]).await;
    member(op(&mut a, event::SET_NAME, json!({"name": "Ada"})).await);

    // The private Redis keeps nothing on disk: it comes back empty.
    redis.stop().await;
    redis.restart().await.unwrap();
    let back = Instant::now();
    let a_sid = a.id().to_owned();
    loop {
        let ack = b
            .emit_with_ack(event::PRESENCE, vec![], WAIT)
            .await
            .unwrap();
        if let Ok(Reply::Ok(Members { members: all, .. })) = serde_json::from_value(ack[0].clone())
            && all.iter().any(|m| m.id == a_sid && m.name == "Ada")
            && all.iter().any(|m| m.id == b.id())
        {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "presence not rebuilt: {ack:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The next heartbeats (every second) write it again.
    let took = back.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "presence rebuilt {took:?} after Redis came back empty"
    );
}
