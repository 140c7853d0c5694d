//! The `gridcast` binary: parses the command line, sets up logging, and hands over to the library
//! (which renders results and chooses exit codes).

use std::{
    cell::Cell,
    io::IsTerminal,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Result;
use clap::Parser;
use gridcast_server::drops;
use gridcast_server::{
    cli::{Cli, Command},
    tools,
};
use tikv_jemalloc_ctl::{Access, AsName};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// jemalloc, configured in `.cargo/config.toml` to return freed memory within about a second:
/// glibc's malloc kept a connect storm's peak RSS after every client had left (2000 clients:
/// 76.8 MB 10 s later vs 21.5 MB), and p99 at 200k deliveries/s was 38.7 ms vs 22.1 ms.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(release_thread_cache)
        .build()?
        .block_on(run())
}

/// How often at most a worker thread hands its allocator cache back.
const CACHE_RELEASE_EVERY: Duration = Duration::from_secs(1);

/// Called each time a runtime worker goes idle: at most once per [`CACHE_RELEASE_EVERY`], hands
/// the thread's jemalloc cache of freed blocks back to the allocator. A worker that goes quiet
/// after a connect storm never allocates again to trigger the cache's own trimming, and the
/// blocks it holds keep whole pages in use: 2000 clients left 22.4 MB RSS 10 s later where
/// 11.2 MB were in use before they came; with this, 14.3 MB of 10.7 (what stays is tables that
/// keep their capacity and allocator metadata, reused by the next storm: `scripts/memory.sh`).
fn release_thread_cache() {
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    if LAST
        .get()
        .is_some_and(|last| now - last < CACHE_RELEASE_EVERY)
    {
        return;
    }
    LAST.set(Some(now));
    // Disabling a thread's cache flushes it; enabling it again starts an empty one.
    let key = b"thread.tcache.enabled\0".name();
    let _ = key.write(false).and_then(|()| key.write(true));
}

async fn run() -> Result<ExitCode> {
    // socketioxide's per-packet drop warnings are counted and summarised instead (drops).
    let filter =
        drops::quiet(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                // Logs go to stderr so that stdout carries only results (`gridcast check --json`).
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(filter),
        )
        // Counts what socketioxide drops for slow clients (whatever RUST_LOG says).
        .with(drops::counting_layer())
        .init();
    let code = match Cli::parse().command {
        Command::Serve(config) => {
            raise_file_limit();
            gridcast_server::run(config, shutdown_signal()).await?;
            ExitCode::SUCCESS
        }
        Command::Check(config) => tools::check::command(&config).await,
        Command::Bench(config) => tools::bench::command(&config).await?,
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
