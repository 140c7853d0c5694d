//! gridcast's integration tests, one binary: every test starts the real processes it needs
//! (redis-server on free loopback ports, instances in this process or as separate `gridcast`
//! processes, the official socket.io-client under Node.js, nginx, headless Chromium) through
//! [`support`], which cleans them up even when a test fails.
//!
//! One binary instead of one per file: the server crate and the support code are compiled and
//! linked once, and the tests of every file run concurrently.

mod support;

mod admin;
mod admin_logins;
mod api;
mod auth;
mod auth_expiry;
mod bad_input;
mod bench;
mod broadcast;
mod browser;
mod busy_redis;
mod check;
mod faults;
mod ghosts;
mod http;
mod interop;
mod limits;
mod logs;
mod memory;
mod names;
mod nginx;
mod order;
mod presence;
mod recovery;
mod redis_cluster;
mod registry;
mod replay;
mod replay_contents;
mod routed;
mod security;
mod sentinel;
mod slow_clients;
mod stock_recovery;
mod takeover;
mod upgrade;
