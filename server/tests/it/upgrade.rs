//! A client on HTTP long-polling that upgrades to WebSocket, as the stock client does, gets
//! everything once: the packets a long-poll response held back (they did not fit in its payload
//! limit) included. engineioxide 0.17 dropped them on the upgrade (`vendor/engineioxide.patch`).

use std::collections::BTreeSet;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{WAIT, client, get, instances, redis, request, url, watcher};
use gridcast_shared::event;

/// Messages sent: ~4 KB each, so one long-poll response (at most 256 KiB) takes about 60.
const MESSAGES: usize = 100;

/// The message numbers in `text` (`"UP <n> …"`).
fn numbers(text: &str) -> Vec<usize> {
    text.split("\"UP ")
        .skip(1)
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect()
}

#[tokio::test]
async fn an_upgrade_from_polling_loses_nothing_a_poll_held_back() {
    let redis = redis().await;
    let cluster = instances(&redis, 1).await.remove(0);
    let base = url(&cluster);
    let polling = format!("{base}/socket.io/?EIO=4&transport=polling");
    let open = get(&polling).await;
    let sid = serde_json::from_str::<Value>(&open[1..]).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let poll = format!("{polling}&sid={sid}");
    assert_eq!(request("POST", &poll, "40").await.0, 200);
    // The CONNECT reply, then the welcome.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !get(&poll).await.contains(event::WELCOME) {
        assert!(tokio::time::Instant::now() < deadline, "no welcome");
    }

    // A burst while the client does not poll, from a few senders (each has its own budget).
    let mut watching = watcher(&cluster).await;
    let mut senders = Vec::new();
    for _ in 0..4 {
        senders.push(client(&cluster).await);
    }
    for n in 0..MESSAGES {
        let text = format!("UP {n} {}", "x".repeat(4000));
        let count = senders.len();
        senders[n % count]
            .emit_with_ack(event::MESSAGE, vec![json!(text)], WAIT)
            .await
            .unwrap();
    }
    // Delivered to every socket together: once the watcher has them all, so has the buffer.
    for _ in 0..MESSAGES {
        watching.next_message(WAIT).await.unwrap();
    }

    let polled = numbers(&get(&poll).await);
    assert!(
        !polled.is_empty() && polled.len() < MESSAGES,
        "one poll took {} messages: the test needs a poll that holds some back",
        polled.len()
    );
    let ws_url = format!(
        "{}/socket.io/?EIO=4&transport=websocket&sid={sid}",
        base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    ws.send(Message::text("2probe")).await.unwrap();
    let mut upgraded = Vec::new();
    let mut probed = false;
    let deadline = tokio::time::Instant::now() + WAIT;
    while polled.len() + upgraded.len() < MESSAGES {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(left, ws.next()).await else {
            break;
        };
        if text.as_str() == "3probe" && !probed {
            probed = true;
            ws.send(Message::text("5")).await.unwrap();
        }
        upgraded.extend(numbers(text.as_str()));
    }
    let all: BTreeSet<usize> = polled.iter().chain(&upgraded).copied().collect();
    let missing: Vec<usize> = (0..MESSAGES).filter(|n| !all.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "missing {missing:?} (polled {} up to {:?}, then {} over WebSocket)",
        polled.len(),
        polled.last(),
        upgraded.len()
    );
    assert_eq!(
        polled.len() + upgraded.len(),
        MESSAGES,
        "a message came twice"
    );
}
