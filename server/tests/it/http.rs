//! The HTTP side of an instance: the UI at `/`, 404 for anything that is neither the UI, an
//! endpoint nor Socket.IO.

use crate::support::{redis, request};
use gridcast_server::{Cluster, ServeConfig};

async fn instance(redis: &gridcast_server::PrivateRedis, dist: &std::path::Path) -> Cluster {
    let mut config = ServeConfig::new(vec![0], Some(redis.url()));
    config.static_dir = dist.to_owned();
    Cluster::start(config).await.unwrap()
}

#[tokio::test]
async fn unknown_paths_are_404_with_and_without_a_built_ui() {
    let redis = redis().await;

    // A built UI: its files are served, `/` is its index, anything else is 404.
    let dist = std::env::temp_dir().join(format!("gridcast-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>ui</title>").unwrap();
    std::fs::write(dist.join("app.js"), "export {}").unwrap();
    let built = instance(&redis, &dist).await;
    let base = crate::support::url(&built);
    for (path, status) in [
        ("/", 200),
        ("/app.js", 200),
        ("/health", 200),
        ("/instances", 200),
        ("/nope", 404),
        ("/wp-login.php", 404),
    ] {
        let (got, body) = request("GET", &format!("{base}{path}"), "").await;
        assert_eq!(got, status, "{path}: {body}");
    }
    built.stop().await;
    std::fs::remove_dir_all(&dist).unwrap();

    // No UI: `/` explains how to build it, anything else is 404.
    let bare = instance(&redis, std::path::Path::new("/nonexistent-gridcast-dist")).await;
    let base = crate::support::url(&bare);
    let (status, body) = request("GET", &format!("{base}/"), "").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("The gridcast UI is not built"), "{body}");
    assert_eq!(request("GET", &format!("{base}/nope"), "").await.0, 404);
    bare.stop().await;
}

#[tokio::test]
async fn metrics_count_clients_broadcasts_and_publish_latency() {
    let redis = redis().await;
    let cluster = crate::support::instances(&redis, 1).await;
    let base = crate::support::url(&cluster[0]);
    let mut client = crate::support::client(&cluster[0]).await;
    for text in ["one", "two"] {
        client
            .emit(
                gridcast_shared::event::MESSAGE,
                vec![serde_json::json!(text)],
            )
            .unwrap();
        client.next_message(crate::support::WAIT).await.unwrap();
    }
    let (status, text) = request("GET", &format!("{base}/metrics"), "").await;
    assert_eq!(status, 200, "{text}");
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    assert_eq!(value("gridcast_clients"), 1.0);
    assert_eq!(value("gridcast_redis_up"), 1.0);
    // Two messages, and the connect's presence delta is no broadcast of a message.
    assert_eq!(value("gridcast_broadcasts_total"), 2.0);
    assert_eq!(value("gridcast_local_only_broadcasts_total"), 0.0);
    assert_eq!(
        value("gridcast_dropped_packets_total{cause=\"relayed\"}"),
        0.0
    );
    assert_eq!(value("gridcast_unsent_total{cause=\"reply\"}"), 0.0);
    // Every broadcast (messages and presence deltas) is published once.
    assert!(
        value("gridcast_redis_publish_seconds_count") >= 2.0,
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
}

/// Both spellings engineioxide serves, `/socket.io/` and `/socket.io`, are guarded alike (the
/// guard used to check only the first: a foreign page got `101` on the second).
#[tokio::test]
async fn pages_from_other_origins_are_refused_and_the_clusters_own_are_granted() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let redis = redis().await;
    let cluster = crate::support::instances(&redis, 1).await;
    let base = crate::support::url(&cluster[0]);
    let upgrade = |path: &str, origin: &str| {
        let url = format!(
            "{}{path}?EIO=4&transport=websocket",
            base.replace("http://", "ws://")
        );
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        request
    };
    for path in ["/socket.io/", "/socket.io"] {
        let handshake = format!("{base}{path}?EIO=4&transport=polling");

        // A page of another site: the Socket.IO endpoint refuses it, readably.
        let evil = [("Origin", "http://evil.example")];
        let (status, _, body) = crate::support::request_with("GET", &handshake, "", &evil).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("--allowed-origins"), "{body}");
        // Nor a WebSocket upgrade (CORS does not cover those).
        let refused = tokio_tungstenite::connect_async(upgrade(path, "http://evil.example")).await;
        let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = refused else {
            panic!("{path}: a foreign page's upgrade was not refused: {refused:?}")
        };
        assert_eq!(response.status(), 403, "{path}");

        // A page served by another instance of the cluster (any port, loopback names) is
        // granted.
        let own = [("Origin", "http://127.0.0.1:12345")];
        let (status, head, body) = crate::support::request_with("GET", &handshake, "", &own).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            head.contains("access-control-allow-origin: http://127.0.0.1:12345"),
            "{head}"
        );
        let granted =
            tokio_tungstenite::connect_async(upgrade(path, "http://localhost:3000")).await;
        assert!(granted.is_ok(), "{path}: {granted:?}");

        // Clients that send no Origin (not browsers) are not concerned.
        let (status, _, body) = crate::support::request_with("GET", &handshake, "", &[]).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // No CORS grant on the other routes either (the browser then hides the answer).
    let evil = [("Origin", "http://evil.example")];
    let (status, head, _) =
        crate::support::request_with("GET", &format!("{base}/instances"), "", &evil).await;
    assert_eq!(status, 200);
    assert!(!head.contains("access-control-allow-origin"), "{head}");
}
