//! Browser end to end: the built UI in headless Debian Chromium, driven over WebDriver.
//! (Over 400 lines: four scenarios and the WebDriver plumbing they share; splitting them would
//! copy that plumbing into each file.)
//!
//! Needs the UI built into `dist/` (`./dev test` does it) and `chromium` + `chromium-driver`
//! installed; it fails with instructions otherwise rather than skipping.

mod support;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use gridcast_server::{
    Cluster, ServeConfig,
    redis::{PrivateRedis, private::free_port},
};
use serde_json::{Value, json};
use support::redis;

const UI_WAIT: Duration = Duration::from_secs(20);

/// The browser tests run one at a time: two Chromiums each already fill 2 cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn dist_dir() -> PathBuf {
    let dir = support::repo("dist");
    assert!(
        dir.join("index.html").is_file(),
        "the UI is not built: run `./dev test` (or `trunk build --release`) before the browser tests"
    );
    dir
}

fn artifacts_dir() -> PathBuf {
    let dir = support::repo("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves a PNG of `page` at a desktop window size as `test-artifacts/screenshots/<name>.png`, and
/// also as `docs/screenshots/<name>.png` (the pictures README shows) when `GRIDCAST_SCREENSHOTS`
/// is set, as `./dev screenshots` does: a plain `./dev test` never changes tracked files.
async fn save_screenshot(page: &Client, name: &str) {
    page.set_window_size(1280, 800).await.unwrap();
    let png = page.screenshot().await.unwrap();
    let file = format!("{name}.png");
    let mut dirs = vec![artifacts_dir().join("screenshots")];
    if std::env::var_os("GRIDCAST_SCREENSHOTS").is_some() {
        dirs.push(support::repo("docs/screenshots"));
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
async fn report_first_paint(page: &fantoccini::Client) {
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
async fn ui_cluster(redis: &PrivateRedis, instances: usize) -> Cluster {
    let mut config = ServeConfig::new(vec![0; instances], Some(redis.url()));
    config.static_dir = dist_dir();
    Cluster::start(config).await.unwrap()
}

/// chromedriver in its own process group, killed with every browser it started when dropped.
struct Driver {
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

struct TempDir(PathBuf);

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

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id().rotate_left(16)
}

/// Polls a JavaScript expression until it is truthy.
async fn wait_js(page: &Client, what: &str, expr: &str, args: Vec<Value>) -> Value {
    let deadline = Instant::now() + UI_WAIT;
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
            panic!("timed out waiting for {what} (status: {status})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The instance picker's option labels, once it lists `n` instances with one marked connected.
async fn picker_labels(page: &Client, n: usize) -> Vec<String> {
    let labels = wait_js(
        page,
        &format!("{n} instances in the dropdown, one marked connected"),
        "(() => { const o = [...document.querySelectorAll('#instance-picker option')].map(x => x.textContent); return o.length === arguments[0] && o.some(t => t.endsWith('· connected')) && o; })()",
        vec![json!(n)],
    )
    .await;
    serde_json::from_value(labels).unwrap()
}

async fn wait_connected_to(page: &Client, url: &str) {
    let label = url.trim_start_matches("http://").to_owned();
    wait_js(
        page,
        &format!("a connection to {label}"),
        "document.querySelector('#status.ok') && document.querySelector('#status').textContent.includes(arguments[0])",
        vec![json!(label)],
    )
    .await;
}

async fn send(page: &Client, text: &str) {
    let input = page.find(Locator::Css("#message-input")).await.unwrap();
    input
        .send_keys(&format!("{text}{}", char::from(Key::Enter)))
        .await
        .unwrap();
}

/// Waits for a message with `text` and returns the origin URL its line shows.
async fn wait_message(page: &Client, text: &str) -> String {
    let origin = wait_js(
        page,
        &format!("message {text:?}"),
        "[...document.querySelectorAll('#messages li')].filter(li => li.querySelector('.text').textContent === arguments[0]).map(li => li.dataset.origin)[0]",
        vec![json!(text)],
    )
    .await;
    origin.as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_pages_on_two_instances_see_each_other_and_survive_an_instance_switch() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 2).await;
    let urls = cluster.urls();
    let driver = Driver::start().await;
    let a = driver.browser().await;
    let b = driver.browser().await;

    a.goto(&urls[0]).await.unwrap();
    b.goto(&urls[1]).await.unwrap();
    wait_connected_to(&a, &urls[0]).await;
    wait_connected_to(&b, &urls[1]).await;
    report_first_paint(&a).await;

    // Typed in A (on instance 0), it appears in B (on instance 1), marked with A's instance.
    send(&a, "hello from tab A").await;
    assert_eq!(wait_message(&b, "hello from tab A").await, urls[0]);
    assert_eq!(wait_message(&a, "hello from tab A").await, urls[0]);
    let latency = b
        .execute("return [...document.querySelectorAll('#messages li .latency')].map(e => e.textContent)", vec![])
        .await
        .unwrap();
    assert!(latency[0].as_str().unwrap().ends_with(" ms"), "{latency}");

    // And back, B to A.
    send(&b, "hello from tab B").await;
    assert_eq!(wait_message(&a, "hello from tab B").await, urls[1]);

    // README's picture: B's tab with a message from each instance, and both clients listed in
    // the presence panel under their instances.
    wait_message(&b, "hello from tab B").await;
    wait_js(
        &b,
        "both clients in B's presence panel",
        "document.querySelectorAll('#presence .member').length === 2",
        vec![],
    )
    .await;
    save_screenshot(&b, "two-instances").await;

    // Switch A to instance 1 with the dropdown: still connected, messages still cross.
    let picker = a.find(Locator::Css("#instance-picker")).await.unwrap();
    picker.select_by_value(&urls[1]).await.unwrap();
    wait_connected_to(&a, &urls[1]).await;
    send(&a, "A after switching").await;
    assert_eq!(wait_message(&b, "A after switching").await, urls[1]);
    // ...and B's switch to instance 0 works the other way.
    let picker = b.find(Locator::Css("#instance-picker")).await.unwrap();
    picker.select_by_value(&urls[0]).await.unwrap();
    wait_connected_to(&b, &urls[0]).await;
    send(&b, "B after switching").await;
    assert_eq!(wait_message(&a, "B after switching").await, urls[0]);

    // Markup arrives as inert text.
    let hostile = "<img src=x onerror=\"window.__pwned=1\"><b>bold?</b>";
    send(&a, hostile).await;
    wait_message(&b, hostile).await;
    let injected = b
        .execute("return [document.querySelectorAll('#messages img, #messages b').length, window.__pwned === undefined]", vec![])
        .await
        .unwrap();
    assert_eq!(injected, json!([0, true]));

    // An oversized message is refused in the page with a readable notice; nothing is sent.
    let long = "x".repeat(gridcast_shared::limits::MAX_MESSAGE_BYTES + 1);
    a.execute(
        "const i = document.querySelector('#message-input'); i.value = arguments[0]; i.dispatchEvent(new Event('input', {bubbles: true}));",
        vec![json!(long)],
    )
    .await
    .unwrap();
    let disabled = a
        .execute("return document.querySelector('#send').disabled", vec![])
        .await
        .unwrap();
    assert_eq!(
        disabled,
        json!(true),
        "Send stays disabled for an oversized message"
    );

    let png = b.screenshot().await.unwrap();
    std::fs::write(artifacts_dir().join("browser-e2e.png"), png).unwrap();
    let png = a.screenshot().await.unwrap();
    std::fs::write(artifacts_dir().join("browser-e2e-a.png"), png).unwrap();

    a.close().await.unwrap();
    b.close().await.unwrap();
    cluster.stop().await;
}

async fn click(page: &Client, css: &str) {
    page.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn type_into(page: &Client, css: &str, text: &str) {
    page.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(&format!("{text}{}", char::from(Key::Enter)))
        .await
        .unwrap();
}

#[tokio::test]
async fn presence_rooms_and_the_grid_check_work_across_instances_in_the_browser() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 3).await;
    let urls = cluster.urls();
    let driver = Driver::start().await;
    let a = driver.browser().await;
    let b = driver.browser().await;
    a.goto(&urls[0]).await.unwrap();
    b.goto(&urls[2]).await.unwrap();
    wait_connected_to(&a, &urls[0]).await;
    wait_connected_to(&b, &urls[2]).await;

    // The dropdown lists every live instance from the registry and marks the connected one.
    let options = picker_labels(&b, 3).await;
    let connected: Vec<&String> = options
        .iter()
        .filter(|t| t.ends_with("· connected"))
        .collect();
    assert_eq!(connected.len(), 1, "{options:?}");
    assert!(
        connected[0].starts_with(urls[2].trim_start_matches("http://")),
        "{options:?}"
    );

    // A names itself; B, on another instance, sees it under A's instance.
    type_into(&a, "#name-input", "Ada").await;
    wait_js(
        &b,
        "Ada listed under instance 0",
        "[...document.querySelectorAll(`#presence .group[data-instance='${arguments[0]}'] .member`)].some(m => m.textContent.includes('Ada'))",
        vec![json!(urls[0])],
    )
    .await;

    // Both join #ops; A picks it as the target and sends; B sees the room message.
    type_into(&a, "#room-input", "ops").await;
    type_into(&b, "#room-input", "ops").await;
    for page in [&a, &b] {
        wait_js(
            page,
            "#ops joined",
            "document.querySelector('#my-rooms li .link')?.textContent === '#ops'",
            vec![],
        )
        .await;
    }
    click(&a, "#my-rooms li .link").await;
    wait_js(
        &a,
        "target #ops",
        "document.querySelector('#send-target').textContent.startsWith('#ops')",
        vec![],
    )
    .await;
    send(&a, "room hello").await;
    wait_js(
        &b,
        "the room message",
        "[...document.querySelectorAll('#messages li')].some(li => li.querySelector('.text').textContent === 'room hello' && li.querySelector('.channel').textContent === '#ops')",
        vec![],
    )
    .await;

    // The grid check from the page: every cell green.
    click(&b, "#grid-run").await;
    wait_js(
        &b,
        "the grid result",
        "document.querySelector('#grid')",
        vec![],
    )
    .await;
    let grid = b
        .execute(
            "return [document.querySelector('#grid').dataset.passed, document.querySelectorAll('#grid td.cell.ok').length, document.querySelectorAll('#grid td.cell').length]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(grid, json!(["true", 9, 9]), "grid: {grid}");
    // The probes' tagged messages stay out of the history, and the probes leave presence.
    let tags = b
        .execute("return [...document.querySelectorAll('#messages .text')].filter(t => t.textContent.startsWith('gridcast-check ')).length", vec![])
        .await
        .unwrap();
    assert_eq!(tags, json!(0));
    wait_js(
        &b,
        "probes gone from presence",
        "document.querySelectorAll('#presence .member').length === 2",
        vec![],
    )
    .await;
    b.execute("document.querySelector('#grid').scrollIntoView()", vec![])
        .await
        .unwrap();

    let png = b.screenshot().await.unwrap();
    std::fs::write(artifacts_dir().join("browser-grid-check.png"), png).unwrap();
    a.close().await.unwrap();
    b.close().await.unwrap();
    cluster.stop().await;
}

#[tokio::test]
async fn the_page_reconnects_by_itself_when_its_instance_comes_back() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let dist = dist_dir();
    let redis = redis().await;
    let port = free_port().unwrap();
    let start = || {
        let mut config = ServeConfig::new(vec![port], Some(redis.url()));
        config.static_dir = dist.clone();
        Cluster::start(config)
    };
    let cluster = start().await.unwrap();
    let url = cluster.urls().remove(0);
    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&url).await.unwrap();
    wait_connected_to(&page, &url).await;

    cluster.stop().await;
    let state = wait_js(
        &page,
        "the page to notice",
        "(() => { const t = document.querySelector('#status').textContent; return (t.startsWith('disconnected') || t.startsWith('reconnecting (attempt')) && t; })()",
        vec![],
    )
    .await;
    eprintln!("while down: {state}");
    let disabled = page
        .execute("return document.querySelector('#send').disabled", vec![])
        .await
        .unwrap();
    assert_eq!(disabled, json!(true), "Send is disabled while disconnected");

    let cluster = start().await.unwrap();
    wait_connected_to(&page, &url).await;
    send(&page, "back again").await;
    assert_eq!(wait_message(&page, "back again").await, url);
    page.close().await.unwrap();
    cluster.stop().await;
}

#[tokio::test]
async fn a_page_opened_through_127_0_0_1_lists_each_instance_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 2).await;
    let urls = cluster.urls();
    assert!(urls[0].starts_with("http://localhost:"), "{urls:?}");
    let driver = Driver::start().await;
    let page = driver.browser().await;
    // The registry lists the instances as localhost; the page is opened by address.
    let by_address = urls[0].replace("localhost", "127.0.0.1");
    page.goto(&by_address).await.unwrap();
    wait_connected_to(&page, &urls[0]).await;
    let labels = picker_labels(&page, 2).await;
    let ours = urls[0].trim_start_matches("http://");
    assert!(
        labels.contains(&format!("{ours} · connected")),
        "{labels:?}"
    );
    assert!(
        !labels
            .iter()
            .any(|l| l.contains("down") || l.contains("127.0.0.1")),
        "{labels:?}"
    );
    let selected = page
        .execute(
            "return document.querySelector('#instance-picker').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(selected, json!(urls[0]));
    page.close().await.unwrap();
}

#[tokio::test]
async fn a_page_whose_instance_is_killed_moves_to_another_and_recovers_what_it_missed() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 1).await;
    let b = cluster.urls().remove(0);
    let port = free_port().unwrap();
    let mut victim = support::spawn_gridcast(port, &redis.url());
    let a = format!("http://localhost:{port}");
    support::connect_with_retry(&a).await;
    let sender = support::client(&cluster).await;

    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&b).await.unwrap();
    wait_connected_to(&page, &b).await;
    // The page talks to A, picked in the dropdown.
    picker_labels(&page, 2).await;
    let picker = page.find(Locator::Css("#instance-picker")).await.unwrap();
    picker.select_by_value(&a).await.unwrap();
    wait_connected_to(&page, &a).await;
    sender
        .emit(
            gridcast_shared::event::MESSAGE,
            vec![json!("before the kill")],
        )
        .unwrap();
    wait_message(&page, "before the kill").await;

    // A dies; messages keep coming from B while the page notices, retries and moves.
    victim.start_kill().unwrap();
    victim.wait().await.unwrap();
    let missed: Vec<String> = (1..=5).map(|n| format!("while moving {n}")).collect();
    for text in &missed {
        sender
            .emit(gridcast_shared::event::MESSAGE, vec![json!(text)])
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_connected_to(&page, &b).await;
    let notice = wait_js(
        &page,
        "the move and the recovery told",
        "(() => { const t = document.querySelector('#notice').textContent; return t.includes('moved from') && t.includes('recovered') && t; })()",
        vec![],
    )
    .await;
    let a_label = a.trim_start_matches("http://");
    assert!(
        notice
            .as_str()
            .unwrap()
            .contains(&format!("moved from {a_label} to ")),
        "{notice}"
    );
    for text in &missed {
        wait_message(&page, text).await;
    }
    sender
        .emit(
            gridcast_shared::event::MESSAGE,
            vec![json!("after the move")],
        )
        .unwrap();
    wait_message(&page, "after the move").await;
    // Every line once, in order; no gap line; the dropdown follows.
    let texts = page
        .execute(
            "return [...document.querySelectorAll('#messages li .text')].map(t => t.textContent)",
            vec![],
        )
        .await
        .unwrap();
    let mut expected = vec!["before the kill".to_owned()];
    expected.extend(missed.iter().cloned());
    expected.push("after the move".to_owned());
    assert_eq!(texts, json!(expected));
    let selected = page
        .execute(
            "return document.querySelector('#instance-picker').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(selected, json!(b));
    let png = page.screenshot().await.unwrap();
    std::fs::write(artifacts_dir().join("browser-failover.png"), png).unwrap();
    page.close().await.unwrap();
    cluster.stop().await;
}

#[tokio::test]
async fn a_page_opened_through_nginx_shows_its_instance_and_can_pick_another() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 2).await;
    let urls = cluster.urls();
    let lb = support::nginx::Nginx::start(&urls).await;
    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&lb.url).await.unwrap();
    // The balancer picked one instance: the page says which.
    let labels: Vec<&str> = urls
        .iter()
        .map(|u| u.trim_start_matches("http://"))
        .collect();
    let status = wait_js(
        &page,
        "a connection through nginx, to an instance the page names",
        "(() => { const s = document.querySelector('#status.ok')?.textContent; return s && arguments[0].some(l => s.includes(l)) && s; })()",
        vec![json!(labels)],
    )
    .await;
    let status = status.as_str().unwrap().to_owned();
    let given = urls
        .iter()
        .position(|u| status.contains(u.trim_start_matches("http://")))
        .unwrap_or_else(|| panic!("{status:?} names no instance of {urls:?}"));
    // The dropdown names the instances themselves; picking the other one connects there.
    let other = &urls[1 - given];
    let picker = page.find(Locator::Css("#instance-picker")).await.unwrap();
    wait_js(
        &page,
        "the other instance in the dropdown",
        "[...document.querySelectorAll('#instance-picker option')].some(o => o.value === arguments[0])",
        vec![json!(other)],
    )
    .await;
    picker.select_by_value(other).await.unwrap();
    wait_connected_to(&page, other).await;
    send(&page, "picked through nginx").await;
    assert_eq!(wait_message(&page, "picked through nginx").await, *other);
    let png = page.screenshot().await.unwrap();
    std::fs::write(artifacts_dir().join("browser-nginx.png"), png).unwrap();
    page.close().await.unwrap();
    cluster.stop().await;
}
