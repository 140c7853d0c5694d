//! Two pages on two instances: messages cross, switching instances, presence, rooms and the grid
//! check, all in the browser.

use super::*;

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
    // A deliberate switch is told as one, not as a reconnect.
    let labels: Vec<&str> = urls
        .iter()
        .map(|u| u.trim_start_matches("http://"))
        .collect();
    let notice = wait_js(
        &a,
        "the switch told",
        "(() => { const t = document.querySelector('#notice')?.textContent; return t && (t.includes('switched') || t.includes('reconnected')) && t; })()",
        vec![],
    )
    .await;
    assert!(
        notice
            .as_str()
            .unwrap()
            .starts_with(&format!("switched from {} to {}", labels[0], labels[1])),
        "{notice}"
    );
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
