//! The instances the page knows: those the cluster's registry lists, those it listed before (an
//! instance that died is still configured, and the grid check must name it), and URLs the user
//! typed (any Socket.IO server), each with what the page last learnt of its health.
//!
//! Invariants: an instance is listed once however it is spelled (`same_instance`); it is "down"
//! only when the page could not reach it, never because the registry briefly left it out (the
//! registry's entries expire during a Redis outage, and come back a heartbeat after it);
//! typed URLs are never given this cluster's session token.

use gridcast_shared::{RedisLink, instance::same_instance};

/// How long an instance that is neither listed nor typed, and down, stays known (ms).
pub const FORGET_DOWN_MS: f64 = 10.0 * 60_000.0;

/// What the page last learnt of an instance's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not asked yet, or not a gridcast instance (a typed URL).
    Unknown,
    /// `/health` answered, Redis up.
    Up,
    /// `/health` answered: its Redis link is down.
    RedisDown,
    /// Neither `/health` nor a connection reached it.
    Down,
}

/// One known instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    /// Its base URL, as the registry (or the user) spells it.
    pub url: String,
    /// In the registry's latest list.
    pub listed: bool,
    /// Typed by the user: any Socket.IO server, not necessarily this cluster.
    pub typed: bool,
    /// What the page last learnt.
    pub health: Health,
    /// Its clients, from its last `/health`.
    pub clients: Option<usize>,
    /// Since when it is down (ms, the page's clock).
    pub down_since: Option<f64>,
}

impl Known {
    fn new(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            listed: false,
            typed: false,
            health: Health::Unknown,
            clients: None,
            down_since: None,
        }
    }

    /// Whether it is one of this cluster's instances (listed now or before), not only typed.
    pub fn ours(&self) -> bool {
        !self.typed || self.listed
    }
}

/// Every instance the page knows, sorted by URL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Instances {
    /// The instances.
    pub list: Vec<Known>,
}

impl Instances {
    fn entry(&mut self, url: &str) -> &mut Known {
        let i = match self.list.iter().position(|k| same_instance(&k.url, url)) {
            Some(i) => i,
            None => {
                // Kept sorted by inserting in place (no sort: its code is large in the bundle).
                let known = Known::new(url);
                let i = self
                    .list
                    .iter()
                    .position(|k| k.url > known.url)
                    .unwrap_or(self.list.len());
                self.list.insert(i, known);
                i
            }
        };
        &mut self.list[i]
    }

    /// The instance at `url`, if known.
    pub fn get(&self, url: &str) -> Option<&Known> {
        self.list.iter().find(|k| same_instance(&k.url, url))
    }

    /// The health of `url` ([`Health::Unknown`] when not known).
    pub fn health(&self, url: &str) -> Health {
        self.get(url).map_or(Health::Unknown, |k| k.health)
    }

    /// Whether the page knows `url` is down.
    pub fn is_down(&self, url: &str) -> bool {
        self.health(url) == Health::Down
    }

    /// The registry's latest list: these are listed, the others no longer (but still known).
    /// Returns whether the set of listed instances changed.
    pub fn listed(&mut self, urls: &[String]) -> bool {
        let before: Vec<bool> = self.list.iter().map(|k| k.listed).collect();
        let known = self.list.len();
        for k in &mut self.list {
            k.listed = false;
        }
        for url in urls {
            // The registry's spelling wins: a page opened at 127.0.0.1 lists its instance as the
            // cluster names it.
            let k = self.entry(url);
            k.url = url.trim_end_matches('/').to_owned();
            k.listed = true;
        }
        self.list.sort_by(|a, b| a.url.cmp(&b.url));
        self.list.len() != known || self.list.iter().map(|k| k.listed).ne(before)
    }

    /// `url` belongs to this cluster (the page's own instance, or where a saved session was),
    /// even before the registry lists it.
    pub fn add_own(&mut self, url: &str) {
        self.entry(url);
    }

    /// The user typed `url`.
    pub fn add_typed(&mut self, url: &str) {
        let k = self.entry(url);
        if !k.listed {
            k.typed = true;
        }
    }

    /// `url`'s `/health` answered (its Redis link and its clients), or could not be read
    /// (`None`), at `now_ms`.
    pub fn checked(&mut self, url: &str, body: Option<(RedisLink, usize)>, now_ms: f64) {
        let k = self.entry(url);
        match body {
            Some((redis, clients)) => {
                k.health = match redis {
                    RedisLink::Up => Health::Up,
                    RedisLink::Reconnecting => Health::RedisDown,
                };
                k.clients = Some(clients);
                k.down_since = None;
            }
            None => {
                if k.health != Health::Down {
                    k.down_since = Some(now_ms);
                }
                k.health = Health::Down;
                k.clients = None;
            }
        }
    }

    /// The page reached `url` (a connection opened there): it is not down.
    pub fn reached(&mut self, url: &str) {
        let k = self.entry(url);
        if k.health == Health::Down {
            k.health = Health::Unknown;
            k.down_since = None;
        }
    }

    /// The instances whose `/health` the page reads: this cluster's, not typed URLs (which may
    /// be any server).
    pub fn to_check(&self) -> Vec<String> {
        self.list
            .iter()
            .filter(|k| k.ours())
            .map(|k| k.url.clone())
            .collect()
    }

    /// What a grid check started while the page talks to `target` covers: the typed URLs when
    /// the page is on one of them (any Socket.IO cluster), otherwise every instance of this
    /// cluster the page knows, so that one that stopped answering is a failure in the matrix.
    pub fn grid_set(&self, target: &str) -> Vec<String> {
        let on_typed = self.get(target).is_some_and(|k| !k.ours());
        self.list
            .iter()
            .filter(|k| if on_typed { k.typed } else { k.ours() })
            .map(|k| k.url.clone())
            .collect()
    }

    /// Forgets instances of this cluster that are no longer listed and have been down for
    /// [`FORGET_DOWN_MS`].
    pub fn prune(&mut self, now_ms: f64) {
        self.list.retain(|k| {
            k.listed || k.typed || k.down_since.is_none_or(|t| now_ms - t < FORGET_DOWN_MS)
        });
    }
}

/// A URL the user typed, as the page names instances (`http://host:port`, no trailing slash);
/// `http://` is assumed without a scheme. Refuses what cannot be a Socket.IO server's base URL.
pub fn typed_url(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("type a server's address, e.g. http://localhost:3000");
    }
    let (scheme, rest) = text.split_once("://").unwrap_or(("http", text));
    if scheme != "http" && scheme != "https" {
        return Err("the address must start with http:// or https://");
    }
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains(['/', '?', '#']) || rest.contains(char::is_whitespace) {
        return Err("give only a server's address (scheme, host and port), no path");
    }
    Ok(format!("{scheme}://{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_urls_are_base_urls() {
        assert_eq!(
            typed_url(" localhost:4000/ ").unwrap(),
            "http://localhost:4000"
        );
        assert_eq!(typed_url("https://a.example").unwrap(), "https://a.example");
        assert!(typed_url("").is_err());
        assert!(typed_url("ftp://x:1").is_err());
        assert!(typed_url("http://x:1/socket.io/").is_err());
        assert!(typed_url("http://").is_err());
        assert!(typed_url("http://a b").is_err());
    }

    #[test]
    fn the_registry_names_an_instance_known_by_another_spelling() {
        let mut known = Instances::default();
        known.add_own("http://127.0.0.1:3000");
        known.listed(&[
            "http://localhost:3000".to_owned(),
            "http://localhost:3001".to_owned(),
        ]);
        let urls: Vec<&str> = known.list.iter().map(|k| k.url.as_str()).collect();
        assert_eq!(urls, ["http://localhost:3000", "http://localhost:3001"]);
    }

    fn body(redis: RedisLink, clients: usize) -> Option<(RedisLink, usize)> {
        Some((redis, clients))
    }

    #[test]
    fn an_instance_is_down_when_unreachable_not_when_unlisted() {
        let mut known = Instances::default();
        let a = "http://localhost:3000".to_owned();
        let b = "http://localhost:3001".to_owned();
        assert!(known.listed(&[a.clone(), b.clone()]));
        assert!(!known.listed(&[a.clone(), b.clone()]));
        known.checked(&b, body(RedisLink::Up, 3), 0.0);
        // The registry leaves b out for a moment (its entry expired during an outage): b is
        // still known and not down.
        assert!(known.listed(std::slice::from_ref(&a)));
        assert_eq!(known.health(&b), Health::Up);
        assert_eq!(known.grid_set(&a), vec![a.clone(), b.clone()]);
        // b stops answering: down, and still in the grid check, named.
        known.checked(&b, None, 1_000.0);
        assert!(known.is_down("http://127.0.0.1:3001"));
        assert_eq!(known.grid_set(&a).len(), 2);
        known.prune(1_000.0 + FORGET_DOWN_MS);
        assert_eq!(known.list.len(), 1, "forgotten after a long time down");
        known.checked(&a, body(RedisLink::Reconnecting, 1), 0.0);
        assert_eq!(known.health(&a), Health::RedisDown);
    }

    #[test]
    fn typed_urls_make_their_own_grid_and_get_no_health_checks() {
        let mut known = Instances::default();
        let own = "http://localhost:3000".to_owned();
        known.listed(std::slice::from_ref(&own));
        known.add_typed("http://127.0.0.1:4000/");
        known.add_typed("http://127.0.0.1:4001");
        // Typing an instance of this cluster does not make it foreign.
        known.add_typed("http://127.0.0.1:3000");
        assert_eq!(known.list.len(), 3);
        assert_eq!(known.to_check(), vec![own.clone()]);
        assert_eq!(
            known.grid_set("http://127.0.0.1:4000"),
            vec!["http://127.0.0.1:4000", "http://127.0.0.1:4001"]
        );
        assert_eq!(known.grid_set(&own), vec![own]);
    }
}
