//! The command line: every clap struct (`serve`, `check`, `bench`). Every flag can also be set
//! with the environment variable named in its help (`GRIDCAST_*`, and `REDIS_URL`); nothing else
//! in the crate reads the environment.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use gridcast_shared::limits::Rate;

/// The `gridcast` command line.
#[derive(Debug, Parser)]
#[command(
    name = "gridcast",
    version,
    about = "Socket.IO instances joined by Redis, and tools to prove the cluster works"
)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
// Parsed once at start; boxing `serve`'s flags would only make every use of them noisier.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run one or more instances in this process.
    Serve(ServeConfig),
    /// Check that every instance reaches every other (N × N matrix); exit 0 only if all pass.
    Check(CheckConfig),
    /// Load a cluster and measure delivery latency, optionally side by side with another.
    Bench(BenchConfig),
    /// Publish a message through an instance's publish API (as an application's backend does).
    Publish(PublishConfig),
    /// Make a signed token for `--auth jwt` (HS256), for demos and tests: an application's own
    /// backend issues real ones.
    Token(TokenConfig),
}

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

/// Configuration of `gridcast serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Ports to serve, one instance each (comma-separated). Port 0 picks a free port.
    #[arg(
        long,
        env = "GRIDCAST_PORTS",
        value_delimiter = ',',
        default_value = "3000,3001"
    )]
    pub ports: Vec<u16>,

    /// Address to listen on.
    #[arg(long, env = "GRIDCAST_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Redis URL (RESP3 is used whatever the URL says). Unset, and no `--redis-cluster` or
    /// `--redis-sentinel`: a private redis-server is started on a free loopback port and stopped
    /// on exit.
    #[arg(long, env = "REDIS_URL", conflicts_with = "redis_cluster")]
    pub redis_url: Option<String>,

    /// Seed nodes of a Redis Cluster, comma-separated (`redis://host:port,...`): the cluster is
    /// used instead of one Redis; its other nodes are discovered.
    #[arg(long, env = "REDIS_CLUSTER_URLS", value_delimiter = ',')]
    pub redis_cluster: Vec<String>,

    /// One Redis found through Redis Sentinel: `<master name>@host:port,host:port` (the
    /// sentinels); the connections follow the master the sentinels name after a failover.
    #[arg(long, env = "GRIDCAST_REDIS_SENTINEL", conflicts_with_all = ["redis_url", "redis_cluster"])]
    pub redis_sentinel: Option<String>,

    /// Prefix of the Redis keys and pub/sub channels; instances only see each other with the same
    /// prefix. Letters, digits, `.`, `_`, `-` and `:` only (it is used inside hash tags).
    #[arg(long, env = "GRIDCAST_REDIS_PREFIX", default_value = "gridcast", value_parser = parse_prefix)]
    pub redis_prefix: String,

    /// The redis-server binary used for the private Redis.
    #[arg(long, env = "GRIDCAST_REDIS_SERVER", default_value = "redis-server")]
    pub redis_server: String,

    /// How long a broadcast waits for Redis before it is delivered on this instance only.
    #[arg(long, env = "GRIDCAST_PUBLISH_TIMEOUT", default_value = "500ms", value_parser = parse_duration)]
    pub publish_timeout: Duration,

    /// How long a connection may go without a complete request head (a fresh connection, or a
    /// kept-alive one between requests), and how long a WebSocket may take to join the
    /// namespace, before it is closed.
    #[arg(long, env = "GRIDCAST_IDLE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Open TCP connections, and live Socket.IO clients (Engine.IO sessions, polling and
    /// WebSocket together), allowed at once from one address (an IPv4 address or an IPv6 /64),
    /// per instance; 0 means no cap. Behind a load balancer every client shares its address:
    /// raise it or set 0 there.
    #[arg(
        long,
        env = "GRIDCAST_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 1024
    )]
    pub max_connections_per_address: usize,

    /// New Socket.IO clients (Engine.IO handshakes, either transport) allowed from one address,
    /// per instance: `<per-second>` or `<per-second>,<burst>`, or `off`. Over it the handshake
    /// gets `429`. Behind a load balancer every client shares its address: raise it or set off.
    #[arg(
        long,
        env = "GRIDCAST_NEW_SESSIONS_PER_ADDRESS",
        default_value = "50,500",
        value_parser = parse_rate
    )]
    pub new_sessions_per_address: RateSetting,

    /// Engine.IO ping interval. A client that stopped reading is disconnected this plus
    /// `--ping-timeout` after its last pong; one whose buffer is full when a ping is due, then.
    #[arg(long, env = "GRIDCAST_PING_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// How long a client may take to answer a ping before it is disconnected.
    #[arg(long, env = "GRIDCAST_PING_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub ping_timeout: Duration,

    /// Browser origins allowed besides the cluster's own host names (its public host and the
    /// loopback names, any port), comma-separated, e.g. `https://app.example`; `*` allows any.
    #[arg(long, env = "GRIDCAST_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Per-client rate limit on requests (every event, unknown ones too): `<per-second>` or
    /// `<per-second>,<burst>`, or `off`. A client keeps its budget across reconnects (with its
    /// session token); its sockets share it.
    #[arg(long, env = "GRIDCAST_RATE_LIMIT", default_value = "20,50", value_parser = parse_rate)]
    pub rate_limit: RateSetting,

    /// Per-address rate limit on requests, all clients from one address (an IPv4 address or an
    /// IPv6 /64) together, per instance, reconnects or not: `<per-second>` or
    /// `<per-second>,<burst>`, or `off`. Behind a load balancer every client shares its
    /// address: raise it or set off.
    #[arg(
        long,
        env = "GRIDCAST_ADDRESS_RATE_LIMIT",
        default_value = "200,1000",
        value_parser = parse_rate
    )]
    pub address_rate_limit: RateSetting,

    /// How often the summary log lines of dropped packets, refused connections and sessions,
    /// refused requests and unsent replies are written (each only when something happened in the
    /// interval).
    #[arg(long, env = "GRIDCAST_REPORT_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub report_interval: Duration,

    /// Broadcasts the history keeps for replay at most (about; Redis trims in whole nodes).
    #[arg(long, env = "GRIDCAST_HISTORY_LENGTH", default_value_t = 10_000)]
    pub history_length: u64,

    /// Bytes the history may hold at most: it keeps no more entries than fit at the largest an
    /// entry can be (a 4 KiB text and 2 KiB of metadata), so with the default 64 MiB the length
    /// limit decides. A number of bytes, or with a `KiB`, `MiB` or `GiB` suffix.
    #[arg(long, env = "GRIDCAST_HISTORY_BYTES", default_value = "64MiB", value_parser = parse_bytes)]
    pub history_bytes: u64,

    /// How long the history keeps a broadcast for replay at most.
    #[arg(long, env = "GRIDCAST_HISTORY_AGE", default_value = "10m", value_parser = parse_duration)]
    pub history_age: Duration,

    /// Broadcasts an instance queues at most while Redis is away (delivered locally at once,
    /// to the other instances when Redis is back); beyond it they reach this instance only.
    #[arg(long, env = "GRIDCAST_OUTBOX_CAPACITY", default_value_t = 10_000)]
    pub outbox_capacity: usize,

    /// Replays an instance runs at once (clients reconnecting with an offset); more wait their
    /// turn, told so by a `replay_waiting` event. Each holds one page of the history while its
    /// client takes it.
    #[arg(long, env = "GRIDCAST_MAX_REPLAYS", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_replays: u32,

    /// How clients are authenticated: `off` (anyone who reaches an instance may connect: the
    /// demo) or `jwt` (a signed token in the CONNECT auth, `{"token": ...}`, whose claims say who
    /// the user is and what it may do).
    #[arg(long, env = "GRIDCAST_AUTH", value_enum, default_value = "off")]
    pub auth: AuthMode,

    /// The HS256 secret tokens are signed with (`--auth jwt`); prefer `--jwt-secret-file` or the
    /// environment to keep it off command lines.
    #[arg(long, env = "GRIDCAST_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// A file holding the HS256 secret.
    #[arg(long, env = "GRIDCAST_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,

    /// A PEM file with the RSA (RS256) or EC P-256 (ES256) public key tokens are signed for.
    #[arg(long, env = "GRIDCAST_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,

    /// The audience tokens must name (`aud`), if any.
    #[arg(long, env = "GRIDCAST_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// The issuer tokens must name (`iss`), if any.
    #[arg(long, env = "GRIDCAST_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// The publish API's key (`Authorization: Bearer <key>`); prefer `--api-key-file` or the
    /// environment to keep it off command lines. Without a key the API is disabled.
    #[arg(long, env = "GRIDCAST_API_KEY", hide_env_values = true)]
    pub api_key: Option<Secret>,

    /// A file holding the publish API's key (its surrounding whitespace ignored).
    #[arg(long, env = "GRIDCAST_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,

    /// Requests the publish API answers per second for its key, per instance: `<per-second>[,<burst>]`
    /// or `off`.
    #[arg(long, env = "GRIDCAST_API_RATE_LIMIT", default_value = "100,200", value_parser = parse_rate)]
    pub api_rate_limit: RateSetting,

    /// Bytes per second an instance's replays may send together (a client reading fast would
    /// otherwise take its replay as fast as the server can encode it, slowing live delivery for
    /// everyone). A number, or with a `KiB`, `MiB` or `GiB` suffix.
    #[arg(long, env = "GRIDCAST_REPLAY_RATE", default_value = "16MiB", value_parser = parse_bytes)]
    pub replay_rate: u64,

    /// How long a session (public id, name, rooms) can be restored with its token after its
    /// client was last seen.
    #[arg(long, env = "GRIDCAST_SESSION_TTL", default_value = "10m", value_parser = parse_duration)]
    pub session_ttl: Duration,

    /// Directory of the built UI (trunk's `dist/`), served at `/`.
    #[arg(long, env = "GRIDCAST_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Password of the Admin UI (the official `@socket.io/admin-ui`, served at `/admin/`, and
    /// the `/admin` Socket.IO namespace it connects to). Unset, the namespace refuses every
    /// connection. Kept as a salted digest, never logged; prefer the environment variable or
    /// `--admin-password-file`, since a command line is visible to every local user.
    #[arg(
        long,
        env = "GRIDCAST_ADMIN_PASSWORD",
        hide_env_values = true,
        conflicts_with = "admin_password_file"
    )]
    pub admin_password: Option<Secret>,

    /// A file whose first line is the Admin UI password.
    #[arg(long, env = "GRIDCAST_ADMIN_PASSWORD_FILE")]
    pub admin_password_file: Option<PathBuf>,

    /// The user name of the Admin UI login.
    #[arg(long, env = "GRIDCAST_ADMIN_USERNAME", default_value = "admin")]
    pub admin_username: String,

    /// Admin UI in read-only mode: it shows the cluster but may not emit, join, leave or
    /// disconnect.
    #[arg(long, env = "GRIDCAST_ADMIN_READ_ONLY")]
    pub admin_read_only: bool,

    /// The npm packages of the Admin UI and its fonts (`npm ci --prefix admin` installs them in
    /// `admin/node_modules`), served at `/admin/`.
    #[arg(
        long,
        env = "GRIDCAST_ADMIN_UI_DIR",
        default_value = "admin/node_modules"
    )]
    pub admin_ui_dir: PathBuf,

    /// Host name put in the instance URLs clients are given (defaults to `localhost` for loopback
    /// and all-interfaces binds, the bind address otherwise).
    #[arg(long, env = "GRIDCAST_PUBLIC_HOST")]
    pub public_host: Option<String>,

    /// Instance URLs listed by `GET /instances` (comma-separated). Defaults to this process's own
    /// instances.
    #[arg(long, env = "GRIDCAST_INSTANCES", value_delimiter = ',')]
    pub instances: Vec<String>,
}

impl ServeConfig {
    /// A config for tests and tools: the given ports, a Redis URL, and defaults otherwise.
    pub fn new(ports: Vec<u16>, redis_url: Option<String>) -> Self {
        let cli = Cli::parse_from(["gridcast", "serve"]);
        let Command::Serve(mut config) = cli.command else {
            unreachable!("parsed `serve`")
        };
        config.ports = ports;
        config.redis_url = redis_url;
        config
    }

    /// The host name used in instance URLs.
    pub fn public_host(&self) -> String {
        match (&self.public_host, self.bind) {
            (Some(host), _) => host.clone(),
            (None, ip) if ip.is_unspecified() || ip.is_loopback() => "localhost".to_owned(),
            (None, IpAddr::V6(ip)) => format!("[{ip}]"),
            (None, IpAddr::V4(ip)) => ip.to_string(),
        }
    }
}

/// A secret from the command line or the environment: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

/// The `--rate-limit` setting: a rate, or off (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSetting(pub Option<Rate>);

/// How clients are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Anyone who reaches an instance may connect.
    Off,
    /// A signed JWT in the CONNECT auth.
    Jwt,
}

/// Parses a rate limit: `off`, `<per-second>` or `<per-second>,<burst>`.
pub fn parse_rate(text: &str) -> Result<RateSetting, String> {
    match text.trim() {
        "off" => Ok(RateSetting(None)),
        other => other
            .parse()
            .map(|rate| RateSetting(Some(rate)))
            .map_err(|e| format!("{e}; use off, 20 or 20,50")),
    }
}

/// Checks a key prefix: non-empty, at most 64 characters, letters, digits, `.`, `_`, `-`, `:`
/// (no `{` or `}`: the prefix is put inside Redis Cluster hash tags).
pub fn parse_prefix(text: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
    if text.is_empty() || text.len() > 64 || !text.chars().all(ok) {
        return Err(format!(
            "{text:?} is not a prefix: use 1 to 64 letters, digits, '.', '_', '-' or ':'"
        ));
    }
    Ok(text.to_owned())
}

/// Parses a number of bytes, bare or with a `KiB`, `MiB` or `GiB` suffix.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown unit {other:?}: use KiB, MiB or GiB")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is not a size in bytes"))
}

/// Parses `500ms`, `2s`, `1m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 5s or 1m"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ms, s, m or h)"
            ));
        }
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_bytes() {
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("2 KiB"), Ok(2048));
        assert!(parse_bytes("1MB").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999GiB").is_err());
        // The default keeps the length limit in charge.
        let config = ServeConfig::new(vec![0], None);
        assert_eq!(
            crate::redis::history::capacity(config.history_length, config.history_bytes),
            config.history_length
        );
        assert_eq!(crate::redis::history::capacity(10_000, 6 << 20), 1024);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("fast").is_err());
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn prefixes_fit_in_a_hash_tag() {
        assert_eq!(parse_prefix("gridcast"), Ok("gridcast".to_owned()));
        assert!(parse_prefix("team-a:prod_1.x").is_ok());
        for bad in ["", "a{b}", "a b", "x}", &"p".repeat(65)] {
            assert!(parse_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_redis_url_and_cluster_seeds_exclude_each_other() {
        let cluster = Cli::try_parse_from([
            "gridcast",
            "serve",
            "--redis-cluster",
            "redis://127.0.0.1:7000,redis://127.0.0.1:7001",
        ])
        .unwrap();
        let Command::Serve(config) = cluster.command else {
            panic!("serve")
        };
        assert_eq!(config.redis_cluster.len(), 2);
        assert!(
            Cli::try_parse_from([
                "gridcast",
                "serve",
                "--redis-url",
                "redis://h:1",
                "--redis-cluster",
                "redis://h:2",
            ])
            .is_err()
        );
        for other in [
            ["--redis-url", "redis://h:1"],
            ["--redis-cluster", "redis://h:2"],
        ] {
            let both = ["gridcast", "serve", "--redis-sentinel", "m@h:26379"];
            assert!(Cli::try_parse_from(both.iter().chain(&other)).is_err());
        }
    }

    #[test]
    fn every_flag_has_an_environment_variable() {
        use clap::CommandFactory;
        for sub in Cli::command().get_subcommands() {
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
                assert!(
                    env.as_deref().is_some_and(|e| e.starts_with("GRIDCAST_")
                        || e == "REDIS_URL"
                        || e == "REDIS_CLUSTER_URLS"),
                    "`gridcast {} --{id}` has no GRIDCAST_* environment variable",
                    sub.get_name()
                );
            }
        }
    }

    #[test]
    fn the_admin_password_is_hidden() {
        let cli = Cli::parse_from(["gridcast", "serve", "--admin-password", "hunter2"]);
        let Command::Serve(c) = cli.command else {
            unreachable!("parsed `serve`")
        };
        assert_eq!(
            c.admin_password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.admin_username, "admin");
        assert!(!c.admin_read_only);
    }

    #[test]
    fn defaults_and_env_names() {
        let c = ServeConfig::new(vec![0], None);
        assert_eq!(c.bind.to_string(), "127.0.0.1");
        assert_eq!(c.public_host(), "localhost");
        assert_eq!(c.redis_prefix, "gridcast");
        assert_eq!(c.rate_limit, RateSetting(Some(Rate::default())));
        assert_eq!(parse_rate("off"), Ok(RateSetting(None)));
        assert!(parse_rate("nope").is_err());
        let cli = Cli::parse_from(["gridcast", "serve", "--ports", "3000,3001,3002"]);
        let Command::Serve(c) = cli.command else {
            unreachable!("parsed `serve`")
        };
        assert_eq!(c.ports, vec![3000, 3001, 3002]);
    }
}
