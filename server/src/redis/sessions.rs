//! Sessions a client can come back to: `{prefix}:session:{token}` → JSON [`Saved`], with a TTL,
//! and `{prefix}:known:{public id}` beside it, so that direct messages to a client that is away
//! (but may come back) are accepted and kept for its replay.
//!
//! Written when a socket connects and whenever its name or rooms change, refreshed by the
//! heartbeat while it is connected and written once more when it disconnects, so a session lives
//! for the TTL after its client was last seen, whichever instance it was on (a killed instance
//! included). The token is the key: it is never logged.

use std::time::Duration;

use fred::{
    clients::SubscriberClient,
    interfaces::{ClientLike, KeysInterface},
    prelude::{Expiration, Options},
};
use serde::{Deserialize, Serialize};

use super::LinkError;

/// What a session restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// The public id.
    pub id: String,
    /// The display name.
    pub name: String,
    /// The rooms it was in.
    pub rooms: Vec<String>,
}

/// Session access for one cluster prefix.
#[derive(Clone)]
pub struct Sessions {
    client: SubscriberClient,
    options: Options,
    prefix: String,
    ttl: Duration,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Sessions {
    pub(super) fn new(client: SubscriberClient, prefix: &str, ttl: Duration) -> Self {
        Self {
            client,
            options: super::command_options(),
            prefix: prefix.to_owned(),
            ttl,
        }
    }

    fn key(&self, token: &str) -> String {
        format!("{}:session:{token}", self.prefix)
    }

    fn known_key(&self, id: &str) -> String {
        format!("{}:known:{id}", self.prefix)
    }

    /// Records `saved` under `token` for the next TTL.
    pub async fn save(&self, token: &str, saved: &Saved) -> Result<(), LinkError> {
        let json = serde_json::to_string(saved).expect("Saved serializes");
        let client = self.client.with_options(&self.options);
        let ttl = Some(Expiration::PX(self.ttl.as_millis() as i64));
        let session = client.set::<(), _, _>(self.key(token), json, ttl.clone(), None, false);
        let known = client.set::<(), _, _>(self.known_key(&saved.id), "1", ttl, None, false);
        let (session, known) = futures_util::future::join(session, known).await;
        session.and(known).map_err(LinkError)
    }

    /// Whether a session with public id `id` lives (connected or not).
    pub async fn is_known(&self, id: &str) -> Result<bool, LinkError> {
        self.client
            .with_options(&self.options)
            .exists::<bool, _>(self.known_key(id))
            .await
            .map_err(LinkError)
    }

    /// The session under `token`, if it is known and readable.
    pub async fn load(&self, token: &str) -> Result<Option<Saved>, LinkError> {
        let json: Option<String> = self
            .client
            .with_options(&self.options)
            .get(self.key(token))
            .await
            .map_err(LinkError)?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Extends the sessions of `live` (token, public id) for another TTL (pipelined).
    pub async fn touch(&self, live: &[(String, String)]) -> Result<(), LinkError> {
        let client = self.client.with_options(&self.options);
        let ttl = self.ttl.as_millis() as i64;
        let touches = live.iter().flat_map(|(token, id)| {
            [
                client.pexpire::<(), _>(self.key(token), ttl, None),
                client.pexpire::<(), _>(self.known_key(id), ttl, None),
            ]
        });
        for result in futures_util::future::join_all(touches).await {
            result.map_err(LinkError)?;
        }
        Ok(())
    }
}
