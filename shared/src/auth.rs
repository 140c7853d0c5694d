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
    /// The audience it was issued for: one, or a list (RFC 7519 allows both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
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

/// A token's `aud`: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "chat"`.
    One(String),
    /// `"aud": ["chat", "admin"]`.
    Many(Vec<String>),
}

/// The longest `sub` accepted, in characters.
pub const MAX_SUB_CHARS: usize = 256;

/// Whether `sub` can name a user (it is shown to others and addresses direct messages): 1 to
/// [`MAX_SUB_CHARS`] characters, none invisible (control, zero-width, bidi); if not, why.
pub fn check_sub(sub: &str) -> Result<(), String> {
    if sub.is_empty() {
        return Err("its sub is empty".into());
    }
    if sub.chars().count() > MAX_SUB_CHARS {
        return Err(format!("its sub is longer than {MAX_SUB_CHARS} characters"));
    }
    if let Some(c) = sub.chars().find(|&c| crate::validate::is_invisible(c)) {
        return Err(format!(
            "its sub has an invisible or control character (U+{:04X})",
            u32::from(c)
        ));
    }
    Ok(())
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

    #[test]
    fn a_sub_must_be_visible_and_short() {
        assert_eq!(check_sub("alice"), Ok(()));
        assert_eq!(check_sub("Zoë Ñ 42"), Ok(()));
        assert_eq!(check_sub(""), Err("its sub is empty".into()));
        assert!(check_sub(&"a".repeat(257)).unwrap_err().contains("256"));
        assert_eq!(
            check_sub("adm\u{202E}nimda"),
            Err("its sub has an invisible or control character (U+202E)".into())
        );
        assert!(check_sub("a\u{200B}").unwrap_err().contains("U+200B"));
    }

    #[test]
    fn an_audience_is_one_or_a_list() {
        let one: Claims = serde_json::from_str(r#"{"sub":"a","exp":1,"aud":"chat"}"#).unwrap();
        assert_eq!(one.aud, Some(Audience::One("chat".into())));
        let many: Claims =
            serde_json::from_str(r#"{"sub":"a","exp":1,"aud":["chat","admin"]}"#).unwrap();
        assert_eq!(
            many.aud,
            Some(Audience::Many(vec!["chat".into(), "admin".into()]))
        );
    }
}
