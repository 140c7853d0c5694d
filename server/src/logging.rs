//! What reaches the log: the operator's filter (`RUST_LOG`), minus what is counted and summarised
//! instead, minus what must never be written anywhere.
//!
//! **Secrets.** socketioxide, engineioxide and tungstenite log what travels at `debug` and
//! `trace`: socketioxide every packet it reads (`received message`, `Packet`, and `auth:` for
//! each CONNECT, which carries the client's session token), engineioxide every packet it sends
//! (`welcome` carries the session token) and, at `trace`, whole polling payloads; tungstenite
//! every WebSocket frame. engineioxide also names Engine.IO session ids in most lines and in the
//! fields of its spans (some at `info`), and a session id is a polling session's only credential.
//! None of that can be filtered by content, and an operator who sets `RUST_LOG=debug` to chase a
//! problem should not leak every client's session. So events of those crates below `info`, and
//! all their spans, are kept out of the log whatever `RUST_LOG` says (their warnings and errors
//! still show). gridcast's own lines name a socket by its public id, never by its session id or
//! token.

use tracing::{Level, Metadata, level_filters::LevelFilter};
use tracing_subscriber::{
    EnvFilter,
    filter::{FilterExt, FilterFn},
    layer::Filter,
};

use crate::drops;

/// Crates (target prefixes: `socketioxide` covers `socketioxide_core` and the others) whose
/// verbose lines carry session tokens, Engine.IO session ids or message contents.
const SECRET_BEARING: [&str; 4] = [
    "socketioxide",
    "engineioxide",
    "tungstenite",
    "tokio_tungstenite",
];

/// Whether a line or span may be logged as far as secrets go (see the module doc).
fn no_secrets(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    !SECRET_BEARING.iter().any(|c| target.starts_with(c))
        || (meta.is_event() && *meta.level() <= Level::INFO)
}

/// The log filter of `gridcast` and of the tests: `filter` (from `RUST_LOG`), without
/// socketioxide's per-packet drop warnings and redis-rs' repeated warnings (both counted by
/// `drops::DropLayer` and summarised) and without the verbose lines of the crates that log
/// secrets (see the module doc). All by callsite, so disabled callsites of the hot path stay free.
pub fn quiet<S: tracing::Subscriber>(filter: EnvFilter) -> impl Filter<S> {
    let filter = [drops::SOURCE, drops::REDIS_RS]
        .into_iter()
        .fold(filter, |filter, target| {
            filter.add_directive(
                format!("{target}=error")
                    .parse()
                    .expect("a valid directive"),
            )
        });
    // The hint is the least restrictive there is: the combination keeps `filter`'s.
    filter.and(
        FilterFn::new(no_secrets as fn(&Metadata<'_>) -> bool)
            .with_max_level_hint(LevelFilter::TRACE),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::{Layer, layer::SubscriberExt};

    use super::*;

    /// What a log with `quiet(RUST_LOG=trace)` shows of lines from each kind of target.
    #[test]
    fn verbose_lines_of_secret_bearing_crates_never_reach_the_log() {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let writer = move || Writer(sink.clone());
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(quiet(EnvFilter::new("trace"))),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "socketioxide::client", "auth: secret-token-1");
            tracing::trace!(target: "socketioxide_core::parser", "secret-token-2");
            tracing::debug!(target: "engineioxide::socket", "sending packet secret-token-3");
            tracing::trace!(target: "tungstenite::protocol", "Received message secret-token-4");
            tracing::debug!(target: "tokio_tungstenite", "secret-token-5");
            let span = tracing::info_span!(target: "engineioxide::engine", "close_session", sid = "secret-sid");
            span.in_scope(|| {
                tracing::warn!(target: "engineioxide::socket", "kept warning");
                tracing::trace!(target: "gridcast_server::hub", "kept trace");
            });
            tracing::warn!(target: "socketioxide_core::adapter::request", "per-packet drop");
        });
        let log = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert!(!log.contains("secret"), "{log}");
        assert!(!log.contains("per-packet drop"), "{log}");
        assert!(
            log.contains("kept warning") && log.contains("kept trace"),
            "{log}"
        );
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
