//! The flags of `gridcast serve`.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser};

use super::values::{RateSetting, Secret, parse_bytes, parse_duration, parse_prefix, parse_rate};

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
        /// `serve`'s flags alone, to read their defaults (and the environment) as clap does.
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            config: ServeConfig,
        }
        let mut config = Defaults::parse_from(["gridcast"]).config;
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

/// How clients are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Anyone who reaches an instance may connect.
    Off,
    /// A signed JWT in the CONNECT auth.
    Jwt,
}
