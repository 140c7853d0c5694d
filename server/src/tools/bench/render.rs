//! Bench reports as a table for a terminal: one column per cluster, and with two the ratio
//! (second ÷ first) per row, then a line per fault and per instance that lost connections.
//!
//! Invariant: the table's text is an output format (`scripts/soak.sh` greps its rows, the README
//! names them): row labels, widths and number formats change only on purpose.

use std::{collections::BTreeMap, time::Duration};

use super::report::{BenchReport, ConnectionLost, PERCENTILES};

/// One report, or two side by side with the ratio (second ÷ first) per row; columns are named by
/// `labels`, or by their first URL.
pub(super) fn render(
    reports: &[BenchReport],
    labels: &[String],
    rate: u32,
    duration: Duration,
) -> String {
    let mut out = format!(
        "gridcast bench: {} clients, {rate} msg/s for {duration:?} (every client receives every message)\n\n",
        reports.first().map_or(0, |r| r.clients)
    );
    out.push_str(&format!("{:<22}", ""));
    for (i, r) in reports.iter().enumerate() {
        let name = labels
            .get(i)
            .cloned()
            .or_else(|| r.urls.first().cloned())
            .unwrap_or_default();
        out.push_str(&format!("{name:>26}"));
    }
    if reports.len() == 2 {
        out.push_str(&format!("{:>12}", "ratio 2/1"));
    }
    out.push('\n');
    let row = |label: &str, values: Vec<f64>, fmt: &dyn Fn(f64) -> String| {
        let mut line = format!("{label:<22}");
        for v in &values {
            line.push_str(&format!("{:>26}", fmt(*v)));
        }
        if let [a, b] = values[..] {
            let ratio = if a == 0.0 && b == 0.0 {
                "–".to_owned()
            } else {
                format!("{:.2}", b / a)
            };
            line.push_str(&format!("{ratio:>12}"));
        }
        line.push('\n');
        line
    };
    out.push_str(&row(
        "delivered / expected",
        reports
            .iter()
            .map(|r| r.received as f64 / r.expected.max(1) as f64 * 100.0)
            .collect(),
        &|v| format!("{v:.3} %"),
    ));
    let count_row = |label: &str, f: &dyn Fn(&BenchReport) -> u64| {
        row(label, reports.iter().map(|r| f(r) as f64).collect(), &|v| {
            format!("{v}")
        })
    };
    out.push_str(&count_row("sent", &|r| r.sent));
    out.push_str(&count_row("reached the cluster", &|r| r.reached));
    out.push_str(&count_row("reached no client", &|r| r.reached_nobody));
    out.push_str(&count_row("delivered live", &|r| r.live));
    out.push_str(&count_row("recovered by replay", &|r| r.recovered));
    out.push_str(&count_row("lost", &|r| r.lost));
    out.push_str(&count_row("connections lost", &|r| {
        r.connections_lost.len() as u64
    }));
    out.push_str(&count_row("clients not connected", &|r| {
        r.connect_failed as u64
    }));
    out.push_str(&count_row("welcomed (gridcast)", &|r| r.welcomed as u64));
    out.push_str(&row(
        "all connected in",
        reports.iter().map(|r| r.connect_ms).collect(),
        &|v| format!("{v:.0} ms"),
    ));
    out.push_str(&row(
        "longest gap (max)",
        reports
            .iter()
            .map(|r| r.longest_gap_ms.iter().copied().fold(0.0, f64::max))
            .collect(),
        &|v| format!("{v:.0} ms"),
    ));
    out.push_str(&row(
        "refused (rate limit)",
        reports.iter().map(|r| r.refused as f64).collect(),
        &|v| format!("{v}"),
    ));
    out.push_str(&row(
        "duplicates",
        reports.iter().map(|r| r.duplicates as f64).collect(),
        &|v| format!("{v}"),
    ));
    out.push_str(&row(
        "deliveries/s",
        reports.iter().map(|r| r.deliveries_per_sec).collect(),
        &|v| format!("{v:.0}"),
    ));
    for (i, (label, _)) in PERCENTILES.iter().enumerate() {
        out.push_str(&row(
            &format!("latency {label}"),
            reports.iter().map(|r| r.latency_ms[i]).collect(),
            &|v| format!("{v:.2} ms"),
        ));
    }
    for (i, r) in reports.iter().enumerate() {
        out.push_str(&faults(i, r));
        out.push_str(&connections_lost(i, r));
    }
    if reports
        .iter()
        .any(|r| !r.faults.is_empty() || !r.connections_lost.is_empty())
    {
        out.push('\n');
    }
    out
}

/// A line per fault run on cluster `i` (from 0), each starting with a newline.
fn faults(i: usize, r: &BenchReport) -> String {
    let mut out = String::new();
    for fault in &r.faults {
        let resumed = fault
            .all_delivering_after_ms
            .map_or("some client never received again".to_owned(), |t| {
                format!("every client receiving again {t:.0} ms later")
            });
        let backlog = fault.backlog_delivered_after_ms.map_or(
            "some message sent before it never reached every client".to_owned(),
            |t| format!("everything sent before it everywhere {t:.0} ms later"),
        );
        out.push_str(&format!(
            "\nfault on cluster {} at {:.1} s: `{}` (exit {}): {resumed}; {backlog}",
            i + 1,
            fault.at_ms / 1000.0,
            fault.command,
            fault
                .exit_code
                .map_or("by signal".to_owned(), |c| c.to_string()),
        ));
    }
    out
}

/// A line per instance of cluster `i` (from 0) that lost connections, each starting with a
/// newline: grouped by instance, since a killed instance loses all its clients at once.
fn connections_lost(i: usize, r: &BenchReport) -> String {
    let mut out = String::new();
    let mut by_url: BTreeMap<&str, Vec<&ConnectionLost>> = BTreeMap::new();
    for lost in &r.connections_lost {
        by_url.entry(&lost.url).or_default().push(lost);
    }
    for (url, lost) in by_url {
        let first = lost.iter().map(|l| l.at_ms).fold(f64::INFINITY, f64::min);
        let moved: Vec<f64> = lost.iter().filter_map(|l| l.moved_after_ms).collect();
        let slowest = moved.iter().copied().fold(0.0, f64::max);
        out.push_str(&format!(
            "\nconnections lost on cluster {}: {} to {url} from {:.1} s ({}); {} moved to another instance (the slowest {slowest:.0} ms later), {} found none",
            i + 1,
            lost.len(),
            first / 1000.0,
            lost[0].reason,
            moved.len(),
            lost.len() - moved.len(),
        ));
    }
    out
}
