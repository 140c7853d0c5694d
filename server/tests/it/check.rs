//! `gridcast check` against a healthy cluster, a split one, and the Node.js reference cluster.

use std::time::Duration;

use crate::support::{connect_with_retry, instances, node::NodeServer, redis, spawn_gridcast, url};
use gridcast_server::free_port;
use gridcast_server::tools::check;
use gridcast_shared::grid::{Cell, GridReport};
use tokio::process::Command;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the real binary and returns its exit code and parsed `--json` report.
async fn check_binary(urls: &[String]) -> (i32, GridReport) {
    let out = Command::new(env!("CARGO_BIN_EXE_gridcast"))
        .args([
            "check",
            "--json",
            "--timeout",
            "5s",
            "--urls",
            &urls.join(","),
        ])
        .output()
        .await
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), report)
}

#[tokio::test]
async fn a_healthy_three_instance_cluster_passes_every_cell() {
    let redis = redis().await;
    let cluster = instances(&redis, 3).await;
    let urls: Vec<String> = cluster.iter().map(url).collect();

    let report = check::run(&urls, TIMEOUT).await;
    assert!(report.passed, "{}", check::render(&report, TIMEOUT));
    assert_eq!(report.cells.len(), 3);
    assert!(all_ok(&report));
    let table = check::render(&report, TIMEOUT);
    assert!(
        table.contains("result: PASS") && table.contains(" ms"),
        "{table}"
    );

    let (code, report) = check_binary(&urls).await;
    assert_eq!(code, 0, "{report:?}");
    assert!(report.passed);
}

#[tokio::test]
async fn a_cluster_split_across_two_redis_servers_fails_on_exactly_the_cross_cells() {
    let redis_a = redis().await;
    let redis_b = redis().await;
    let mut cluster = instances(&redis_a, 2).await;
    cluster.extend(instances(&redis_b, 1).await);
    let urls: Vec<String> = cluster.iter().map(url).collect();

    let (code, report) = check_binary(&urls).await;
    assert_eq!(code, 1);
    assert!(!report.passed);
    for from in 0..3 {
        for to in 0..3 {
            let same_redis = (from < 2) == (to < 2);
            assert_eq!(
                report.cells[from][to].delivered(),
                same_redis,
                "{from} → {to}: {:?}",
                report.cells[from][to]
            );
        }
    }
    assert!(
        report.diagnosis[0].contains("2 isolated groups")
            && report.diagnosis[0].contains("Redis server or channel prefix"),
        "{:?}",
        report.diagnosis
    );
}

#[tokio::test]
async fn the_nodejs_reference_cluster_passes_too() {
    let redis = redis().await;
    let a = NodeServer::start(&redis.url()).await;
    let b = NodeServer::start(&redis.url()).await;
    let urls = vec![a.url.clone(), b.url.clone()];
    let (code, report) = check_binary(&urls).await;
    assert_eq!(code, 0, "{report:?}");
    assert!(all_ok(&report));
}

fn all_ok(report: &GridReport) -> bool {
    report
        .cells
        .iter()
        .flatten()
        .all(|c| matches!(c, Cell::Ok { .. }))
}

/// `gridcast check` on a healthy cluster of two separate processes passes every time: its probes
/// send the moment their CONNECT is acknowledged, which found the instance's handlers not yet in
/// place (a whole row MISSING in 3 of 30 runs) until they were registered before the ack.
#[tokio::test]
async fn check_passes_a_hundred_runs_in_a_row_on_a_healthy_cluster() {
    let redis = redis().await;
    let ports = [free_port().unwrap(), free_port().unwrap()];
    let _servers = ports.map(|port| spawn_gridcast(port, &redis.url()));
    let urls: Vec<String> = ports
        .iter()
        .map(|port| format!("http://127.0.0.1:{port}"))
        .collect();
    for url in &urls {
        connect_with_retry(url).await;
    }
    for run in 1..=100 {
        let report = check::run(&urls, TIMEOUT).await;
        assert!(
            report.passed,
            "run {run} of 100: {}",
            check::render(&report, TIMEOUT)
        );
    }
}
