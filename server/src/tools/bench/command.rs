//! `gridcast bench` as a command: the load against `--urls`, then against `--against` if given,
//! or with `--ramp` a ramp per cluster; printed as tables or JSON on stdout, progress on stderr.
//!
//! Invariant: the exit code is the verdict. A fixed-load run fails when any delivery was lost or
//! duplicated or a gridcast client went unwelcomed; a ramp fails only when its plot cannot be
//! written (saturating is its result); 2 is a bad `--ramp-factor`. Only a bad invocation is an
//! error.

use std::process::ExitCode;

use super::{
    load::{Load, run},
    render::render,
    report::{BenchReport, ms},
};
use crate::{
    cli::BenchConfig,
    tools::{
        probe::ProbeError,
        ramp::{self, Measured, RampPlan},
    },
};

/// `gridcast bench` as a command: the load against `--urls`, then against `--against` if given,
/// printed side by side (or as JSON with `--json`) on stdout.
pub async fn command(config: &BenchConfig) -> Result<ExitCode, ProbeError> {
    if config.ramp {
        return ramp_command(config).await;
    }
    let mut reports = Vec::new();
    let runs = [
        (&config.urls, &config.fault),
        (&config.against, &config.against_fault),
    ];
    for (i, (urls, faults)) in runs.into_iter().enumerate() {
        if urls.is_empty() {
            continue;
        }
        let label = label(config, i, urls);
        let progress = (!config.quiet).then_some(label.as_str());
        let load = Load {
            urls,
            clients: config.clients,
            rate: config.rate,
            duration: config.duration,
            drain: config.drain,
            faults,
            procs: config.procs.into(),
            local_addrs: &config.local_addrs,
        };
        reports.push(run(&load, progress).await?);
    }
    if config.json {
        println!(
            "{}",
            serde_json::to_string(&reports).expect("reports serialise")
        );
    } else {
        print!(
            "{}",
            render(&reports, &config.labels, config.rate, config.duration)
        );
    }
    let lossy = reports
        .iter()
        .any(|r| r.lost > 0 || r.duplicates > 0 || r.unwelcomed() > 0);
    Ok(if lossy {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The name of cluster `i` (0: `--urls`, 1: `--against`): its `--labels` entry, else its first URL.
fn label(config: &BenchConfig, i: usize, urls: &[String]) -> String {
    config
        .labels
        .get(i)
        .cloned()
        .unwrap_or_else(|| urls[0].clone())
}

/// `gridcast bench --ramp`: a ramp per cluster, each step a run without faults, then the tables
/// (or JSON), and the plot if asked for.
async fn ramp_command(config: &BenchConfig) -> Result<ExitCode, ProbeError> {
    if config.ramp_factor <= 1.0 || config.ramp_factor.is_nan() {
        eprintln!("gridcast bench: --ramp-factor must be above 1");
        return Ok(ExitCode::from(2));
    }
    let plan = RampPlan {
        from: config.ramp_from,
        factor: config.ramp_factor,
        step: config.duration,
        max_steps: config.ramp_steps.max(1),
        p99_limit_ms: ms(config.p99_limit),
    };
    let mut reports = Vec::new();
    for (i, urls) in [&config.urls, &config.against].into_iter().enumerate() {
        if urls.is_empty() {
            continue;
        }
        let label = label(config, i, urls);
        let step = async |rate| {
            let load = Load {
                urls,
                clients: config.clients,
                rate,
                duration: plan.step,
                drain: config.drain,
                faults: &[],
                procs: config.procs.into(),
                local_addrs: &config.local_addrs,
            };
            run(&load, None).await.map(|report| measured(&report))
        };
        reports.push(ramp::ramp(&label, urls, config.clients, &plan, config.quiet, step).await?);
    }
    if config.json {
        println!(
            "{}",
            serde_json::to_string(&reports).expect("ramp reports serialise")
        );
    } else {
        print!("{}", ramp::render(&reports, &plan));
    }
    if let Some(path) = &config.plot {
        let title = format!(
            "gridcast bench --ramp: {} clients, every client receives every message",
            config.clients
        );
        if let Err(e) = std::fs::write(path, ramp::svg(&reports, &title)) {
            eprintln!("gridcast bench: cannot write {}: {e}", path.display());
            return Ok(ExitCode::FAILURE);
        }
        eprintln!("gridcast bench: plot written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// What a ramp judges a step by, from the step's run.
fn measured(report: &BenchReport) -> Measured {
    Measured {
        achieved: report.deliveries_per_sec,
        p50_ms: report.latency_ms[0],
        p99_ms: report.latency_ms[2],
        lost: report.lost,
        refused: report.refused,
        duplicates: report.duplicates,
        connect_failed: report.connect_failed,
    }
}
