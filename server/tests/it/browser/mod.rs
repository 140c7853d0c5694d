//! Browser end to end: the built UI in headless Debian Chromium, driven over WebDriver. This file
//! holds the WebDriver plumbing; the scenarios are in [`messaging`] (two pages, switching,
//! presence, rooms, the grid check), [`failover`] (reconnects, an instance killed, nginx,
//! `127.0.0.1`), [`console`] (reading back under traffic, a crowd, a Redis outage, a reload,
//! 420 px), [`grid`] (the grid check against the Node.js reference cluster from the picker, during
//! a Redis outage, going stale), [`signed_in`] (a page signed in with a token) and [`admin`] (the
//! official Socket.IO Admin UI served by the cluster).
//!
//! Needs the UI built into `dist/` (`./dev test` does it) and `chromium` + `chromium-driver`
//! installed; it fails with instructions otherwise rather than skipping.

mod admin;
mod console;
mod failover;
mod grid;
mod messaging;
mod signed_in;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::redis;
use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use gridcast_server::{Cluster, PrivateRedis, ServeConfig, free_port};
use serde_json::{Value, json};

pub(super) const UI_WAIT: Duration = Duration::from_secs(20);

/// The browser tests run one at a time: two Chromiums each already fill 2 cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(super) fn dist_dir() -> PathBuf {
    let dir = crate::support::repo("dist");
    assert!(
        dir.join("index.html").is_file(),
        "the UI is not built: run `./dev test` (or `trunk build --release`) before the browser tests"
    );
    dir
}

pub(super) fn artifacts_dir() -> PathBuf {
    let dir = crate::support::repo("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves a PNG of `page` at a desktop window size as `test-artifacts/screenshots/<name>.png`, and
/// also as `docs/screenshots/<name>.png` (the pictures README shows) when `GRIDCAST_SCREENSHOTS`
/// is set, as `./dev screenshots` does: a plain `./dev test` never changes tracked files.
pub(super) async fn save_screenshot(page: &Client, name: &str) {
    page.set_window_size(1280, 800).await.unwrap();
    let png = page.screenshot().await.unwrap();
    let file = format!("{name}.png");
    let mut dirs = vec![artifacts_dir().join("screenshots")];
    if std::env::var_os("GRIDCAST_SCREENSHOTS").is_some() {
        dirs.push(crate::support::repo("docs/screenshots"));
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(&file), &png).unwrap();
        eprintln!("screenshot: {}", dir.join(&file).display());
    }
}

/// The page's first contentful paint and load timings (Chromium's paint and navigation timing,
/// milliseconds after navigation start) and bytes transferred, written to
/// `test-artifacts/first-paint.json` and the test output.
pub(super) async fn report_first_paint(page: &fantoccini::Client) {
    let timing = page
        .execute(
            "const p = performance.getEntriesByName('first-contentful-paint')[0]; \
             const n = performance.getEntriesByType('navigation')[0]; \
             return {first_contentful_paint_ms: p ? p.startTime : null, \
                     dom_content_loaded_ms: n ? n.domContentLoadedEventEnd : null, \
                     load_ms: n ? n.loadEventEnd : null, \
                     transferred_bytes: performance.getEntriesByType('resource') \
                        .reduce((sum, r) => sum + (r.transferSize || 0), n ? n.transferSize : 0), \
                     decoded_bytes: performance.getEntriesByType('resource') \
                        .reduce((sum, r) => sum + (r.decodedBodySize || 0), n ? n.decodedBodySize : 0)};",
            vec![],
        )
        .await
        .unwrap();
    let fcp = timing["first_contentful_paint_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("Chromium reported no first contentful paint: {timing}"));
    assert!(fcp > 0.0, "{timing}");
    // The UI's files travel compressed (brotli or gzip): the wasm shrinks to about 40 %.
    let (sent, decoded) = (
        timing["transferred_bytes"].as_f64().unwrap(),
        timing["decoded_bytes"].as_f64().unwrap(),
    );
    assert!(sent < decoded * 0.6, "not compressed: {timing}");
    eprintln!("UI timing on localhost: {timing}");
    std::fs::write(
        artifacts_dir().join("first-paint.json"),
        serde_json::to_string_pretty(&timing).unwrap(),
    )
    .unwrap();
}

/// `instances` instances in one process on `redis`, serving the built UI.
pub(super) async fn ui_cluster(redis: &PrivateRedis, instances: usize) -> Cluster {
    let mut config = ServeConfig::new(vec![0; instances], Some(redis.url()));
    config.static_dir = dist_dir();
    Cluster::start(config).await.unwrap()
}

/// chromedriver in its own process group, killed with every browser it started when dropped.
pub(super) struct Driver {
    child: Child,
    url: String,
    _profile: TempDir,
}

impl Driver {
    async fn start() -> Self {
        let port = free_port().unwrap();
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .expect("chromedriver must be installed for the browser tests (apt-get install chromium chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            url,
            _profile: TempDir::new(),
        }
    }

    async fn browser(&self) -> Client {
        let profile = TempDir::new();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--no-first-run",
                    "--disable-sync", "--window-size=1200,760",
                    format!("--user-data-dir={}", profile.0.display()),
                ]
            }
        });
        std::mem::forget(profile); // Chromium owns it until the process group dies; it lives in /tmp.
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session starts")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Kill chromedriver and the browsers it started (same process group).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

pub(super) struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("gridcast-e2e-{:08x}", rand_u32()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id().rotate_left(16)
}

/// Polls a JavaScript expression until it is truthy.
pub(super) async fn wait_js(page: &Client, what: &str, expr: &str, args: Vec<Value>) -> Value {
    wait_js_within(page, what, expr, args, UI_WAIT).await
}

/// Polls a JavaScript expression until it is truthy, for at most `within`.
pub(super) async fn wait_js_within(
    page: &Client,
    what: &str,
    expr: &str,
    args: Vec<Value>,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let value = page
            .execute(&format!("return ({expr});"), args.clone())
            .await
            .unwrap();
        if !(value.is_null() || value == json!(false) || value == json!("")) {
            return value;
        }
        if Instant::now() > deadline {
            let status = page
                .execute(
                    "return document.querySelector('#status')?.textContent",
                    vec![],
                )
                .await
                .unwrap();
            panic!("timed out waiting {within:?} for {what} (status: {status})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The instance picker's option labels (without "Other server…"), once it lists `n` instances
/// with one marked connected.
pub(super) async fn picker_labels(page: &Client, n: usize) -> Vec<String> {
    let labels = wait_js(
        page,
        &format!("{n} instances in the dropdown, one marked connected"),
        "(() => { const o = [...document.querySelectorAll('#instance-picker option')].filter(x => x.value).map(x => x.textContent); return o.length === arguments[0] && o.some(t => t.endsWith('· connected')) && o; })()",
        vec![json!(n)],
    )
    .await;
    serde_json::from_value(labels).unwrap()
}

pub(super) async fn wait_connected_to(page: &Client, url: &str) {
    let label = url.trim_start_matches("http://").to_owned();
    wait_js(
        page,
        &format!("a connection to {label}"),
        "document.querySelector('#status.ok') && document.querySelector('#status').textContent.includes(arguments[0])",
        vec![json!(label)],
    )
    .await;
}

pub(super) async fn send(page: &Client, text: &str) {
    let input = page.find(Locator::Css("#message-input")).await.unwrap();
    input
        .send_keys(&format!("{text}{}", char::from(Key::Enter)))
        .await
        .unwrap();
}

/// Waits for a message with `text` and returns the origin URL its line shows.
pub(super) async fn wait_message(page: &Client, text: &str) -> String {
    let origin = wait_js(
        page,
        &format!("message {text:?}"),
        "[...document.querySelectorAll('#messages li')].filter(li => li.querySelector('.text').textContent === arguments[0]).map(li => li.dataset.origin)[0]",
        vec![json!(text)],
    )
    .await;
    origin.as_str().unwrap().to_owned()
}

pub(super) async fn click(page: &Client, css: &str) {
    page.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

pub(super) async fn type_into(page: &Client, css: &str, text: &str) {
    page.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(&format!("{text}{}", char::from(Key::Enter)))
        .await
        .unwrap();
}
