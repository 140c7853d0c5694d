//! Interop with an implementation we did not write: the official socket.io-client (npm, pinned in
//! interop/package-lock.json) on both transports, against our instances and our own client.

mod support;

use gridcast_shared::{MessageMeta, event};
use serde_json::{Value, json};
use support::{QUIET, WAIT, client, instances, js::JsClient, redis, url};

#[tokio::test]
async fn official_js_client_on_websocket_and_polling_exchanges_messages_with_ours_across_instances()
{
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut ws = JsClient::connect(&url(&cluster[0]), "websocket").await;
    let mut polling = JsClient::connect(&url(&cluster[1]), "polling").await;
    let mut ours = client(&cluster[1]).await;

    // A plain `socket.emit("message", text)` as in the reference Node.js setup reaches everyone,
    // the sender included, with the string as the first argument.
    ws.command(json!({"emit": ["message", "from js websocket"]}))
        .await;
    for js in [&mut ws, &mut polling] {
        let args = js.next_event(event::MESSAGE).await;
        assert_eq!(args[0], "from js websocket");
    }
    let (text, meta) = ours.next_message(WAIT).await.unwrap();
    assert_eq!(text, "from js websocket");
    assert_eq!(meta.unwrap().sender, ws.id);

    // Over long-polling, with an ack callback.
    polling
        .command(json!({"emit_ack": ["message", "from js polling"], "id": 1}))
        .await;
    let ack = polling.next_of("ack").await;
    assert_eq!(ack["args"][0]["ok"], true, "{ack}");
    assert_eq!(ack["args"][0]["delivery"], "cluster", "{ack}");
    assert_eq!(
        polling.next_event(event::MESSAGE).await[0],
        "from js polling"
    );
    assert_eq!(ws.next_event(event::MESSAGE).await[0], "from js polling");
    assert_eq!(ours.next_message(WAIT).await.unwrap().0, "from js polling");

    // Our client to theirs, with provenance they can read.
    ours.emit(event::MESSAGE, vec![json!("from our client")])
        .unwrap();
    for js in [&mut ws, &mut polling] {
        let args = js.next_event(event::MESSAGE).await;
        assert_eq!(args[0], "from our client");
        let meta: MessageMeta = serde_json::from_value(args[1].clone()).unwrap();
        assert_eq!(meta.sender, ours.id());
    }
    assert_eq!(ours.next_message(WAIT).await.unwrap().0, "from our client");

    // Their bad input gets a readable error event, and nothing is broadcast.
    ws.command(json!({"emit": ["message", 42]})).await;
    let error = ws.next_event(event::ERROR).await;
    assert_eq!(error[0]["code"], "not_a_string", "{error:?}");
    assert!(
        error[0]["message"]
            .as_str()
            .unwrap()
            .contains("must be a string")
    );

    // Exactly once: nothing else is pending anywhere.
    assert_eq!(ws.quiet().await, Vec::<Value>::new());
    assert_eq!(polling.quiet().await, Vec::<Value>::new());
    assert!(ours.drain(QUIET).await.is_empty());
}
