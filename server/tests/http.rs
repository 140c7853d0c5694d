//! The HTTP side of an instance: the UI at `/`, 404 for anything that is neither the UI, an
//! endpoint nor Socket.IO.

mod support;

use gridcast_server::{Cluster, ServeConfig};
use support::{redis, request};

async fn instance(redis: &gridcast_server::redis::PrivateRedis, dist: &std::path::Path) -> Cluster {
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
    let base = support::url(&built);
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
    let base = support::url(&bare);
    let (status, body) = request("GET", &format!("{base}/"), "").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("The gridcast UI is not built"), "{body}");
    assert_eq!(request("GET", &format!("{base}/nope"), "").await.0, 404);
    bare.stop().await;
}
