//! Cross-instance broadcast through a real Redis: both ways, sender included, exactly once.

use std::collections::HashMap;

use crate::support::{QUIET, WAIT, client, instances, redis};
use gridcast_shared::{Delivery, Reply, Sent, event};
use serde_json::json;

#[tokio::test]
async fn two_instances_exchange_messages_both_ways_exactly_once() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut a = client(&cluster[0]).await;
    let mut b = client(&cluster[1]).await;
    let ids: Vec<String> = cluster
        .iter()
        .map(|c| c.instances().next().unwrap().info.id.clone())
        .collect();

    for (sender_is_a, text) in [(true, "hello from A"), (false, "hello from B")] {
        let (sender, other) = if sender_is_a {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let ack = sender
            .emit_with_ack(event::MESSAGE, vec![json!(text)], WAIT)
            .await
            .unwrap();
        let ack: Reply<Sent> = serde_json::from_value(ack[0].clone()).unwrap();
        let Reply::Ok(Sent { id, delivery }) = ack else {
            panic!("rejected: {ack:?}")
        };
        assert_eq!(delivery, Delivery::Cluster);

        let sender_sid = sender.id().to_owned();
        let origin = &ids[usize::from(!sender_is_a)];
        for receiver in [sender, other] {
            let (got, meta) = receiver.next_message(WAIT).await.unwrap();
            let meta = meta.expect("gridcast sends provenance");
            assert_eq!(got, text);
            assert_eq!(meta.id, id);
            assert_eq!(&meta.origin, origin);
            assert_eq!(meta.sender, sender_sid);
            assert!(
                receiver.drain(QUIET).await.is_empty(),
                "a duplicate arrived"
            );
        }
    }
}

#[tokio::test]
async fn three_instances_with_several_clients_each_receive_every_message_once() {
    let redis = redis().await;
    let cluster = instances(&redis, 3).await;
    let mut clients = Vec::new();
    for instance in &cluster {
        for _ in 0..3 {
            clients.push(client(instance).await);
        }
    }
    for (i, c) in clients.iter().enumerate() {
        c.emit(event::MESSAGE, vec![json!(format!("msg {i}"))])
            .unwrap();
    }
    let total = clients.len();
    for (i, c) in clients.iter_mut().enumerate() {
        let mut seen: HashMap<String, usize> = HashMap::new();
        while seen.len() < total {
            let (text, _) = c
                .next_message(WAIT)
                .await
                .unwrap_or_else(|e| panic!("client {i} got {} of {total}: {e}", seen.len()));
            *seen.entry(text).or_default() += 1;
        }
        assert!(
            c.drain(QUIET).await.is_empty(),
            "client {i} got extra messages"
        );
        assert!(seen.values().all(|&n| n == 1), "client {i}: {seen:?}");
        assert!((0..total).all(|k| seen.contains_key(&format!("msg {k}"))));
    }
}

#[tokio::test]
async fn text_travels_unchanged_including_markup_and_unicode() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let a = client(&cluster[0]).await;
    let mut b = client(&cluster[1]).await;
    let text = "<script>alert('x')</script> \"quotes\" \\ émoji 🚀 \n newline";
    a.emit(event::MESSAGE, vec![json!(text)]).unwrap();
    assert_eq!(b.next_message(WAIT).await.unwrap().0, text);
}
