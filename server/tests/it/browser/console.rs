//! The page as a console under traffic, crowds and failures: reading back while messages arrive,
//! a crowd in the clients panel, a Redis outage in the header and in the grid check, a grid
//! result going stale, a reload, a narrow screen, and a plain Socket.IO cluster (the Node.js
//! reference) typed into the picker.

use super::*;

/// What a page shows when it is told what happens within `within`, polled.
const TOLD_WITHIN: Duration = Duration::from_secs(2);

#[tokio::test]
async fn reading_back_under_traffic_holds_the_position_and_counts_what_arrives() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 1).await;
    let url = cluster.urls().remove(0);
    let sender = crate::support::client(&cluster).await;
    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&url).await.unwrap();
    wait_connected_to(&page, &url).await;

    // Enough lines to scroll.
    for n in 1..=40 {
        sender
            .emit(
                gridcast_shared::event::MESSAGE,
                vec![json!(format!("backlog {n}"))],
            )
            .unwrap();
    }
    wait_message(&page, "backlog 40").await;
    wait_js(
        &page,
        "the list to scroll, at its end",
        "(() => { const l = document.querySelector('#messages'); return l.scrollHeight > l.clientHeight + 200 && l.scrollHeight - l.scrollTop - l.clientHeight < 40; })()",
        vec![],
    )
    .await;

    // The reader scrolls to the top; messages keep coming at 5 a second for 2 s.
    page.execute(
        "const l = document.querySelector('#messages'); l.scrollTop = 0; l.dispatchEvent(new Event('scroll'));",
        vec![],
    )
    .await
    .unwrap();
    for n in 1..=10 {
        sender
            .emit(
                gridcast_shared::event::MESSAGE,
                vec![json!(format!("live {n}"))],
            )
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let top = page
            .execute(
                "return document.querySelector('#messages').scrollTop",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(top.as_f64(), Some(0.0), "moved after message {n}");
    }
    wait_message(&page, "live 10").await;
    let pill = wait_js(
        &page,
        "the pill to count the 10 new messages",
        "(() => { const p = document.querySelector('#new-pill'); return !p.hidden && p.textContent.startsWith('10 new') && p.textContent; })()",
        vec![],
    )
    .await;
    eprintln!("pill: {pill}");
    let top = page
        .execute(
            "return document.querySelector('#messages').scrollTop",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(top.as_f64(), Some(0.0), "still where the reader left it");

    // The pill jumps to the end; from there the list follows again.
    click(&page, "#new-pill").await;
    sender
        .emit(gridcast_shared::event::MESSAGE, vec![json!("followed")])
        .unwrap();
    wait_message(&page, "followed").await;
    wait_js(
        &page,
        "the list at its end, the pill gone",
        "(() => { const l = document.querySelector('#messages'); return document.querySelector('#new-pill').hidden && l.scrollHeight - l.scrollTop - l.clientHeight < 40; })()",
        vec![],
    )
    .await;
    page.close().await.unwrap();
    cluster.stop().await;
}

#[tokio::test]
async fn the_header_says_redis_is_unreachable_without_a_send_and_clears_when_it_is_back() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut redis = redis().await;
    let cluster = ui_cluster(&redis, 1).await;
    let url = cluster.urls().remove(0);
    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&url).await.unwrap();
    wait_connected_to(&page, &url).await;

    // Nobody sends anything: the header alone tells.
    redis.stop().await;
    let stopped = Instant::now();
    let down = wait_js_within(
        &page,
        "the header to say Redis is unreachable",
        "(() => { const s = document.querySelector('#status.warn'); return s && s.textContent.includes('Redis unreachable') && s.textContent; })()",
        vec![],
        TOLD_WITHIN,
    )
    .await;
    eprintln!("told in {:?}: {down}", stopped.elapsed());
    let picker = page
        .execute(
            "return document.querySelector('#instance-picker').selectedOptions[0].textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        picker.as_str().unwrap().ends_with("· Redis unreachable"),
        "the picker agrees: {picker}"
    );
    let can_send = page
        .execute(
            "return !document.querySelector('#message-input').disabled",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(can_send, json!(true), "messages are queued, not refused");
    save_screenshot(&page, "redis-unreachable").await;

    redis.restart().await.unwrap();
    let restarted = Instant::now();
    wait_js_within(
        &page,
        "the header to be back to connected",
        "(() => { const s = document.querySelector('#status.ok'); return s && s.textContent.startsWith('Connected to') && !s.textContent.includes('Redis'); })()",
        vec![],
        TOLD_WITHIN,
    )
    .await;
    eprintln!("cleared in {:?} after Redis restarted", restarted.elapsed());
    page.close().await.unwrap();
    cluster.stop().await;
}

#[tokio::test]
async fn a_reload_keeps_the_public_id_and_name_and_replays_what_was_missed_with_names() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 1).await;
    let url = cluster.urls().remove(0);
    let mut sender = crate::support::client(&cluster).await;
    crate::support::scenario::change(
        &mut sender,
        gridcast_shared::event::SET_NAME,
        json!({ "name": "Bob" }),
    )
    .await;
    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&url).await.unwrap();
    wait_connected_to(&page, &url).await;
    type_into(&page, "#name-input", "Ada").await;
    wait_js(
        &page,
        "the name taken",
        "document.querySelector('#status').textContent.includes('you are Ada')",
        vec![],
    )
    .await;
    sender
        .emit(gridcast_shared::event::MESSAGE, vec![json!("seen")])
        .unwrap();
    wait_message(&page, "seen").await;
    let id = public_id(&page).await;

    // The tab leaves (the same tab keeps its sessionStorage); messages arrive meanwhile.
    page.goto("about:blank").await.unwrap();
    let missed = ["while away 1", "while away 2", "while away 3"];
    for text in missed {
        sender
            .emit(gridcast_shared::event::MESSAGE, vec![json!(text)])
            .unwrap();
    }
    page.goto(&url).await.unwrap();
    wait_connected_to(&page, &url).await;
    assert_eq!(public_id(&page).await, id, "the same public id");
    for text in missed {
        wait_message(&page, text).await;
    }
    // Replayed lines name their sender, not its id.
    wait_js(
        &page,
        "the replayed lines signed Bob",
        "(() => { const l = [...document.querySelectorAll('#messages li')].filter(li => li.querySelector('.text').textContent.startsWith('while away')); return l.length === 3 && l.every(li => li.querySelector('.sender').textContent === 'Bob'); })()",
        vec![],
    )
    .await;
    let notice = wait_js(
        &page,
        "the replay counted",
        "(() => { const t = document.querySelector('#notice')?.textContent; return t && t.includes('3 missed messages recovered') && t; })()",
        vec![],
    )
    .await;
    eprintln!("after the reload: {notice}");
    let status = page
        .execute(
            "return document.querySelector('#status').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(status.as_str().unwrap().contains("you are Ada"), "{status}");
    page.close().await.unwrap();
    cluster.stop().await;
}

#[tokio::test]
async fn at_420_px_nothing_scrolls_sideways_and_send_is_on_screen() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 2).await;
    let url = cluster.urls().remove(0);
    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.set_window_size(420, 800).await.unwrap();
    page.goto(&url).await.unwrap();
    wait_connected_to(&page, &url).await;
    picker_labels(&page, 2).await;
    send(
        &page,
        "a rather long message that has to wrap on a narrow screen, not widen the page",
    )
    .await;
    wait_message(
        &page,
        "a rather long message that has to wrap on a narrow screen, not widen the page",
    )
    .await;
    let width = page
        .execute("return window.innerWidth", vec![])
        .await
        .unwrap();
    assert!(width.as_f64().unwrap() <= 440.0, "a narrow window: {width}");
    let fits = page
        .execute(
            "const d = document.documentElement; const send = document.querySelector('#send').getBoundingClientRect(); \
             return {scroll_width: d.scrollWidth, client_width: d.clientWidth, send_right: send.right, \
                     list_height: document.querySelector('#messages').getBoundingClientRect().height};",
            vec![],
        )
        .await
        .unwrap();
    eprintln!("at 420 px: {fits}");
    let client_width = fits["client_width"].as_f64().unwrap();
    assert!(
        fits["scroll_width"].as_f64().unwrap() <= client_width,
        "horizontal scroll: {fits}"
    );
    assert!(
        fits["send_right"].as_f64().unwrap() <= client_width,
        "Send off screen: {fits}"
    );
    assert!(
        fits["list_height"].as_f64().unwrap() > 300.0,
        "room to read: {fits}"
    );
    let png = page.screenshot().await.unwrap();
    std::fs::write(artifacts_dir().join("browser-420px.png"), png).unwrap();
    page.close().await.unwrap();
    cluster.stop().await;
}

/// Clients in the crowd test (a multiple of 100).
const CROWD: usize = 1_000;

#[tokio::test]
async fn a_crowd_stays_within_the_panel_and_search_finds_a_member() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 1).await;
    let url = cluster.urls().remove(0);
    // A thousand named clients, connected a hundred at a time.
    let mut crowd = Vec::new();
    let on = &cluster;
    for chunk in 0..CROWD / 100 {
        let named = (0..100).map(|i| async move {
            let mut probe = crate::support::client(on).await;
            crate::support::scenario::change(
                &mut probe,
                gridcast_shared::event::SET_NAME,
                json!({ "name": format!("crowd-{:03}", chunk * 100 + i) }),
            )
            .await;
            probe
        });
        crowd.extend(futures_util::future::join_all(named).await);
    }
    let started = Instant::now();
    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&url).await.unwrap();
    wait_connected_to(&page, &url).await;

    // Everyone counted, the group collapsed, the panel within the window.
    wait_js(
        &page,
        "the whole crowd counted",
        "document.querySelector('#clients-count').textContent === `Clients (${arguments[0]})`",
        vec![json!(CROWD + 1)],
    )
    .await;
    eprintln!(
        "{} clients listed {:?} after the page opened",
        CROWD + 1,
        started.elapsed()
    );
    let collapsed = page
        .execute(
            "const g = document.querySelector('#presence .group-head'); \
             return {expanded: g.getAttribute('aria-expanded'), rows: document.querySelectorAll('#presence .member').length, \
                     count: g.querySelector('.group-count').textContent, \
                     panel_bottom: document.querySelector('#clients-panel').getBoundingClientRect().bottom, \
                     window: window.innerHeight};",
            vec![],
        )
        .await
        .unwrap();
    eprintln!("collapsed: {collapsed}");
    assert_eq!(collapsed["expanded"], json!("false"), "{collapsed}");
    assert_eq!(collapsed["rows"], json!(0), "{collapsed}");
    assert_eq!(
        collapsed["count"],
        json!(format!("{} clients", CROWD + 1)),
        "{collapsed}"
    );
    assert!(
        collapsed["panel_bottom"].as_f64().unwrap() <= collapsed["window"].as_f64().unwrap(),
        "{collapsed}"
    );

    // Opened, it shows a window of rows, not the whole crowd.
    click(&page, "#presence .group-head").await;
    let rows = wait_js(
        &page,
        "rows in the open group",
        "document.querySelectorAll('#presence .member').length",
        vec![],
    )
    .await;
    let rows = rows.as_u64().unwrap();
    assert!(
        (5..=20).contains(&rows),
        "{rows} rows in the page for {CROWD}"
    );
    let box_height = page
        .execute(
            "return document.querySelector('#presence .rows').getBoundingClientRect().height",
            vec![],
        )
        .await
        .unwrap();
    assert!(box_height.as_f64().unwrap() <= 400.0, "{box_height}");
    save_screenshot(&page, "crowd").await;

    // The search finds one member, wherever it is in the list.
    page.find(Locator::Css("#member-search"))
        .await
        .unwrap()
        .send_keys("crowd-957")
        .await
        .unwrap();
    wait_js(
        &page,
        "the search to find crowd-957 only",
        "(() => { const m = [...document.querySelectorAll('#presence .member')]; return document.querySelector('#found')?.textContent === '1 found' && m.length === 1 && m[0].textContent.includes('crowd-957'); })()",
        vec![],
    )
    .await;
    page.close().await.unwrap();
    drop(crowd);
    cluster.stop().await;
}

/// The public id the page shows it has (`#status`'s `data-public-id`), once it has one.
async fn public_id(page: &Client) -> String {
    wait_js(
        page,
        "a public id",
        "document.querySelector('#status').dataset.publicId",
        vec![],
    )
    .await
    .as_str()
    .unwrap()
    .to_owned()
}

#[tokio::test]
async fn a_plain_socket_io_cluster_typed_in_the_picker_sends_receives_and_passes_a_grid_check() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 1).await;
    let url = cluster.urls().remove(0);
    // The Node.js reference cluster: two socket.io 4 servers on their own Redis, no `welcome`.
    let node_redis = crate::support::redis().await;
    let node_a = crate::support::node::NodeServer::start(&node_redis.url()).await;
    let node_b = crate::support::node::NodeServer::start(&node_redis.url()).await;
    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&url).await.unwrap();
    wait_connected_to(&page, &url).await;

    for node in [&node_a.url, &node_b.url] {
        let picker = page.find(Locator::Css("#instance-picker")).await.unwrap();
        picker.select_by_value("").await.unwrap();
        type_into(&page, "#url-input", node).await;
        let status = wait_js(
            &page,
            "connected to the plain server",
            "(() => { const s = document.querySelector('#status.ok')?.textContent; return s && s.includes(arguments[0]) && s.includes('plain Socket.IO server') && s; })()",
            vec![json!(node.trim_start_matches("http://"))],
        )
        .await;
        eprintln!("on {node}: {status}");
    }

    // A message goes through the reference cluster and back, with the latency the page measured.
    send(&page, "hello, plain cluster").await;
    let latency = wait_js(
        &page,
        "the message back from the reference cluster",
        "[...document.querySelectorAll('#messages li')].filter(li => li.querySelector('.text').textContent === 'hello, plain cluster').map(li => li.querySelector('.latency').textContent)[0]",
        vec![],
    )
    .await;
    eprintln!("latency shown: {latency}");

    // The grid check runs across the typed URLs: 2 x 2, every cell delivered once.
    click(&page, "#grid-run").await;
    let grid = wait_js(
        &page,
        "the grid result",
        "(() => { const g = document.querySelector('#grid'); return g && [g.dataset.passed, g.querySelectorAll('td.cell.ok').length, g.querySelectorAll('td.cell').length]; })()",
        vec![],
    )
    .await;
    assert_eq!(grid, json!(["true", 4, 4]), "grid: {grid}");
    let png = page.screenshot().await.unwrap();
    std::fs::write(artifacts_dir().join("browser-plain-cluster.png"), png).unwrap();
    page.close().await.unwrap();
    cluster.stop().await;
}

#[tokio::test]
async fn a_grid_check_during_a_redis_outage_says_redis_is_unreachable() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut redis = redis().await;
    let cluster = ui_cluster(&redis, 2).await;
    let url = cluster.urls().remove(0);
    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&url).await.unwrap();
    wait_connected_to(&page, &url).await;
    picker_labels(&page, 2).await;

    redis.stop().await;
    wait_js(
        &page,
        "the header to say Redis is unreachable",
        "document.querySelector('#status.warn')",
        vec![],
    )
    .await;
    click(&page, "#grid-run").await;
    let result = wait_js(
        &page,
        "the grid result",
        "(() => { const g = document.querySelector('#grid'); return g && {passed: g.dataset.passed, text: g.textContent}; })()",
        vec![],
    )
    .await;
    eprintln!("grid during the outage: {result}");
    assert_eq!(result["passed"], json!("false"), "{result}");
    let text = result["text"].as_str().unwrap();
    assert!(text.contains("Redis is unreachable from"), "{result}");
    assert!(!text.contains("different Redis"), "{result}");
    page.close().await.unwrap();
    redis.restart().await.unwrap();
    cluster.stop().await;
}

#[tokio::test]
async fn a_grid_check_goes_stale_when_an_instance_dies_and_names_it_as_a_failure() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 1).await;
    let b = cluster.urls().remove(0);
    let port = free_port().unwrap();
    let mut victim = crate::support::spawn_gridcast(port, &redis.url());
    let a = format!("http://localhost:{port}");
    crate::support::connect_with_retry(&a).await;
    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&b).await.unwrap();
    wait_connected_to(&page, &b).await;
    picker_labels(&page, 2).await;

    let grid = "(() => { const g = document.querySelector('#grid'); return g && [g.dataset.passed, g.querySelectorAll('td.cell.ok').length, g.querySelectorAll('td.cell').length]; })()";
    click(&page, "#grid-run").await;
    assert_eq!(
        wait_js(&page, "the first grid result", grid, vec![]).await,
        json!(["true", 4, 4])
    );
    let when = page
        .execute(
            "return document.querySelector('#grid-when').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(when.as_str().unwrap().starts_with("checked at "), "{when}");

    victim.start_kill().unwrap();
    victim.wait().await.unwrap();
    let stale = wait_js(
        &page,
        "the result marked out of date",
        "(() => { const w = document.querySelector('#grid-when'); return document.querySelector('.grid-result.stale') && w.textContent.includes('out of date') && w.textContent; })()",
        vec![],
    )
    .await;
    eprintln!("after the kill: {stale}");

    // Checked again, the dead instance is still in the matrix, as a failure.
    wait_js(
        &page,
        "the check button free",
        "!document.querySelector('#grid-run').disabled",
        vec![],
    )
    .await;
    click(&page, "#grid-run").await;
    let again = wait_js(
        &page,
        "a fresh result",
        "(() => { const g = document.querySelector('#grid'); return g && !document.querySelector('.grid-result.stale') && g.dataset.passed === 'false' && {cells: g.querySelectorAll('td.cell').length, unreachable: g.querySelectorAll('td.cell.unreachable').length, text: g.textContent}; })()",
        vec![],
    )
    .await;
    eprintln!("checked again: {again}");
    assert_eq!(again["cells"], json!(4), "{again}");
    assert!(again["unreachable"].as_u64().unwrap() >= 1, "{again}");
    assert!(
        again["text"]
            .as_str()
            .unwrap()
            .contains(&format!(":{port}")),
        "{again}"
    );
    page.close().await.unwrap();
    cluster.stop().await;
}
