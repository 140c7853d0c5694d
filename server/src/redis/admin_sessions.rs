//! Admin UI sessions: `<prefix>:admin-session:<SHA-256 of the session id>` with a TTL, so that a
//! session id the Admin UI got from one instance logs it in on every instance (a page reload may
//! reach another one behind a load balancer).
//!
//! Redis holds the digest, never the id itself: whoever reads the keys cannot log in with them.
//! The caller hashes (`crate::admin::auth`); this module only stores and checks keys.

use std::time::Duration;

use super::link::{LinkDriver, LinkError};

/// Admin session storage for one cluster prefix.
#[derive(Clone)]
pub(crate) struct AdminSessions {
    link: LinkDriver,
    prefix: String,
}

impl std::fmt::Debug for AdminSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSessions")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl AdminSessions {
    pub(crate) fn new(link: LinkDriver, prefix: &str) -> Self {
        Self {
            link,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, digest: &str) -> String {
        format!("{}:admin-session:{digest}", self.prefix)
    }

    /// Records the session whose id hashes to `digest` for `ttl`.
    pub(crate) async fn save(&self, digest: &str, ttl: Duration) -> Result<(), LinkError> {
        self.link
            .command(
                redis::cmd("SET")
                    .arg(self.key(digest))
                    .arg(1)
                    .arg("PX")
                    .arg(ttl.as_millis() as u64),
            )
            .await
    }

    /// Whether the session whose id hashes to `digest` exists (and has not expired).
    pub(crate) async fn exists(&self, digest: &str) -> Result<bool, LinkError> {
        self.link
            .command(redis::cmd("EXISTS").arg(self.key(digest)))
            .await
    }
}
