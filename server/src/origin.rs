//! Which browser origins may use an instance.
//!
//! Browsers say where a page came from in the `Origin` header. By default an instance accepts
//! pages served by the cluster itself: its public host name and the loopback names (`localhost`,
//! `127.0.0.1`, `[::1]`), on any port (each instance has its own). `--allowed-origins` adds exact
//! origins (`https://app.example`), or `*` allows every origin. Requests without an `Origin`
//! (non-browser clients: the Node.js client, curl, gridcast's own tools) are not concerned.
//!
//! A refused origin gets `403` on the Socket.IO endpoint (polling and WebSocket upgrades alike:
//! CORS does not cover WebSockets) and no CORS grant on the other routes.

/// The origins an instance accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllowedOrigins {
    any: bool,
    hosts: Vec<String>,
    exact: Vec<String>,
}

impl AllowedOrigins {
    /// The cluster's own host names (`public_host` and loopback), plus `configured` origins (`*`
    /// for any).
    pub(crate) fn new(public_host: &str, configured: &[String]) -> Self {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        let public = public_host.to_ascii_lowercase();
        if !hosts.contains(&public) {
            hosts.push(public);
        }
        Self {
            any: configured.iter().any(|o| o.trim() == "*"),
            hosts,
            exact: configured
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|o| !o.is_empty() && o != "*")
                .collect(),
        }
    }

    /// Whether a page from `origin` (the `Origin` header's value) may use this instance.
    pub(crate) fn allows(&self, origin: &str) -> bool {
        if self.any {
            return true;
        }
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self.exact.contains(&origin) {
            return true;
        }
        let Some(("http" | "https", authority)) = origin.split_once("://") else {
            return false;
        };
        // `host`, `host:port`, `[v6]` or `[v6]:port`.
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => authority,
        };
        self.hosts.iter().any(|h| h == host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_hosts_on_any_port_and_configured_origins() {
        let own = AllowedOrigins::new("localhost", &[]);
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1:3001",
            "http://[::1]:3000",
            "http://LOCALHOST:3000/",
        ] {
            assert!(own.allows(ok), "{ok}");
        }
        for refused in [
            "http://evil.example",
            "http://localhost.evil.example:3000",
            "null",
            "file://",
            "http://127.0.0.2:3000",
        ] {
            assert!(!own.allows(refused), "{refused}");
        }
        let public = AllowedOrigins::new("gridcast.example", &["https://app.example".into()]);
        assert!(public.allows("https://gridcast.example"));
        assert!(public.allows("https://app.example"));
        assert!(public.allows("http://localhost:3000"));
        assert!(!public.allows("https://app.example:8443"));
        assert!(AllowedOrigins::new("localhost", &["*".into()]).allows("http://evil.example"));
    }
}
