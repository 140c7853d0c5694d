//! The command line: every clap struct (`serve`, `token`, `publish`, `check`, `bench`). Every flag can also be set
//! with the environment variable named in its help (`GRIDCAST_*`, and `REDIS_URL`); nothing else
//! in the crate reads the environment.

mod serve;
mod tools;
mod values;

use clap::{Parser, Subcommand};

pub use serve::{AuthMode, ServeConfig};
pub use tools::{
    BenchConfig, CheckConfig, Fault, PublishConfig, TokenConfig, parse_fault, parse_to,
};
pub use values::{RateSetting, Secret, parse_bytes, parse_duration, parse_prefix, parse_rate};

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
    /// One worker process of `gridcast bench --procs`: started by it, told what to do on stdin.
    #[command(hide = true)]
    BenchWorker,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use gridcast_shared::limits::Rate;

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
