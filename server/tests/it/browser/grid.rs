//! The grid check from the page: against a plain Socket.IO cluster (the Node.js reference) typed
//! into the picker, during a Redis outage, and a result going stale when an instance dies.

use super::*;

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
