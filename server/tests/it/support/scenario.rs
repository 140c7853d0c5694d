//! Scenarios run against more than one kind of Redis (one server, a Redis Cluster), and the
//! helpers they share.

use std::time::Duration;

use gridcast_server::{
    Cluster,
    tools::probe::{Incoming, Probe},
};
use gridcast_shared::{
    Delivery, MessageMeta, Reply, Sent, Welcome, event, presence::Routed, reply::Members,
};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{QUIET, WAIT, client, url};

/// Sends `event` with `args` and returns the accepted message's id and delivery.
pub async fn send(probe: &mut Probe, event: &str, args: Vec<Value>) -> (String, Delivery) {
    let ack = probe.emit_with_ack(event, args, WAIT).await.unwrap();
    match serde_json::from_value(ack[0].clone()).unwrap() {
        Reply::<Sent>::Ok(Sent { id, delivery }) => (id, delivery),
        err => panic!("{event} rejected: {err:?}"),
    }
}

/// Sends a `set_name`, `join` or `leave` and checks it was accepted.
pub async fn change(probe: &mut Probe, event: &str, arg: Value) {
    let ack = probe.emit_with_ack(event, vec![arg], WAIT).await.unwrap();
    assert_eq!(ack[0]["ok"], true, "{event}: {ack:?}");
}

/// The metadata of a missable broadcast (`message`, `room_message`, `direct`).
pub fn meta_of(event: &str, args: &[Value]) -> Option<MessageMeta> {
    match event {
        event::MESSAGE => serde_json::from_value(args.get(1)?.clone()).ok(),
        event::ROOM_MESSAGE | event::DIRECT => {
            serde_json::from_value::<Routed>(args.first()?.clone())
                .ok()
                .map(|r| r.meta)
        }
        _ => None,
    }
}

/// The next missable broadcast: (event, meta).
pub async fn next_broadcast(probe: &mut Probe, wait: Duration) -> Option<(String, MessageMeta)> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match probe.next(left).await {
            Ok(Incoming::Event { event, args, .. }) => {
                if let Some(meta) = meta_of(&event, &args) {
                    return Some((event, meta));
                }
            }
            _ => return None,
        }
    }
}

pub async fn connect_with(base: &str, auth: Value) -> (Probe, Welcome) {
    let mut probe = Probe::connect_with(base, Some(auth)).await.unwrap();
    let welcome = probe.welcome(WAIT).await.unwrap();
    probe.ignore(event::PRESENCE);
    (probe, welcome)
}

/// What one sending client sent: when (after `start`), the message id, and the delivery.
pub type SentLog = Vec<(Duration, String, Delivery)>;

/// Each `(instance index, client index, probe)` sends a numbered `message` every 100 ms until
/// `send_for` after `start`; each task gives back its instance index, its probe and what it sent.
pub fn send_steadily(
    connected: Vec<(usize, usize, Probe)>,
    start: Instant,
    send_for: Duration,
) -> Vec<tokio::task::JoinHandle<(usize, Probe, SentLog)>> {
    connected
        .into_iter()
        .map(|(n, k, mut probe)| {
            tokio::spawn(async move {
                let mut sent = Vec::new();
                let mut i = 0;
                while start.elapsed() < send_for {
                    let text = format!("c{n}.{k}-{i}");
                    let (id, delivery) = send(&mut probe, event::MESSAGE, vec![json!(text)]).await;
                    sent.push((start.elapsed(), id, delivery));
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                (n, probe, sent)
            })
        })
        .collect()
}

/// A client leaves instance A, misses broadcasts, a room message and a direct message, and comes
/// back on instance B with its offset and session: it gets exactly what it missed, in order,
/// once, then live messages, with its name and rooms restored. Every feature that touches Redis
/// is in it: the history (transport and replay), sessions, rooms, direct messages, presence and
/// the registry.
pub async fn client_back_on_another_instance(cluster: &[Cluster]) {
    let (a, b) = (url(&cluster[0]), url(&cluster[1]));

    let (mut x, welcome) = connect_with(&a, json!({})).await;
    assert!(!welcome.restored);
    assert_eq!(welcome.recovery, None);
    assert_eq!(welcome.session.len(), 32);
    assert_ne!(welcome.session, welcome.id);
    let x_id = welcome.id.clone();
    let token = welcome.session.clone();
    change(&mut x, event::SET_NAME, json!({"name": "Xavier"})).await;
    change(&mut x, event::JOIN, json!({"room": "ops"})).await;
    let mut y = client(&cluster[1]).await;
    change(&mut y, event::JOIN, json!({"room": "ops"})).await;
    let mut z = client(&cluster[0]).await;

    send(&mut y, event::MESSAGE, vec![json!("before")]).await;
    let (_, seen) = next_broadcast(&mut x, WAIT).await.unwrap();
    let offset = seen.offset.expect("every broadcast carries an offset");
    x.close();

    // While X is away: broadcasts from both instances, a room message, a direct message.
    let mut missed = Vec::new();
    missed.push(send(&mut y, event::MESSAGE, vec![json!("m1")]).await.0);
    missed.push(send(&mut z, event::MESSAGE, vec![json!("m2")]).await.0);
    missed.push(
        send(
            &mut y,
            event::ROOM_MESSAGE,
            vec![json!({"room": "ops", "text": "r1"})],
        )
        .await
        .0,
    );
    missed.push(
        send(
            &mut y,
            event::DIRECT,
            vec![json!({"to": x_id, "text": "d1"})],
        )
        .await
        .0,
    );
    // Not for X: a room it is not in.
    change(&mut z, event::JOIN, json!({"room": "other"})).await;
    send(
        &mut z,
        event::ROOM_MESSAGE,
        vec![json!({"room": "other", "text": "no"})],
    )
    .await;
    missed.push(send(&mut z, event::MESSAGE, vec![json!("m3")]).await.0);
    // Y has seen the last one, so everything is in the history.
    let deadline = Instant::now() + WAIT;
    while next_broadcast(&mut y, WAIT).await.unwrap().1.id != *missed.last().unwrap() {
        assert!(Instant::now() < deadline);
    }

    let (mut x, welcome) =
        connect_with(&b, json!({"offset": offset.to_string(), "session": token})).await;
    assert!(welcome.restored, "the session token restores the session");
    assert_eq!(welcome.id, x_id, "same public id");
    let recovery = welcome.recovery.expect("recovery outcome in welcome");
    assert!(recovery.recovered, "{recovery:?}");
    assert_eq!(recovery.replayed, Some(missed.len() as u64));
    let mut got = Vec::new();
    let mut last = offset.clone();
    for _ in 0..missed.len() {
        let (_, meta) = next_broadcast(&mut x, WAIT)
            .await
            .expect("replayed message");
        let at = meta
            .offset
            .clone()
            .expect("replayed messages carry offsets");
        assert!(at.at > last.at, "offsets increase: {at} after {last}");
        last = at;
        got.push(meta.id);
    }
    assert_eq!(got, missed, "everything missed, in order, once");

    // Then live, without a duplicate, and the session's name and room are back.
    let (live, _) = send(
        &mut y,
        event::ROOM_MESSAGE,
        vec![json!({"room": "ops", "text": "r2"})],
    )
    .await;
    assert_eq!(next_broadcast(&mut x, WAIT).await.unwrap().1.id, live);
    assert_eq!(next_broadcast(&mut x, QUIET).await, None, "nothing twice");
    let ack = x
        .emit_with_ack(event::PRESENCE, vec![], WAIT)
        .await
        .unwrap();
    let Reply::Ok(Members { members, .. }) = serde_json::from_value(ack[0].clone()).unwrap() else {
        panic!("presence refused");
    };
    let me = members.iter().find(|m| m.id == x_id).expect("listed");
    assert_eq!(me.name, "Xavier");
    assert_eq!(me.rooms, vec!["ops".to_owned()]);
    assert_eq!(me.instance_url, b);
}
