//! `gridcast check`: proves, pair by pair, that every instance reaches every other.
//!
//! One probe per URL sends a uniquely tagged `message` string; each probe must receive every tag
//! exactly once. Only the plain `message` string contract is used, so it works against any
//! Socket.IO cluster that broadcasts `message` with `io.emit` (a Node.js socket.io +
//! @socket.io/redis-adapter cluster too). The matrix logic and diagnosis live in
//! [`gridcast_shared::grid`].

use std::{process::ExitCode, time::Duration};

use gridcast_shared::{
    event,
    grid::{Cell, Collector, GridReport},
};
use serde_json::Value;
use tokio::time::Instant;

use super::probe::{Incoming, Probe};
use crate::cli::CheckConfig;

/// After every expected message arrived, how long to keep listening for duplicates.
const DUPLICATE_GRACE: Duration = Duration::from_millis(300);

/// `gridcast check` as a command: runs it, prints the table (or one JSON object with `--json`)
/// on stdout, and returns the exit code: success only when every cell passed.
pub async fn command(config: &CheckConfig) -> ExitCode {
    let report = run(&config.urls, config.timeout).await;
    if config.json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("a report serialises")
        );
    } else {
        print!("{}", render(&report, config.timeout));
    }
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs the check and returns the report.
pub async fn run(urls: &[String], timeout: Duration) -> GridReport {
    let n = urls.len();
    let run_id = format!("{:08x}", rand::random::<u32>());
    let mut collector = Collector::new(run_id, n);
    let start = Instant::now();
    let ms = |t: Instant| t.duration_since(start).as_secs_f64() * 1000.0;

    let connected = futures_util::future::join_all(urls.iter().map(|u| Probe::connect(u))).await;
    let mut probes: Vec<Option<Probe>> = Vec::with_capacity(n);
    for (i, probe) in connected.into_iter().enumerate() {
        match probe {
            Ok(p) => probes.push(Some(p)),
            Err(e) => {
                tracing::debug!(url = %urls[i], "probe failed: {e}");
                collector.unreachable(i);
                probes.push(None);
            }
        }
    }
    for (i, probe) in probes.iter().enumerate() {
        if let Some(probe) = probe {
            collector.sent(i, ms(Instant::now()));
            if probe
                .emit(event::MESSAGE, vec![Value::from(collector.tag(i))])
                .is_err()
            {
                collector.unreachable(i);
            }
        }
    }

    // Read every probe until all tags arrived (plus a grace period for duplicates) or time is up.
    let deadline = start + timeout;
    let mut complete_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let stop = complete_at.map_or(deadline, |t| (t + DUPLICATE_GRACE).min(deadline));
        if now >= stop {
            break;
        }
        let reads = probes
            .iter_mut()
            .enumerate()
            .filter_map(|(i, p)| p.as_mut().map(|p| (i, p)))
            .map(|(i, p)| async move { (i, p.next(Duration::from_millis(20)).await) });
        for (i, item) in futures_util::future::join_all(reads).await {
            match item {
                Ok(Incoming::Event { event, args, at }) if event == event::MESSAGE => {
                    if let Some(text) = args.first().and_then(Value::as_str) {
                        collector.received(i, text, ms(at));
                    }
                }
                Ok(Incoming::Closed(_)) | Err(super::probe::ProbeError::Closed) => probes[i] = None,
                _ => {}
            }
        }
        if complete_at.is_none() && collector.complete() {
            complete_at = Some(Instant::now());
        }
    }
    for probe in probes.into_iter().flatten() {
        probe.close();
    }
    collector.report(urls)
}

/// The report as a table for a terminal.
pub fn render(report: &GridReport, timeout: Duration) -> String {
    let label = |u: &String| {
        u.trim_end_matches('/')
            .split_once("://")
            .map_or(u.as_str(), |(_, r)| r)
            .to_owned()
    };
    let labels: Vec<String> = report.urls.iter().map(label).collect();
    let width = labels.iter().map(String::len).max().unwrap_or(4).max(10) + 2;
    let mut out = format!(
        "gridcast check: {} instances, timeout {:?}\nrows: sender, columns: receiver\n\n{:width$}",
        report.urls.len(),
        timeout,
        "",
    );
    for l in &labels {
        out.push_str(&format!("{l:>width$}"));
    }
    out.push('\n');
    for (from, row) in report.cells.iter().enumerate() {
        out.push_str(&format!("{:width$}", labels[from]));
        for cell in row {
            let text = match cell {
                Cell::Ok { latency_ms } => format!("{latency_ms:.1} ms"),
                Cell::Duplicate { count, .. } => format!("DUPLICATE×{count}"),
                Cell::Missing => "MISSING".to_owned(),
                Cell::Unreachable => "UNREACHABLE".to_owned(),
            };
            out.push_str(&format!("{text:>width$}"));
        }
        out.push('\n');
    }
    out.push_str(if report.passed {
        "\nresult: PASS\n"
    } else {
        "\nresult: FAIL\n"
    });
    for line in &report.diagnosis {
        out.push_str(&format!("- {line}\n"));
    }
    out
}
