//! Sessions a client can come back to: `<prefix>:session:<token>` → JSON [`Saved`], with a TTL,
//! and `<prefix>:known:<public id>` beside it (each command touches one key), so that direct messages to a client that is away
//! (but may come back) are accepted and kept for its replay.
//!
//! Written when a socket connects and whenever its name or rooms change, refreshed by the
//! heartbeat while it is connected and written once more when it disconnects, so a session lives
//! for the TTL after its client was last seen, whichever instance it was on (a killed instance
//! included). The token is the key: it is never logged. A save is made unless a later connection
//! of the session saved it ([`Saved::generation`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::link::{LinkDriver, LinkError};

/// What a session restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Saved {
    /// The public id.
    pub id: String,
    /// The display name.
    pub name: String,
    /// The rooms it was in.
    pub rooms: Vec<String>,
    /// Where the history stood when it joined each of them (a stream id): a replay gives it a
    /// room's messages from then on only, never the room's backlog. Absent in sessions saved
    /// before this was kept (then everything is replayed, as it was).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub joined: std::collections::BTreeMap<String, String>,
    /// Where the history stood when its latest connection attached (a stream id): a stock
    /// client that comes back with its `pid` but no offset got no history-backed event since,
    /// and is replayed from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_at: Option<String>,
    /// The user it was made for (its token's `sub`, with `--auth jwt`): it is never resumed under
    /// another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Which connection of the session saved it: each one that restores the session counts one
    /// more. A save of an earlier connection (its instance slower to Redis, or later to see it
    /// go) is not made over a later one's: it undid the later one's name and rooms.
    #[serde(default)]
    pub generation: u64,
}

/// Sets `KEYS[1]` to `ARGV[1]` for `ARGV[3]` ms unless it holds a session of a later generation
/// than `ARGV[2]`; 1 when it did.
const SAVE_UNLESS_LATER: &str = r#"
local held = redis.call('GET', KEYS[1])
if held then
  local ok, saved = pcall(cjson.decode, held)
  if ok and type(saved) == 'table' and (tonumber(saved.generation) or 0) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"#;

/// Session access for one cluster prefix.
#[derive(Clone)]
pub(crate) struct Sessions {
    link: LinkDriver,
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
    pub(crate) fn new(link: LinkDriver, prefix: &str, ttl: Duration) -> Self {
        Self {
            link,
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

    /// Records `saved` under `token` for the next TTL, unless a later connection of the session
    /// saved it already (see [`Saved::generation`]).
    pub(crate) async fn save(&self, token: &str, saved: &Saved) -> Result<(), LinkError> {
        let json = serde_json::to_string(saved).expect("Saved serializes");
        let ttl = self.ttl.as_millis() as u64;
        let session = redis::cmd("EVAL")
            .arg(SAVE_UNLESS_LATER)
            .arg(1)
            .arg(self.key(token))
            .arg(json)
            .arg(saved.generation)
            .arg(ttl)
            .clone();
        let known = redis::cmd("SET")
            .arg(self.known_key(&saved.id))
            .arg("1")
            .arg("PX")
            .arg(ttl)
            .clone();
        let (session, known) = futures_util::future::join(
            self.link.command::<i64>(&session),
            self.link.command::<()>(&known),
        )
        .await;
        session.and(known).map(drop)
    }

    /// Forgets the session under `token` (its identity moved to a new token).
    pub(crate) async fn forget(&self, token: &str) -> Result<(), LinkError> {
        self.link
            .command(redis::cmd("DEL").arg(self.key(token)))
            .await
    }

    /// Whether a session with public id `id` lives (connected or not).
    pub(crate) async fn is_known(&self, id: &str) -> Result<bool, LinkError> {
        self.link
            .command(redis::cmd("EXISTS").arg(self.known_key(id)))
            .await
    }

    /// The session under `token`, if it is known and readable.
    pub(crate) async fn load(&self, token: &str) -> Result<Option<Saved>, LinkError> {
        let json: Option<String> = self
            .link
            .command(redis::cmd("GET").arg(self.key(token)))
            .await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Extends the sessions of `live` (token, public id) for another TTL (pipelined).
    pub(crate) async fn touch(&self, live: &[(String, String)]) -> Result<(), LinkError> {
        let ttl = self.ttl.as_millis() as u64;
        let commands: Vec<redis::Cmd> = live
            .iter()
            .flat_map(|(token, id)| [self.key(token), self.known_key(id)])
            .map(|key| redis::cmd("PEXPIRE").arg(key).arg(ttl).clone())
            .collect();
        // One command per key (they spread over a cluster's slots); the connection pipelines them.
        let touches = commands.iter().map(|cmd| self.link.command::<()>(cmd));
        for result in futures_util::future::join_all(touches).await {
            result?;
        }
        Ok(())
    }
}
