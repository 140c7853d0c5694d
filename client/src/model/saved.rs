//! What a tab keeps across a reload (in `sessionStorage`, see `crate::storage`): where it was in
//! the cluster's history and its session token, the instance it talked to, and the URLs the user
//! typed.
//!
//! Invariants: the session token is stored only per tab (`sessionStorage`: two tabs sharing one
//! token would take the session from each other) and only for this cluster's instances; an
//! unreadable record is an empty one (a reload never fails on it). The record is read and
//! written through `serde_json::Value`, which the page parses anyway (a derive would add its own
//! code to the bundle).

use serde_json::{Map, Value};

/// Where the tab was: enough to resume its session on load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// The session token from `welcome` (a secret: never shown, never logged).
    pub session: Option<String>,
    /// The last offset received.
    pub offset: Option<String>,
    /// The instance of this cluster the tab last talked to.
    pub url: Option<String>,
    /// URLs the user typed (any Socket.IO server).
    pub typed: Vec<String>,
}

impl Resume {
    /// The record as stored.
    pub fn to_text(&self) -> String {
        let mut map = Map::new();
        for (key, value) in [
            ("session", &self.session),
            ("offset", &self.offset),
            ("url", &self.url),
        ] {
            if let Some(value) = value {
                map.insert(key.into(), Value::from(value.as_str()));
            }
        }
        if !self.typed.is_empty() {
            map.insert("typed".into(), Value::from(self.typed.clone()));
        }
        Value::Object(map).to_string()
    }

    /// A stored record; an unreadable one is empty.
    pub fn from_text(text: Option<&str>) -> Self {
        let Some(Value::Object(map)) = text.and_then(|t| serde_json::from_str(t).ok()) else {
            return Self::default();
        };
        let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            session: text("session"),
            offset: text("offset"),
            url: text("url"),
            typed: map
                .get("typed")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_the_round_trip_and_garbage_is_empty() {
        let r = Resume {
            session: Some("0123456789abcdef0123456789abcdef".into()),
            offset: Some("1764110000123-0".into()),
            url: Some("http://localhost:3001".into()),
            typed: vec!["http://127.0.0.1:4000".into()],
        };
        assert_eq!(Resume::from_text(Some(&r.to_text())), r);
        assert_eq!(Resume::from_text(Some("{not json")), Resume::default());
        assert_eq!(Resume::from_text(Some("[1]")), Resume::default());
        assert_eq!(Resume::from_text(None), Resume::default());
        assert_eq!(Resume::default().to_text(), "{}");
    }
}
