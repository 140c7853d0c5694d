//! Behind a real load balancer: Debian's nginx with `deploy/nginx.conf` in front of two instances.
//! The official client on both transports, our own client, `gridcast check` and the UI's files,
//! all through nginx's one port.

use std::time::Duration;

use crate::support::{WAIT, client, js::JsClient, nginx::Nginx, redis};
use gridcast_server::{Cluster, ServeConfig};
use gridcast_shared::{InstanceList, event};
use serde_json::json;

#[tokio::test]
async fn clients_check_and_the_ui_work_through_nginx() {
    let redis = redis().await;
    let dist = crate::support::repo("dist");
    assert!(
        dist.join("index.html").is_file(),
        "the UI is not built: run `./dev test` (or `trunk build --release`)"
    );
    let mut config = ServeConfig::new(vec![0, 0], Some(redis.url()));
    config.static_dir = dist;
    let cluster = Cluster::start(config).await.unwrap();
    let urls = cluster.urls();
    let lb = Nginx::start(&urls).await;

    // The UI and the registry through nginx: the dropdown can still name each instance.
    let (status, page) = crate::support::request("GET", &format!("{}/", lb.url), "").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<html") || page.contains("<!DOCTYPE"),
        "{page:.200}"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let list: InstanceList =
            serde_json::from_str(&crate::support::get(&format!("{}/instances", lb.url)).await)
                .unwrap();
        if list.instances.len() == 2 && urls.iter().all(|u| list.instances.contains(u)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The official client through nginx, on WebSocket and on long-polling (which needs every
    // request of a session to reach the same instance).
    let mut ws = JsClient::connect(&lb.url, "websocket").await;
    let mut polling = JsClient::connect(&lb.url, "polling").await;
    let mut on_a = client(&cluster).await;
    polling
        .command(json!({"emit_ack": ["message", "through nginx, polling"], "id": 1}))
        .await;
    let ack = polling.next_of("ack").await;
    assert_eq!(ack["args"][0]["ok"], true, "{ack}");
    assert_eq!(ack["args"][0]["delivery"], "cluster", "{ack}");
    for _ in 0..3 {
        // Several long-poll round trips: each reached the session's instance.
        polling.command(json!({"emit": ["message", "again"]})).await;
    }
    assert_eq!(
        ws.next_event(event::MESSAGE).await[0],
        "through nginx, polling"
    );
    assert_eq!(
        on_a.next_message(WAIT).await.unwrap().0,
        "through nginx, polling"
    );
    ws.command(json!({"emit": ["message", "through nginx, websocket"]}))
        .await;
    // The polling client gets its own four and the WebSocket client's one, each once.
    let mut seen = Vec::new();
    while seen.len() < 5 {
        seen.push(polling.next_event(event::MESSAGE).await[0].to_string());
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "\"again\"",
            "\"again\"",
            "\"again\"",
            "\"through nginx, polling\"",
            "\"through nginx, websocket\""
        ]
    );

    // `gridcast check` through nginx.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridcast"))
        .args(["check", "--timeout", "5s", "--urls", &lb.url])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    cluster.stop().await;
}
