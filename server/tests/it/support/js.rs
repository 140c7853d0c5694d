//! The official socket.io-client (npm, pinned in interop/package-lock.json), driven line by line
//! through interop/client.mjs: an implementation we did not write.

use std::{collections::VecDeque, process::Stdio, time::Duration};

use gridcast_shared::event;
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use super::{QUIET, WAIT};

/// One official socket.io-client, driven line by line through interop/client.mjs.
pub struct JsClient {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Items read while looking for something else, handed out first.
    skipped: VecDeque<Value>,
    /// `socket.id` as the official client sees it (with socketioxide: the Engine.IO session id).
    pub sid: String,
    /// The public id from `welcome`, what everyone else knows this client by.
    pub id: String,
    /// Driven by the zero-loss recipe of docs/protocol.md (recipe.mjs): disconnects and failed connects are expected.
    recipe: bool,
}

impl JsClient {
    pub async fn connect(base: &str, transport: &str) -> Self {
        Self::start(&[base], transport, false).await
    }

    /// A client following the recipe of docs/protocol.md over `urls`: it sends its last offset and session on
    /// every connection and moves to the next URL when its instance is gone.
    pub async fn recipe(urls: &[&str], transport: &str) -> Self {
        Self::start(urls, transport, true).await
    }

    /// [`connect`](Self::connect) with `{"token": token}` as its CONNECT auth (`--auth jwt`).
    pub async fn connect_with_token(base: &str, transport: &str, token: &str) -> Self {
        let js = Self::spawn(&[base], transport, false, Some(token));
        js.connected(transport).await
    }

    /// The message of the `connect_error` a client connecting with `token` (if any) gets.
    pub async fn refused(base: &str, transport: &str, token: Option<&str>) -> String {
        let mut js = Self::spawn(&[base], transport, false, token);
        let Some(item) = js.next(WAIT).await else {
            panic!("the JS client got neither a connection nor an error")
        };
        assert_eq!(item["type"], "connect_error", "{item}");
        item["message"].as_str().unwrap().to_owned()
    }

    async fn start(urls: &[&str], transport: &str, recipe: bool) -> Self {
        Self::spawn(urls, transport, recipe, None)
            .connected(transport)
            .await
    }

    fn spawn(urls: &[&str], transport: &str, recipe: bool, token: Option<&str>) -> Self {
        let dir = super::repo("interop");
        assert!(
            dir.join("node_modules/socket.io-client").is_dir(),
            "socket.io-client is not installed: run `./dev test` (or `npm ci --prefix interop`)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("client.mjs"))
            .args([urls.join(","), transport.to_owned()])
            .args(recipe.then_some("recipe"))
            .envs(token.map(|token| ("GRIDCAST_TOKEN", token)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed for the interop tests");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            _child: child,
            stdin,
            stdout,
            skipped: VecDeque::new(),
            sid: String::new(),
            id: String::new(),
            recipe,
        }
    }

    async fn connected(self, transport: &str) -> Self {
        let mut js = self;
        let connected = js.next_of("connected").await;
        assert_eq!(connected["transport"], transport, "{connected}");
        js.sid = connected["sid"].as_str().unwrap().to_owned();
        let welcome = js.next_event(event::WELCOME).await;
        js.id = welcome[0]["id"].as_str().unwrap().to_owned();
        assert_ne!(js.id, js.sid, "the public id is not the session id");
        js
    }

    pub async fn command(&mut self, cmd: Value) {
        self.stdin_write(&format!("{cmd}\n")).await;
    }

    /// Writes `lines` (commands, each ending in a newline) to the client in one write, so it
    /// carries them out back to back.
    pub async fn stdin_write(&mut self, lines: &str) {
        self.stdin.write_all(lines.as_bytes()).await.unwrap();
    }

    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        if let Some(item) = self.skipped.pop_front() {
            return Some(item);
        }
        match tokio::time::timeout(wait, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => Some(serde_json::from_str(&line).unwrap()),
            _ => None,
        }
    }

    /// The first item (skipped earlier or new) that `wanted` accepts; others are kept for later.
    pub async fn next_matching(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        self.next_matching_within(what, WAIT, wanted).await
    }

    /// [`next_matching`](Self::next_matching), waiting up to `wait` in all: a client that keeps
    /// printing other items (a reconnect loop) fails the test instead of holding it forever.
    pub async fn next_matching_within(
        &mut self,
        what: &str,
        wait: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.skipped.iter().position(&wanted) {
            return self.skipped.remove(i).unwrap();
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let item = self.stdout.next_line();
            let item = match tokio::time::timeout_at(deadline, item).await {
                Ok(Ok(Some(line))) => serde_json::from_str::<Value>(&line).unwrap(),
                _ => panic!(
                    "no {what} from the JS client {} (pending: {:?})",
                    self.sid, self.skipped
                ),
            };
            if !self.recipe {
                assert_ne!(item["type"], "connect_error", "{item}");
                assert_ne!(item["type"], "disconnected", "{item}");
            }
            if wanted(&item) {
                return item;
            }
            self.skipped.push_back(item);
        }
    }

    pub async fn next_of(&mut self, kind: &str) -> Value {
        self.next_matching(kind, |item| item["type"] == kind).await
    }

    pub async fn next_event(&mut self, name: &str) -> Vec<Value> {
        let item = self
            .next_matching(name, |item| {
                item["type"] == "event" && item["event"] == name
            })
            .await;
        item["args"].as_array().unwrap().clone()
    }

    /// Everything but presence deltas received until [`QUIET`] passes without one (for at most
    /// [`WAIT`], so a client that never goes quiet cannot hold the test).
    pub async fn quiet(&mut self) -> Vec<Value> {
        let mut extra = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < deadline {
            let Some(item) = self.next(QUIET).await else {
                break;
            };
            if item["event"] != event::PRESENCE {
                extra.push(item);
            }
        }
        extra
    }
}

/// Runs interop/connect-burst.mjs: `clients` official clients spread over `urls`, each sending
/// one `message` (tagged `<prefix>-<n>`, with an ack) from its `connect` callback. Returns its
/// summary: `{"acked", "echoed", "refused", "errors"}`.
pub async fn connect_burst(
    urls: &[String],
    transport: &str,
    clients: usize,
    prefix: &str,
) -> Value {
    let dir = super::repo("interop");
    let output = Command::new("node")
        .arg(dir.join("connect-burst.mjs"))
        .args([
            urls.join(","),
            transport.to_owned(),
            clients.to_string(),
            prefix.to_owned(),
        ])
        .kill_on_drop(true)
        .output()
        .await
        .expect("node must be installed for the interop tests");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("connect-burst.mjs printed no summary ({e}): {stdout}"))
}
