//! Authenticated connections (`gridcast serve --auth jwt`): the claims of the token a client sends
//! in its CONNECT auth (`{"token": ...}`) and again in `refresh`, and who the client is then.
//!
//! A token is a JWT, signed with HS256 (`--jwt-secret`) or RS256/ES256 (`--jwt-public-key`), whose
//! claims say who the user is and what it may do:
//!
//! ```json
//! {"sub": "alice", "exp": 1796700000, "rooms": ["ops", "team-*"], "broadcast": false}
//! ```
//!
//! `sub` is the user's identity (its display name, and the address of direct messages: every
//! socket of the user gets them); `rooms` the rooms it may join, exact names or prefixes ending
//! with `*`; `broadcast` whether it may send `message` to everyone. `exp` is required; `nbf`,
//! `aud` and `iss` are checked when present or configured.

use serde::{Deserialize, Serialize};

/// The claims gridcast reads from a token (others are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's identity.
    pub sub: String,
    /// When the token expires, in seconds since the Unix epoch.
    pub exp: u64,
    /// Not before, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The audience it was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Who issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The rooms the user may join: exact names, or prefixes ending with `*`.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Whether the user may send `message` to everyone.
    #[serde(default)]
    pub broadcast: bool,
}

impl Claims {
    /// Whether these claims let the user join `room`.
    pub fn may_join(&self, room: &str) -> bool {
        self.rooms.iter().any(|rule| match rule.strip_suffix('*') {
            Some(prefix) => room.starts_with(prefix),
            None => rule == room,
        })
    }
}

/// Who a client is, as `welcome` tells it (`welcome.user`) when connections are authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The token's `sub`.
    pub sub: String,
    /// The rooms it may join (exact names, or prefixes ending with `*`).
    pub rooms: Vec<String>,
    /// Whether it may send `message` to everyone.
    pub broadcast: bool,
    /// When its token expires, in seconds since the Unix epoch: send `refresh` before.
    pub expires: u64,
}

impl From<&Claims> for User {
    fn from(claims: &Claims) -> Self {
        Self {
            sub: claims.sub.clone(),
            rooms: claims.rooms.clone(),
            broadcast: claims.broadcast,
            expires: claims.exp,
        }
    }
}

/// Payload of the [`refresh`](crate::event::REFRESH) event: a fresh token for the same `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refresh {
    /// The token.
    pub token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_exact_names_or_prefixes() {
        let claims = Claims {
            sub: "alice".into(),
            exp: 1,
            nbf: None,
            aud: None,
            iss: None,
            rooms: vec!["ops".into(), "team-*".into()],
            broadcast: false,
        };
        assert!(claims.may_join("ops") && claims.may_join("team-red") && claims.may_join("team-"));
        assert!(!claims.may_join("opsx") && !claims.may_join("team") && !claims.may_join("dev"));
    }
}
