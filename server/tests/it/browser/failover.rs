//! Pages through failures and proxies: an instance that comes back, one killed (the page moves
//! and recovers what it missed, and every element agrees), a page opened through `127.0.0.1`, and
//! one through nginx.

use super::*;

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
        "(() => { const t = document.querySelector('#status').textContent; return t.startsWith('Reconnecting to') && t.includes('(attempt') && t; })()",
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
    let mut victim = crate::support::spawn_gridcast(port, &redis.url());
    let a = format!("http://localhost:{port}");
    crate::support::connect_with_retry(&a).await;
    let sender = crate::support::client(&cluster).await;

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
    let lb = crate::support::nginx::Nginx::start(&urls).await;
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

#[tokio::test]
async fn after_an_instance_is_killed_every_element_agrees_within_3_s() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = ui_cluster(&redis, 1).await;
    let b = cluster.urls().remove(0);
    let port = free_port().unwrap();
    let mut victim = crate::support::spawn_gridcast(port, &redis.url());
    let a = format!("http://localhost:{port}");
    crate::support::connect_with_retry(&a).await;
    let _bystander = crate::support::client(&cluster).await;

    let driver = Driver::start().await;
    let page = driver.browser().await;
    page.goto(&b).await.unwrap();
    wait_connected_to(&page, &b).await;
    picker_labels(&page, 2).await;
    let picker = page.find(Locator::Css("#instance-picker")).await.unwrap();
    picker.select_by_value(&a).await.unwrap();
    wait_connected_to(&page, &a).await;
    wait_js(
        &page,
        "both clients listed",
        "document.querySelector('#clients-count').textContent === 'Clients (2)' && document.querySelectorAll('#presence .member').length === 2",
        vec![],
    )
    .await;

    victim.start_kill().unwrap();
    victim.wait().await.unwrap();
    let killed = Instant::now();
    // What every element says: the header, the picker, the clients panel, the live cards.
    let snapshot = "const opts = [...document.querySelectorAll('#instance-picker option')].filter(o => o.value); \
        return {status: document.querySelector('#status').className + ' ' + document.querySelector('#status').textContent, \
                selected: document.querySelector('#instance-picker').value, \
                connected: opts.filter(o => o.textContent.endsWith('· connected')).map(o => o.value), \
                count: document.querySelector('#clients-count').textContent, \
                rows: document.querySelectorAll('#presence .member').length, \
                members: [...document.querySelectorAll('#presence .member')].map(m => m.dataset.id), \
                groups: [...document.querySelectorAll('#presence .group')].map(g => g.dataset.instance), \
                send_disabled: document.querySelector('#send').disabled};";
    let b_label = b.trim_start_matches("http://");
    let agreed = |s: &Value| {
        s["status"]
            .as_str()
            .is_some_and(|t| t.starts_with("status ok") && t.contains(b_label))
            && s["selected"] == json!(b)
            && s["connected"] == json!([b])
            && s["count"] == json!("Clients (2)")
            && s["rows"] == json!(2)
            && s["groups"] == json!([b])
            && s["send_disabled"] == json!(false)
    };
    let last = loop {
        let s = page.execute(snapshot, vec![]).await.unwrap();
        if agreed(&s) {
            break s;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(3),
            "the page disagrees with itself 3 s after the kill: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("agreed {:?} after the kill: {last}", killed.elapsed());
    // And it stays so while the registry forgets the dead instance (its entry lives 3 s).
    while killed.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let s = page.execute(snapshot, vec![]).await.unwrap();
        assert!(agreed(&s), "disagrees again: {s}");
    }
    page.close().await.unwrap();
    cluster.stop().await;
}
