//! The bodies of the publish API (`/api/...`), for backends: what they send and what they get.
//!
//! `POST /api/publish` with `Authorization: Bearer <key>` and a [`PublishRequest`]; the answer is
//! a [`Published`] (`200` when the history took it, `202` when it is queued because Redis is
//! away) or an [`ApiError`]. `GET /api/presence?cursor=..&limit=..` pages the members like the
//! `presence` event; `POST /api/disconnect` with a [`DisconnectRequest`] disconnects a client's
//! sockets on every instance.

use serde::{Deserialize, Serialize};

use crate::message::Delivery;

/// Who a published message is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum To {
    /// `"all"`: every client (a `message` event).
    All(AllClients),
    /// `{"room": name}`: the members of a room (a `room_message` event).
    Room {
        /// The room.
        room: String,
    },
    /// `{"user": public id}`: every socket of one client (a `direct` event).
    User {
        /// The client's public id.
        user: String,
    },
}

/// The string `"all"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllClients {
    /// Every client.
    All,
}

/// `POST /api/publish`'s body. Example: `{"to": {"room": "ops"}, "text": "deploying"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// Who gets it.
    pub to: To,
    /// The text, as clients send it (the same limits).
    pub text: String,
}

/// What `POST /api/publish` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The message id, as clients see it in the metadata.
    pub id: String,
    /// Its offset in the history, when the history took it at once (not while it is queued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    /// How far it went: `cluster`, or `queued` (Redis is away: delivered on the instance that
    /// took it, to the others once Redis is back).
    pub delivery: Delivery,
}

/// `POST /api/disconnect`'s body: `{"user": public id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisconnectRequest {
    /// The client's public id.
    pub user: String,
}

/// What the API answers when it refuses: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Why.
    pub error: ApiErrorBody,
}

/// The reason of an [`ApiError`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// Machine-readable: `unauthorized`, `bad_request`, `too_large`, `rate_limited`, `disabled`,
    /// `unavailable`.
    pub code: String,
    /// Fit to show to a person.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_read_as_documented() {
        let read = |v| serde_json::from_value::<PublishRequest>(v).map(|r| r.to);
        assert_eq!(
            read(json!({"to": "all", "text": "x"})).unwrap(),
            To::All(AllClients::All)
        );
        assert_eq!(
            read(json!({"to": {"room": "ops"}, "text": "x"})).unwrap(),
            To::Room { room: "ops".into() }
        );
        assert_eq!(
            read(json!({"to": {"user": "ab"}, "text": "x"})).unwrap(),
            To::User { user: "ab".into() }
        );
        assert!(read(json!({"to": "everyone", "text": "x"})).is_err());
        assert!(read(json!({"to": "all", "text": "x", "extra": 1})).is_err());
    }
}
