//! The flags of the client-side tools: `token`, `publish`, `check`, `bench`.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::Args;

use super::values::{Secret, parse_duration};

/// Configuration of `gridcast token`.
#[derive(Debug, Clone, Args)]
pub struct TokenConfig {
    /// The user's identity (`sub`).
    #[arg(long, env = "GRIDCAST_TOKEN_SUB")]
    pub sub: String,

    /// Rooms it may join, comma-separated: exact names, or prefixes ending with `*`.
    #[arg(long, env = "GRIDCAST_TOKEN_ROOMS", value_delimiter = ',')]
    pub rooms: Vec<String>,

    /// Whether it may send `message` to everyone.
    #[arg(long, env = "GRIDCAST_TOKEN_BROADCAST")]
    pub broadcast: bool,

    /// How long it lives.
    #[arg(long, env = "GRIDCAST_TOKEN_TTL", default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,

    /// The audience (`aud`), if the server checks one.
    #[arg(long, env = "GRIDCAST_TOKEN_AUDIENCE")]
    pub audience: Option<String>,

    /// The issuer (`iss`), if the server checks one.
    #[arg(long, env = "GRIDCAST_TOKEN_ISSUER")]
    pub issuer: Option<String>,

    /// The HS256 secret; prefer `--jwt-secret-file` or the environment.
    #[arg(long, env = "GRIDCAST_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// A file holding the HS256 secret.
    #[arg(long, env = "GRIDCAST_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
}

/// Configuration of `gridcast publish`.
#[derive(Debug, Clone, Args)]
pub struct PublishConfig {
    /// Instance base URLs (comma-separated), tried in order until one answers (`http://` only:
    /// terminate TLS in front of gridcast).
    #[arg(
        long,
        env = "GRIDCAST_PUBLISH_URLS",
        value_delimiter = ',',
        required = true
    )]
    pub urls: Vec<String>,

    /// Who gets it: `all`, `room:<name>` or `user:<public id>`.
    #[arg(long, env = "GRIDCAST_PUBLISH_TO", default_value = "all", value_parser = parse_to)]
    pub to: gridcast_shared::api::To,

    /// The API key; prefer `--api-key-file` or the environment.
    #[arg(long, env = "GRIDCAST_API_KEY", hide_env_values = true)]
    pub api_key: Option<Secret>,

    /// A file holding the API key.
    #[arg(long, env = "GRIDCAST_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,

    /// The text.
    #[arg(env = "GRIDCAST_PUBLISH_TEXT")]
    pub text: String,
}

/// Parses a publish target: `all`, `room:<name>` or `user:<public id>`.
pub fn parse_to(text: &str) -> Result<gridcast_shared::api::To, String> {
    use gridcast_shared::api::{AllClients, To};
    match text.split_once(':') {
        None if text == "all" => Ok(To::All(AllClients::All)),
        Some(("room", room)) => Ok(To::Room {
            room: room.to_owned(),
        }),
        Some(("user", user)) => Ok(To::User {
            user: user.to_owned(),
        }),
        _ => Err("use all, room:<name> or user:<public id>".into()),
    }
}

/// Configuration of `gridcast check`.
#[derive(Debug, Clone, Args)]
pub struct CheckConfig {
    /// Instance base URLs to check (comma-separated), e.g. `http://localhost:3000,http://localhost:3001`.
    #[arg(
        long,
        env = "GRIDCAST_CHECK_URLS",
        value_delimiter = ',',
        required = true
    )]
    pub urls: Vec<String>,

    /// How long to wait for every message to arrive.
    #[arg(long, env = "GRIDCAST_CHECK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Print one JSON object instead of the table.
    #[arg(long, env = "GRIDCAST_CHECK_JSON")]
    pub json: bool,
}

/// Configuration of `gridcast bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchConfig {
    /// Cluster to load (comma-separated base URLs).
    #[arg(
        long,
        env = "GRIDCAST_BENCH_URLS",
        value_delimiter = ',',
        required = true
    )]
    pub urls: Vec<String>,

    /// A second cluster to run the same load against afterwards, for a side-by-side comparison
    /// (e.g. the Node.js reference).
    #[arg(long, env = "GRIDCAST_BENCH_AGAINST", value_delimiter = ',')]
    pub against: Vec<String>,

    /// Connected clients, spread round-robin over the URLs; every one sends and receives.
    #[arg(long, env = "GRIDCAST_BENCH_CLIENTS", default_value_t = 40)]
    pub clients: usize,

    /// Messages per second sent by all clients together (deliveries/s = rate × clients).
    #[arg(long, env = "GRIDCAST_BENCH_RATE", default_value_t = 400)]
    pub rate: u32,

    /// How long to send.
    #[arg(long, env = "GRIDCAST_BENCH_DURATION", default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// How long the clients keep reading after the last send: a delivery that comes later counts
    /// as lost. Raise it where the cluster runs seconds behind (C100K on one machine) to tell
    /// late from lost.
    #[arg(long, env = "GRIDCAST_BENCH_DRAIN", default_value = "3s", value_parser = parse_duration)]
    pub drain: Duration,

    /// Column names for the two clusters (comma-separated), e.g. `gridcast,node-reference`.
    #[arg(long, env = "GRIDCAST_BENCH_LABELS", value_delimiter = ',')]
    pub labels: Vec<String>,

    /// Print JSON instead of a table.
    #[arg(long, env = "GRIDCAST_BENCH_JSON")]
    pub json: bool,

    /// A fault during the load on the `--urls` cluster: `<after>=<shell command>`, e.g.
    /// `3s=redis-cli -p 6379 shutdown nosave` (repeatable; in the environment, `;`-separated).
    /// The command runs (`sh -c`) that long after the load starts.
    #[arg(long, env = "GRIDCAST_BENCH_FAULT", value_delimiter = ';', value_parser = parse_fault)]
    pub fault: Vec<Fault>,

    /// Faults during the load on the `--against` cluster, as `--fault`.
    #[arg(long, env = "GRIDCAST_BENCH_AGAINST_FAULT", value_delimiter = ';', value_parser = parse_fault)]
    pub against_fault: Vec<Fault>,

    /// No progress line on stderr.
    #[arg(long, env = "GRIDCAST_BENCH_QUIET")]
    pub quiet: bool,

    /// Raise the load step by step (each step `--duration` long, `--ramp-factor` times the
    /// previous one, from `--ramp-from`) until a delivery is lost, a message refused or
    /// duplicated, or p99 exceeds `--p99-limit`; per cluster, then the saturation points side by
    /// side.
    #[arg(long, env = "GRIDCAST_BENCH_RAMP")]
    pub ramp: bool,

    /// Messages per second (all clients together) of the first ramp step.
    #[arg(long, env = "GRIDCAST_BENCH_RAMP_FROM", default_value_t = 100)]
    pub ramp_from: u32,

    /// How many times the previous step each ramp step offers (above 1).
    #[arg(long, env = "GRIDCAST_BENCH_RAMP_FACTOR", default_value_t = 1.5)]
    pub ramp_factor: f64,

    /// Ramp steps at most.
    #[arg(long, env = "GRIDCAST_BENCH_RAMP_STEPS", default_value_t = 12)]
    pub ramp_steps: usize,

    /// A ramp step whose p99 latency is above this is past saturation.
    #[arg(long, env = "GRIDCAST_BENCH_P99_LIMIT", default_value = "100ms", value_parser = parse_duration)]
    pub p99_limit: Duration,

    /// With `--ramp`: write an SVG plot of p50 and p99 against offered deliveries/s here.
    #[arg(long, env = "GRIDCAST_BENCH_PLOT")]
    pub plot: Option<PathBuf>,

    /// Processes the clients are spread over: this one and `procs - 1` workers it starts, each
    /// sending its part of the messages from its own clients (every client sends about `rate /
    /// clients` per second however many processes there are). Each process may hold as many
    /// connections as it may open files (`ulimit -n`), so 100,000 clients need several.
    #[arg(long, env = "GRIDCAST_BENCH_PROCS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub procs: u16,

    /// Local addresses the clients connect from, in turn (comma-separated, e.g.
    /// `127.0.0.2,127.0.0.3`). A client bound to an address takes one of its ~28,000 ephemeral
    /// ports for any server (the port is chosen before the destination is known), so give one
    /// address per 25,000 clients. Default: the system's choice, ~28,000 ports per server port.
    #[arg(long, env = "GRIDCAST_BENCH_LOCAL_ADDRS", value_delimiter = ',')]
    pub local_addrs: Vec<IpAddr>,
}

/// A shell command run at a time during a bench.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// How long after the load starts.
    pub after: Duration,
    /// The command, for `sh -c`.
    pub command: String,
}

/// Parses `<after>=<shell command>`.
pub fn parse_fault(text: &str) -> Result<Fault, String> {
    let (after, command) = text.split_once('=').ok_or_else(|| {
        format!("expected <after>=<command>, e.g. 3s='kill -9 1234', got {text:?}")
    })?;
    if command.trim().is_empty() {
        return Err("the command is empty".into());
    }
    Ok(Fault {
        after: parse_duration(after)?,
        command: command.to_owned(),
    })
}
