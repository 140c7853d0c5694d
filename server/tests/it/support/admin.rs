//! The official socket.io-client on the `/admin` namespace, as the Admin UI connects, driven
//! line by line through interop/admin-client.mjs; and gridcast processes with the Admin UI on.

use std::{collections::VecDeque, process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use super::WAIT;

/// The Admin UI password the tests use.
pub const PASSWORD: &str = "correct horse battery staple";

/// One official client on `/admin`.
pub struct AdminClient {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Items read while looking for something else, handed out first.
    skipped: VecDeque<Value>,
    /// Every line received, as sent: to search for what must never be there.
    pub transcript: String,
    next_ack: u64,
}

impl AdminClient {
    /// Connects to `base`'s `/admin` over `transport` with CONNECT `auth`; the outcome is the
    /// first item (`connected` or `connect_error`).
    pub async fn start(base: &str, transport: &str, auth: Value) -> Self {
        let dir = super::repo("interop");
        assert!(
            dir.join("node_modules/socket.io-client").is_dir(),
            "socket.io-client is not installed: run `./dev test` (or `npm ci --prefix interop`)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("admin-client.mjs"))
            .args([base, transport, &auth.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed for the interop tests");
        Self {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()).lines(),
            _child: child,
            skipped: VecDeque::new(),
            transcript: String::new(),
            next_ack: 0,
        }
    }

    /// Logged in with the tests' password, past `connected`.
    pub async fn logged_in(base: &str, transport: &str) -> Self {
        let mut admin = Self::start(
            base,
            transport,
            json!({"username": "admin", "password": PASSWORD}),
        )
        .await;
        admin.next_of("connected").await;
        admin
    }

    /// Emits `args` (the event name first) as the Admin UI does, without an ack.
    pub async fn emit(&mut self, args: Value) {
        self.command(json!({ "emit": args })).await;
    }

    /// Emits `args` with an ack callback and returns the ack's first argument.
    pub async fn emit_ack(&mut self, args: Value) -> Value {
        self.next_ack += 1;
        let id = self.next_ack;
        self.command(json!({ "emit": args, "id": id })).await;
        let ack = self
            .next_matching("an ack", |item| item["type"] == "ack" && item["id"] == id)
            .await;
        ack["args"][0].clone()
    }

    async fn command(&mut self, cmd: Value) {
        self.stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .unwrap();
    }

    /// The first item (skipped earlier or new) that `wanted` accepts, waiting up to `WAIT` for
    /// each new one; others are kept for later.
    pub async fn next_matching(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.skipped.iter().position(&wanted) {
            return self.skipped.remove(i).unwrap();
        }
        loop {
            let line = match tokio::time::timeout(WAIT, self.stdout.next_line()).await {
                Ok(Ok(Some(line))) => line,
                _ => panic!("no {what} on /admin (pending: {:?})", self.skipped),
            };
            self.transcript.push_str(&line);
            self.transcript.push('\n');
            let item: Value = serde_json::from_str(&line).unwrap();
            if wanted(&item) {
                return item;
            }
            self.skipped.push_back(item);
        }
    }

    /// The next item of `kind` (`connected`, `connect_error`, ...).
    pub async fn next_of(&mut self, kind: &str) -> Value {
        self.next_matching(kind, |item| item["type"] == kind).await
    }

    /// The arguments of the next `name` event that `wanted` accepts.
    pub async fn event_where(
        &mut self,
        name: &str,
        wanted: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let item = self
            .next_matching(name, |item| {
                item["type"] == "event"
                    && item["event"] == name
                    && wanted(
                        item["args"]
                            .as_array()
                            .map(Vec::as_slice)
                            .unwrap_or_default(),
                    )
            })
            .await;
        item["args"].as_array().unwrap().clone()
    }

    /// The arguments of the next `name` event.
    pub async fn event(&mut self, name: &str) -> Vec<Value> {
        self.event_where(name, |_| true).await
    }

    /// Reads whatever arrives within `wait` into the transcript.
    pub async fn settle(&mut self, wait: Duration) {
        while let Ok(Ok(Some(line))) = tokio::time::timeout(wait, self.stdout.next_line()).await {
            self.transcript.push_str(&line);
            self.transcript.push('\n');
            self.skipped.push_back(serde_json::from_str(&line).unwrap());
        }
    }
}
