//! The `gridcast` binary: parses the command line, sets up logging, and hands over to the library
//! (which renders results and chooses exit codes).

use std::{io::IsTerminal, process::ExitCode};

use anyhow::Result;
use clap::Parser;
use gridcast_server::{
    cli::{Cli, Command},
    tools,
};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// jemalloc, configured in `.cargo/config.toml` to return freed memory within about a second:
/// glibc's malloc kept a connect storm's peak RSS after every client had left, and was slower
/// under load (`docs/benchmarks.md`, "memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(gridcast_server::release_thread_cache)
        .build()?
        .block_on(run())
}

async fn run() -> Result<ExitCode> {
    // socketioxide's per-packet drop warnings are counted and summarised instead (drops).
    let filter = gridcast_server::quiet(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    );
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                // Logs go to stderr so that stdout carries only results (`gridcast check --json`).
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(filter),
        )
        // Counts what socketioxide drops for slow clients (whatever RUST_LOG says).
        .with(gridcast_server::counting_layer())
        .init();
    let code = match Cli::parse().command {
        Command::Serve(config) => {
            raise_file_limit();
            gridcast_server::run(config, shutdown_signal()).await?;
            ExitCode::SUCCESS
        }
        Command::Check(config) => tools::check::command(&config).await,
        Command::Bench(config) => {
            // Every client is a file: `--procs` spreads them, but each process may use all it
            // has (quietly: stderr is the bench's progress).
            let _ = rlimit::increase_nofile_limit(u64::MAX);
            tools::bench::command(&config).await?
        }
        Command::BenchWorker => {
            let _ = rlimit::increase_nofile_limit(u64::MAX);
            tools::bench::worker().await?
        }
        Command::Publish(config) => tools::publish::command(&config).await?,
        Command::Token(config) => tools::token::command(&config)?,
    };
    Ok(code)
}

/// Raises the soft limit on open files to the hard limit: every connection is a file, and the
/// common soft default (1024) is what an idle-connection flood exhausts first.
fn raise_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open files limit"),
        Err(e) => tracing::warn!("could not raise the open files limit: {e}"),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
