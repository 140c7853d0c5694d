//! The page as a console under traffic, crowds and failures: reading back while messages arrive,
//! a crowd in the clients panel, a Redis outage in the header, a reload, a narrow screen.

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
    // The crowd comes from one address: its per-address limits are lifted.
    let mut config = ServeConfig::new(vec![0], Some(redis.url()));
    config.static_dir = dist_dir();
    config.max_connections_per_address = 0;
    config.new_sessions_per_address = gridcast_server::cli::RateSetting(None);
    config.address_rate_limit = gridcast_server::cli::RateSetting(None);
    let cluster = Cluster::start(config).await.unwrap();
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

/// The live view draws what the page receives: under a steady 10 messages/s from instance B, B's
/// card shows a rate, a latency and the last minute's bars and line; A's card stays at zero.
#[tokio::test]
async fn the_live_view_shows_each_instances_rate_latency_and_last_minute() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let (a, b) = (ui_cluster(&redis, 1).await, ui_cluster(&redis, 1).await);
    let (url_a, url_b) = (a.urls().remove(0), b.urls().remove(0));
    let sender = crate::support::client(&b).await;
    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&url_a).await.unwrap();
    wait_connected_to(&page, &url_a).await;

    let card = "(u) => [...document.querySelectorAll('#live article')].find(c => c.dataset.instance.endsWith(u.split(':').pop()))";
    let sending = async {
        for n in 0..40 {
            sender
                .emit(
                    gridcast_shared::event::MESSAGE,
                    vec![json!(format!("tick {n}"))],
                )
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let shows = format!(
        "(() => {{ const c = ({card})(arguments[0]); if (!c) return null; \
             const rate = parseFloat(c.querySelector('.rate b').textContent); \
             const lat = c.querySelector('.lat b').textContent; \
             const bars = c.querySelector('path.bars').getAttribute('d'); \
             const line = c.querySelector('path.line').getAttribute('d'); \
             return rate >= 3 && /^\\d+ ms$/.test(lat) && bars.length > 0 && line.length > 0 \
               && {{rate, lat, bars: bars.length, line: line.length}}; }})()"
    );
    let watching = wait_js(
        &page,
        "B's card to show a rate, a latency, bars and a line",
        &shows,
        vec![json!(url_b)],
    );
    let (_, shown) = tokio::join!(sending, watching);
    eprintln!("B's card: {shown}");
    let a_rate = page
        .execute(
            &format!("const c = ({card})(arguments[0]); return c && c.querySelector('.rate b').textContent"),
            vec![json!(url_a)],
        )
        .await
        .unwrap();
    assert_eq!(a_rate, json!("0.0"), "nothing entered through A");
}
