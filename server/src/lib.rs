//! gridcast server: Socket.IO instances that share one Redis, so that a message any client sends
//! reaches every client on every instance, and none is lost when an instance or Redis goes away.
//! Broadcasts travel through a Redis Stream (the *history*, which every instance reads in one
//! order and replays from); presence changes through the socketioxide-redis adapter's pub/sub.
//!
//! # Layout
//! Dependencies run one way, from the leaves up: `redis` → `hub` → `instance` → `socket` →
//! `cluster` (`scripts/module-cycles.py`, run by `./dev lint`, finds any circle between files).
//!
//! - `redis`: everything that knows Redis: the link (reconnecting connections and the
//!   socketioxide-redis driver), the history stream, sessions, presence, the registry, and the
//!   private `redis-server` started when none is configured.
//! - `hub`: broadcasts through the history: live delivery in one order, attaching and replay on
//!   reconnect, the outbox while Redis is away.
//! - `presence_batch`: presence changes coalesced per instance and sent to subscribers.
//! - `roster`: the members an instance announced, and the heartbeat's repair of its presence
//!   hash against them (no ghosts).
//! - `instance`: one instance's identity, parts, counters and heartbeat.
//! - `socket`: the Socket.IO handlers (connect, `message`, rooms, direct messages, presence).
//! - `api`: the publish API for an application's backend (`/api/...`).
//! - `auth`: authenticated connections (`--auth jwt`): verifying tokens.
//! - `admin`: the official Admin UI: its `/admin` namespace (login, the cluster's sockets and
//!   stats, operations applied by the instance holding each socket) and its page at `/admin/`.
//! - `http`, `accept`, `origin`, `metrics`: the router of an instance, the accept loop with its
//!   per-address and idle limits, the origin guard, `/metrics`.
//! - `limit`: what one client or address may use: Engine.IO sessions per address (a cap and a
//!   rate), request budgets per client and per address, the summary of refusals.
//! - `cluster`: starts the instances of one process and stops them gracefully.
//! - Leaves: `cli` (the command line), `error`, `clock`, `rooms` (room names), `drops` (packets
//!   dropped for slow clients, counted and summarised), `warnings` (repeated warnings summarised
//!   per interval), `logging` (the log filter: no secrets), `runtime` (the delivery thread, the
//!   allocator-cache hook); `limit` (per-address and per-client limits).
//!
//! Client-side tools, which talk to a cluster from the outside and which `serve` never uses:
//! [`tools`]: the native probe client, `gridcast check` and `gridcast bench`.
//!
//! # Surface
//! `main.rs`, the integration tests and the examples use: [`run`] and [`Cluster`] with its
//! [`ServeConfig`] (from [`cli`]), [`Instance`] (identity and health), [`Error`],
//! [`PrivateRedis`] and [`free_port`], the tracing pieces [`counting_layer`] and [`quiet`],
//! [`release_thread_cache`], and [`tools`].
#![warn(missing_docs, unreachable_pub)]

mod accept;
mod admin;
mod api;
mod auth;
pub mod cli;
mod clock;
mod cluster;
mod drops;
mod error;
mod http;
mod hub;
mod instance;
mod limit;
mod logging;
mod metrics;
mod origin;
mod presence_batch;
mod redis;
mod rooms;
mod roster;
mod runtime;
mod socket;
pub mod tools;
mod warnings;

pub use cli::ServeConfig;
pub use cluster::{Cluster, run};
pub use drops::counting_layer;
pub use error::Error;
pub use instance::Instance;
pub use logging::quiet;
pub use redis::private::{PrivateRedis, free_port};
pub use runtime::release_thread_cache;
