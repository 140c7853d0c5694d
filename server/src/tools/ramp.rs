//! `gridcast bench --ramp`: raises the offered load step by step until a cluster saturates (a
//! delivery lost, a message refused or duplicated, or p99 above a limit), per cluster, and draws
//! p50 and p99 against offered deliveries per second for the clusters side by side (SVG).
//!
//! Invariant: a ramp knows nothing of how a step's load is generated: its caller (the
//! `gridcast bench` command) passes a function that runs one step and says what it measured
//! (`Measured`), so dependencies run one way, from the bench to here.

use std::{fmt::Write as _, time::Duration};

use serde::{Deserialize, Serialize};

/// How a ramp proceeds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RampPlan {
    /// Messages per second (all clients together) of the first step.
    pub(crate) from: u32,
    /// Each step offers this many times the previous one.
    pub(crate) factor: f64,
    /// How long each step sends.
    pub(crate) step: Duration,
    /// Steps at most.
    pub(crate) max_steps: usize,
    /// A step whose p99 is above this (milliseconds) is past saturation.
    pub(crate) p99_limit_ms: f64,
}

/// One step of a ramp.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RampStep {
    /// Messages per second offered, all clients together.
    pub rate: u32,
    /// Deliveries per second offered (rate × clients).
    pub offered: f64,
    /// Deliveries per second achieved.
    pub achieved: f64,
    /// Latency p50, milliseconds.
    pub p50_ms: f64,
    /// Latency p99, milliseconds.
    pub p99_ms: f64,
    /// Deliveries lost.
    pub lost: u64,
    /// Messages refused by the server's rate limit.
    pub refused: u64,
    /// Deliveries received twice.
    pub duplicates: u64,
    /// Clients that could not connect.
    pub connect_failed: usize,
    /// Why the step is past saturation, if it is.
    pub failed: Option<String>,
}

/// A ramp against one cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RampReport {
    /// The cluster's name in the table and the plot.
    pub label: String,
    /// Its URLs.
    pub urls: Vec<String>,
    /// Clients (each receives every message).
    pub clients: usize,
    /// The steps run, the last one past saturation unless the ramp ran out of steps.
    pub steps: Vec<RampStep>,
    /// The highest offered deliveries per second that passed.
    pub saturation: Option<f64>,
}

/// What a step's run measured, as far as the ramp judges it: the fields of the same names in
/// [`RampStep`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    pub(crate) achieved: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) lost: u64,
    pub(crate) refused: u64,
    pub(crate) duplicates: u64,
    pub(crate) connect_failed: usize,
}

impl RampStep {
    fn judge(&mut self, plan: &RampPlan) {
        self.failed = if self.connect_failed > 0 {
            Some(format!("{} clients could not connect", self.connect_failed))
        } else if self.refused > 0 {
            Some(format!(
                "{} messages refused by the rate limit (use more clients or raise the server's --rate-limit)",
                self.refused
            ))
        } else if self.lost > 0 {
            Some(format!("{} deliveries lost", self.lost))
        } else if self.duplicates > 0 {
            Some(format!("{} duplicates", self.duplicates))
        } else if self.p99_ms > plan.p99_limit_ms {
            Some(format!(
                "p99 {:.1} ms above {:.0} ms",
                self.p99_ms, plan.p99_limit_ms
            ))
        } else {
            None
        };
    }
}

/// Runs `plan` against `urls` with `clients`, each step by `run` (its argument: messages per
/// second, all clients together, for `plan.step`); progress on stderr unless `quiet`. Stops at
/// the first step past saturation, or at the first error.
pub(crate) async fn ramp<E>(
    label: &str,
    urls: &[String],
    clients: usize,
    plan: &RampPlan,
    quiet: bool,
    mut run: impl AsyncFnMut(u32) -> Result<Measured, E>,
) -> Result<RampReport, E> {
    let mut steps = Vec::new();
    let mut rate = f64::from(plan.from.max(1));
    for _ in 0..plan.max_steps {
        let r = rate.round() as u32;
        let measured = run(r).await?;
        let mut step = RampStep {
            rate: r,
            offered: f64::from(r) * clients as f64,
            achieved: measured.achieved,
            p50_ms: measured.p50_ms,
            p99_ms: measured.p99_ms,
            lost: measured.lost,
            refused: measured.refused,
            duplicates: measured.duplicates,
            connect_failed: measured.connect_failed,
            failed: None,
        };
        step.judge(plan);
        if !quiet {
            eprintln!(
                "gridcast bench --ramp [{label}] {r} msg/s = {:.0} deliveries/s: achieved {:.0}, p50 {:.2} ms, p99 {:.2} ms{}",
                step.offered,
                step.achieved,
                step.p50_ms,
                step.p99_ms,
                step.failed
                    .as_deref()
                    .map(|why| format!(": saturated ({why})"))
                    .unwrap_or_default()
            );
        }
        let saturated = step.failed.is_some();
        steps.push(step);
        if saturated {
            break;
        }
        rate *= plan.factor;
    }
    let saturation = steps
        .iter()
        .filter(|s| s.failed.is_none())
        .map(|s| s.offered)
        .reduce(f64::max);
    Ok(RampReport {
        label: label.to_owned(),
        urls: urls.to_vec(),
        clients,
        steps,
        saturation,
    })
}

/// The ramps as tables, and the saturation points side by side.
pub(crate) fn render(reports: &[RampReport], plan: &RampPlan) -> String {
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(
            out,
            "gridcast bench --ramp: {} ({} clients, steps of {:?}, ×{} each, saturated at p99 > {} ms or any loss)",
            r.label, r.clients, plan.step, plan.factor, plan.p99_limit_ms
        );
        let _ = writeln!(
            out,
            "{:>10} {:>14} {:>14} {:>10} {:>10}  result",
            "msg/s", "offered/s", "achieved/s", "p50 ms", "p99 ms"
        );
        for s in &r.steps {
            let _ = writeln!(
                out,
                "{:>10} {:>14.0} {:>14.0} {:>10.2} {:>10.2}  {}",
                s.rate,
                s.offered,
                s.achieved,
                s.p50_ms,
                s.p99_ms,
                s.failed.as_deref().unwrap_or("ok")
            );
        }
        out.push('\n');
    }
    let points: Vec<String> = reports
        .iter()
        .map(|r| match r.saturation {
            Some(d) => format!("{}: {d:.0} deliveries/s", r.label),
            None => format!("{}: below the first step", r.label),
        })
        .collect();
    let _ = writeln!(out, "highest load that passed: {}", points.join(", "));
    if let [a, b] = reports
        && let (Some(x), Some(y)) = (a.saturation, b.saturation)
    {
        let _ = writeln!(out, "ratio {} / {}: {:.2}", b.label, a.label, y / x);
    }
    out
}

const COLOURS: [&str; 4] = ["#1f6fb4", "#d1495b", "#2a9d55", "#8a5cc2"];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A self-contained SVG: p50 (dashed) and p99 (solid) latency against offered deliveries per
/// second, both axes logarithmic, one colour per cluster, saturation points marked.
pub(crate) fn svg(reports: &[RampReport], title: &str) -> String {
    let (width, height) = (760.0, 440.0);
    let (left, right, top, bottom) = (70.0, 20.0, 50.0, 60.0);
    let points = || reports.iter().flat_map(|r| r.steps.iter());
    let xs: Vec<f64> = points().map(|s| s.offered.max(1.0)).collect();
    let ys: Vec<f64> = points()
        .flat_map(|s| [s.p50_ms, s.p99_ms])
        .map(|v| v.max(0.01))
        .collect();
    let decade_floor = |v: f64| 10f64.powf(v.log10().floor());
    let decade_ceil = |v: f64| 10f64.powf(v.log10().ceil());
    let min_x = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let x0 = decade_floor(if min_x.is_finite() { min_x } else { 1e3 });
    let x1 = decade_ceil(xs.iter().copied().fold(0.0, f64::max).max(x0 * 10.0));
    let y0 = decade_floor(ys.iter().copied().fold(f64::INFINITY, f64::min).min(1.0));
    let y1 = decade_ceil(ys.iter().copied().fold(0.0, f64::max).max(100.0));
    let px = |v: f64| {
        left + (v.log10() - x0.log10()) / (x1.log10() - x0.log10()) * (width - left - right)
    };
    let py = |v: f64| {
        height
            - bottom
            - (v.log10() - y0.log10()) / (y1.log10() - y0.log10()) * (height - top - bottom)
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    // Grid and ticks: decades on both axes.
    let mut v = x0;
    while v <= x1 * 1.0001 {
        let x = px(v);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            height - bottom,
            height - bottom + 16.0,
            si(v)
        );
        v *= 10.0;
    }
    let mut v = y0;
    while v <= y1 * 1.0001 {
        let y = py(v);
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            width - right,
            left - 6.0,
            y + 4.0,
            ms_label(v)
        );
        v *= 10.0;
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">offered deliveries per second (messages/s × clients)</text>"#,
        (left + width - right) / 2.0,
        height - 18.0
    );
    let _ = writeln!(
        out,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">latency (ms)</text>"#,
        (top + height - bottom) / 2.0,
        (top + height - bottom) / 2.0
    );
    for (i, r) in reports.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        for (pick, dash) in [(0usize, r#" stroke-dasharray="5 4""#), (1usize, "")] {
            let line: Vec<String> = r
                .steps
                .iter()
                .map(|s| {
                    let v = if pick == 0 { s.p50_ms } else { s.p99_ms };
                    format!("{:.1},{:.1}", px(s.offered.max(1.0)), py(v.max(0.01)))
                })
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
                line.join(" ")
            );
            for s in &r.steps {
                let v = if pick == 0 { s.p50_ms } else { s.p99_ms };
                let fill = if s.failed.is_some() { "white" } else { colour };
                let _ = writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{fill}" stroke="{colour}"/>"#,
                    px(s.offered.max(1.0)),
                    py(v.max(0.01))
                );
            }
        }
        if let Some(sat) = r.saturation {
            let x = px(sat);
            let _ = writeln!(
                out,
                r#"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{}" stroke="{colour}" stroke-dasharray="2 3"/>"#,
                height - bottom
            );
        }
        let ly = top + 8.0 + 18.0 * i as f64;
        let sat = r
            .saturation
            .map(|s| format!(", passed up to {}/s", si(s)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{} (p99 solid, p50 dashed{})</text>"#,
            left + 12.0,
            left + 36.0,
            left + 42.0,
            ly + 4.0,
            escape(&r.label),
            sat
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#666">hollow: past saturation</text>"##,
        width - right - 4.0,
        top + 12.0
    );
    out.push_str("</svg>\n");
    out
}

fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else {
        format!("{v}")
    }
}

fn ms_label(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rate: u32, p50: f64, p99: f64, lost: u64) -> RampStep {
        RampStep {
            rate,
            offered: f64::from(rate) * 100.0,
            achieved: f64::from(rate) * 100.0,
            p50_ms: p50,
            p99_ms: p99,
            lost,
            refused: 0,
            duplicates: 0,
            connect_failed: 0,
            failed: None,
        }
    }

    #[test]
    fn a_step_with_loss_or_a_high_p99_is_past_saturation() {
        let plan = RampPlan {
            from: 100,
            factor: 2.0,
            step: Duration::from_secs(1),
            max_steps: 5,
            p99_limit_ms: 100.0,
        };
        let mut ok = step(100, 1.0, 5.0, 0);
        ok.judge(&plan);
        assert_eq!(ok.failed, None);
        let mut slow = step(200, 30.0, 150.0, 0);
        slow.judge(&plan);
        assert!(slow.failed.unwrap().contains("p99"));
        let mut lossy = step(400, 1.0, 5.0, 3);
        lossy.judge(&plan);
        assert!(lossy.failed.unwrap().contains("3 deliveries lost"));
    }

    #[tokio::test]
    async fn a_ramp_multiplies_the_rate_until_a_step_fails_and_keeps_the_last_that_passed() {
        let plan = RampPlan {
            from: 100,
            factor: 2.0,
            step: Duration::from_secs(1),
            max_steps: 10,
            p99_limit_ms: 100.0,
        };
        // p99 grows with the rate: 100 and 200 msg/s pass, 400 does not.
        let run = async |rate: u32| {
            Ok::<_, ()>(Measured {
                achieved: f64::from(rate) * 10.0,
                p50_ms: 1.0,
                p99_ms: f64::from(rate) / 3.0,
                lost: 0,
                refused: 0,
                duplicates: 0,
                connect_failed: 0,
            })
        };
        let report = ramp("c", &[], 10, &plan, true, run).await.unwrap();
        let rates: Vec<u32> = report.steps.iter().map(|s| s.rate).collect();
        assert_eq!(rates, vec![100, 200, 400]);
        assert!(report.steps[2].failed.as_deref().unwrap().contains("p99"));
        assert_eq!(report.saturation, Some(2000.0));
        // A run that fails ends the ramp with its error.
        let failing = async |_| Err::<Measured, _>("no cluster");
        assert_eq!(
            ramp("c", &[], 10, &plan, true, failing).await.err(),
            Some("no cluster")
        );
    }

    #[test]
    fn the_plot_has_a_line_per_percentile_per_cluster_and_marks_saturation() {
        let mut past = step(400, 40.0, 180.0, 0);
        past.failed = Some("p99".into());
        let reports = [
            RampReport {
                label: "gridcast".into(),
                urls: vec![],
                clients: 100,
                steps: vec![step(100, 1.0, 3.0, 0), step(200, 2.0, 9.0, 0), past],
                saturation: Some(20_000.0),
            },
            RampReport {
                label: "a <peer>".into(),
                urls: vec![],
                clients: 100,
                steps: vec![step(100, 1.5, 4.0, 0)],
                saturation: Some(10_000.0),
            },
        ];
        let svg = svg(&reports, "t");
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert_eq!(svg.matches("<circle").count(), 2 * (3 + 1));
        assert_eq!(svg.matches(r##"fill="white" stroke="#1f6fb4""##).count(), 2);
        assert!(svg.contains("a &lt;peer&gt;"), "labels are escaped");
        let table = render(
            &reports,
            &RampPlan {
                from: 100,
                factor: 2.0,
                step: Duration::from_secs(1),
                max_steps: 5,
                p99_limit_ms: 100.0,
            },
        );
        assert!(table.contains("ratio a <peer> / gridcast: 0.50"), "{table}");
    }
}
