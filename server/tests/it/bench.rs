//! `gridcast bench` under faults: against gridcast (nothing lost, clients move) and against the
//! Node.js reference cluster (losses reported as a result, not an error).

use crate::support::{instances, node::NodeServer, redis, url};
use gridcast_server::{Cluster, PrivateRedis, tools::bench::BenchReport};
use serde_json::Value;

/// Runs the real binary with `args`; its exit code and the first report of its JSON output.
async fn bench(args: &[&str]) -> (i32, Value) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridcast"))
        .arg("bench")
        .args([
            "--json",
            "--clients",
            "12",
            "--rate",
            "60",
            "--duration",
            "4s",
        ])
        .args(args)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Error:"),
        "{stderr}"
    );
    let reports: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap(), reports[0].clone())
}

/// A third instance, in its own process, for a `--fault` to SIGKILL during the load.
struct Victim {
    process: tokio::process::Child,
    url: String,
}

impl Victim {
    async fn start(redis: &PrivateRedis) -> Self {
        let port = gridcast_server::free_port().unwrap();
        let process = crate::support::spawn_gridcast(port, &redis.url());
        let url = format!("http://127.0.0.1:{port}");
        crate::support::connect_with_retry(&url).await;
        Self { process, url }
    }

    /// The URLs of `cluster`'s two instances and this one, for `--urls`.
    fn urls(&self, cluster: &[Cluster]) -> String {
        [url(&cluster[0]), url(&cluster[1]), self.url.clone()].join(",")
    }

    /// The `--fault` that kills it a second into the load.
    fn kill_after_1s(&self) -> String {
        format!("1s=kill -9 {}", self.process.id().unwrap())
    }
}

#[tokio::test]
async fn an_instance_killed_during_the_load_costs_gridcast_nothing() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let victim = Victim::start(&redis).await;
    let (urls, kill) = (victim.urls(&cluster), victim.kill_after_1s());
    let (code, report) = bench(&["--urls", &urls, "--fault", &kill]).await;
    let parsed: BenchReport = serde_json::from_value(report.clone()).unwrap();
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(parsed.lost, 0);
    assert_eq!(parsed.duplicates, 0);
    assert!(parsed.reached > 200, "{report:#}");
    assert_eq!(parsed.received, parsed.expected);
    // Every client was welcomed (the bench counts it and fails when one is not).
    assert_eq!(parsed.welcomed, parsed.clients, "{report:#}");
    assert_eq!(parsed.unwelcomed(), 0);
    // The four clients on the victim moved, and the fault is in the report.
    assert_eq!(parsed.connections_lost.len(), 4, "{report:#}");
    for lost in &parsed.connections_lost {
        assert_eq!(lost.url, victim.url);
        assert!(lost.moved_to.as_ref().is_some_and(|to| *to != victim.url));
    }
    assert_eq!(parsed.faults.len(), 1);
    assert_eq!(parsed.faults[0].exit_code, Some(0));
    assert!(parsed.faults[0].all_delivering_after_ms.is_some());
    assert!(parsed.faults[0].backlog_delivered_after_ms.is_some());
}

/// `--procs 12`: the clients are spread over the bench and eleven `bench-worker` processes (from
/// two loopback addresses), one each; every process sends its part, so no client sends faster
/// than without workers (60 msg/s over 12 clients is 5/s each, under the server's 20/s per
/// client; from the bench's one client alone it would be 60/s, and refused after its burst);
/// what the workers' clients saw comes back into the one report, moves after a killed instance
/// included.
#[tokio::test]
async fn clients_spread_over_worker_processes_count_in_one_report() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let victim = Victim::start(&redis).await;
    let (urls, kill) = (victim.urls(&cluster), victim.kill_after_1s());
    let (code, report) = bench(&[
        "--urls",
        &urls,
        "--fault",
        &kill,
        "--procs",
        "12",
        "--local-addrs",
        "127.0.0.1,127.0.0.2",
    ])
    .await;
    let parsed: BenchReport = serde_json::from_value(report.clone()).unwrap();
    assert_eq!(code, 0, "{report:#}");
    // All twelve clients, one per process, are in the report: each received everything.
    assert_eq!((parsed.clients, parsed.connect_failed), (12, 0));
    // Nothing refused (the discriminating check); a send from a client on the killed instance
    // fails while it moves, so not all 240 are sent.
    assert_eq!(parsed.refused, 0, "{report:#}");
    assert!(parsed.sent > 200, "{report:#}");
    assert_eq!(parsed.longest_gap_ms.len(), 12, "{report:#}");
    assert_eq!(parsed.welcomed, 12, "{report:#}");
    assert!(parsed.reached > 200, "{report:#}");
    assert_eq!(parsed.expected, parsed.reached * 12);
    assert_eq!((parsed.received, parsed.lost), (parsed.expected, 0));
    // Clients 2, 5, 8 and 11 started on the victim, all four in workers.
    assert_eq!(parsed.connections_lost.len(), 4, "{report:#}");
    assert!(
        parsed
            .connections_lost
            .iter()
            .all(|l| l.url == victim.url && l.moved_to.is_some()),
        "{report:#}"
    );
    // Latencies measured in the workers are on the bench's clock: no negative or absurd ones.
    assert!(
        parsed.latency_ms[0] > 0.0 && parsed.latency_ms[4] < 5_000.0,
        "{report:#}"
    );
}

#[tokio::test]
async fn a_node_reference_server_killed_during_the_load_is_a_reported_loss_not_a_crash() {
    let redis = redis().await;
    let a = NodeServer::start(&redis.url()).await;
    let b = NodeServer::start(&redis.url()).await;
    let urls = [a.url.clone(), b.url.clone()].join(",");
    // What a fault command prints goes to stderr: stdout stays one JSON document.
    let kill = format!("1s=kill -9 {} && echo killed", b.pid());
    let (code, report) = bench(&["--urls", &urls, "--fault", &kill]).await;
    let parsed: BenchReport = serde_json::from_value(report.clone()).unwrap();
    assert_eq!(code, 1, "a loss is a failure: {report:#}");
    assert!(parsed.lost > 0, "{report:#}");
    // The reference sends no `welcome`: not counted against it.
    assert_eq!((parsed.welcomed, parsed.unwelcomed()), (0, 0));
    assert_eq!(parsed.connections_lost.len(), 6, "{report:#}");
    assert!(
        parsed
            .connections_lost
            .iter()
            .all(|l| l.moved_to.as_deref() == Some(a.url.as_str())),
        "{report:#}"
    );
}

/// `--ramp` against a real cluster: steps until the per-client rate limit refuses messages (a
/// saturation point reached quickly on purpose: 4 clients, the server's default 20 msg/s each),
/// the table, and the SVG plot written.
#[tokio::test]
async fn a_ramp_stops_at_saturation_and_draws_the_plot() {
    use gridcast_server::tools::ramp::RampReport;
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let urls = [url(&cluster[0]), url(&cluster[1])].join(",");
    let plot = std::env::temp_dir().join(format!("gridcast-ramp-{}.svg", std::process::id()));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridcast"))
        .args([
            "bench",
            "--ramp",
            "--json",
            "--urls",
            &urls,
            "--clients",
            "4",
        ])
        .args([
            "--ramp-from",
            "20",
            "--ramp-factor",
            "2",
            "--duration",
            "1s",
            // The stop under test is the clients' rate limit: a p99 spike of a loaded machine
            // (127 ms once, in a full suite run) must not end the ramp first.
            "--p99-limit",
            "5s",
        ])
        .arg("--plot")
        .arg(&plot)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let reports: Vec<RampReport> = serde_json::from_slice(&out.stdout).unwrap();
    let steps = &reports[0].steps;
    // Doubling from 20 msg/s until a client sends more than its limit (20/s, burst 50) allows.
    let rates: Vec<u32> = steps.iter().map(|s| s.rate).collect();
    assert!(rates.len() >= 3, "{stderr}");
    assert!(rates.windows(2).all(|w| w[1] == 2 * w[0]), "{rates:?}");
    let (last, passed) = steps.split_last().unwrap();
    assert!(passed.iter().all(|s| s.failed.is_none()), "{steps:?}");
    assert!(
        last.failed.as_deref().unwrap().contains("refused"),
        "{steps:?}"
    );
    assert_eq!(
        reports[0].saturation,
        Some(f64::from(passed.last().unwrap().rate) * 4.0)
    );
    let svg = std::fs::read_to_string(&plot).unwrap();
    let _ = std::fs::remove_file(&plot);
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );
    assert!(stderr.contains("saturated"), "progress on stderr: {stderr}");
}
