//! Interop with an implementation we did not write: the official socket.io-client (npm, pinned in
//! interop/package-lock.json) on both transports, against our instances and our own client.

mod support;

use std::{collections::VecDeque, path::PathBuf, process::Stdio, time::Duration};

use gridcast_shared::{MessageMeta, event};
use serde_json::{Value, json};
use support::{QUIET, WAIT, client, instances, redis, url};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

/// One official socket.io-client, driven line by line through interop/client.mjs.
struct JsClient {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Items read while looking for something else, handed out first.
    skipped: VecDeque<Value>,
    sid: String,
}

impl JsClient {
    async fn connect(base: &str, transport: &str) -> Self {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../interop"));
        assert!(
            dir.join("node_modules/socket.io-client").is_dir(),
            "socket.io-client is not installed: run `./dev test` (or `npm ci --prefix interop`)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("client.mjs"))
            .args([base, transport])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed for the interop tests");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut js = Self {
            _child: child,
            stdin,
            stdout,
            skipped: VecDeque::new(),
            sid: String::new(),
        };
        let connected = js.next_of("connected").await;
        assert_eq!(connected["transport"], transport, "{connected}");
        js.sid = connected["sid"].as_str().unwrap().to_owned();
        js.next_event(event::WELCOME).await;
        js
    }

    async fn command(&mut self, cmd: Value) {
        self.stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .unwrap();
    }

    async fn next(&mut self, wait: Duration) -> Option<Value> {
        if let Some(item) = self.skipped.pop_front() {
            return Some(item);
        }
        match tokio::time::timeout(wait, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => Some(serde_json::from_str(&line).unwrap()),
            _ => None,
        }
    }

    /// The first item (skipped earlier or new) that `wanted` accepts; others are kept for later.
    async fn next_matching(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.skipped.iter().position(&wanted) {
            return self.skipped.remove(i).unwrap();
        }
        loop {
            let item = self.stdout.next_line();
            let item = match tokio::time::timeout(WAIT, item).await {
                Ok(Ok(Some(line))) => serde_json::from_str::<Value>(&line).unwrap(),
                _ => panic!(
                    "no {what} from the JS client {} (pending: {:?})",
                    self.sid, self.skipped
                ),
            };
            assert_ne!(item["type"], "connect_error", "{item}");
            assert_ne!(item["type"], "disconnected", "{item}");
            if wanted(&item) {
                return item;
            }
            self.skipped.push_back(item);
        }
    }

    async fn next_of(&mut self, kind: &str) -> Value {
        self.next_matching(kind, |item| item["type"] == kind).await
    }

    async fn next_event(&mut self, name: &str) -> Vec<Value> {
        let item = self
            .next_matching(name, |item| {
                item["type"] == "event" && item["event"] == name
            })
            .await;
        item["args"].as_array().unwrap().clone()
    }

    /// Everything but presence deltas received within [`QUIET`].
    async fn quiet(&mut self) -> Vec<Value> {
        let mut extra = Vec::new();
        while let Some(item) = self.next(QUIET).await {
            if item["event"] != event::PRESENCE {
                extra.push(item);
            }
        }
        extra
    }
}

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
    assert_eq!(meta.unwrap().sender, ws.sid);

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
        assert_eq!(meta.sender, ours.sid());
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
