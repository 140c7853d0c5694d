//! The one reply envelope: every ack a gridcast server sends is a [`Reply`].
//!
//! On the wire an accepted request answers `{"ok":true, …fields of the body}` and a rejected one
//! `{"ok":false,"error":{"event","code","message"}}` (an [`ErrorEvent`]), so JavaScript can test
//! `ack.ok` whatever the event. The bodies:
//!
//! | event | body | example |
//! |---|---|---|
//! | `message`, `room_message`, `direct` | [`Sent`] | `{"ok":true,"id":"a1b2c3d4-7","delivery":"cluster"}` |
//! | `set_name`, `join`, `leave` | [`Changed`] | `{"ok":true,"member":{"id":"..","name":"Ada",..}}` |
//! | `presence` | [`Members`] | `{"ok":true,"members":[{"id":"..",..}],"next":".."}` (`next` absent on the last page) |

use serde::{
    Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned, de::Error as _,
};
use serde_json::Value;

use crate::{auth::User, message::Delivery, presence::Member, validate::ErrorEvent};

/// The answer to a request that asked for an ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    /// Done; the body's fields sit beside `"ok":true`.
    Ok(T),
    /// Refused, and why; nothing was done.
    Err(ErrorEvent),
}

/// Body of an accepted `message`, `room_message` or `direct`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The id the delivered message carries in its [`MessageMeta`](crate::MessageMeta).
    pub id: String,
    /// How far it went.
    pub delivery: Delivery,
}

/// Body of an accepted `set_name`, `join` or `leave`: the sender as presence now shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    /// The sender's member record after the change.
    pub member: Member,
}

/// Body of an accepted `presence`: one page of the cluster's members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    /// At most the page's `limit` ([`PRESENCE_PAGE`](crate::presence::PRESENCE_PAGE) unless
    /// asked for fewer), sorted by instance URL, then connection time.
    pub members: Vec<Member>,
    /// Where the next page starts (ask `presence` again with `{"cursor": next}`); absent on the
    /// last page. A member present throughout is on some page (maybe on two: keep the last);
    /// changes during the paging arrive as deltas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// An accepted reply as sent: `"ok": true` beside the body's fields.
#[derive(Serialize)]
struct OkOut<'a, T> {
    ok: bool,
    #[serde(flatten)]
    body: &'a T,
}

/// A refused reply as sent.
#[derive(Serialize)]
struct ErrOut<'a> {
    ok: bool,
    error: &'a ErrorEvent,
}

impl<T: Serialize> Serialize for Reply<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Ok(body) => OkOut { ok: true, body }.serialize(s),
            Self::Err(error) => ErrOut { ok: false, error }.serialize(s),
        }
    }
}

/// Told apart by `ok` by hand rather than by an untagged enum over a flattened body: serde's
/// untagged and flatten buffer the input in a generic form for every body type, which cost the
/// browser bundle code per reply type.
impl<'de, T: DeserializeOwned> Deserialize<'de> for Reply<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Value::Object(mut fields) = Value::deserialize(d)? else {
            return Err(D::Error::custom("a reply is a JSON object"));
        };
        match fields.remove("ok") {
            Some(Value::Bool(true)) => T::deserialize(Value::Object(fields)).map(Self::Ok),
            Some(Value::Bool(false)) => {
                let error = fields
                    .remove("error")
                    .ok_or_else(|| D::Error::custom("a refused reply has an `error`"))?;
                ErrorEvent::deserialize(error).map(Self::Err)
            }
            _ => return Err(D::Error::custom("a reply has `ok`: true or false")),
        }
        .map_err(D::Error::custom)
    }
}

impl<T> From<Result<T, ErrorEvent>> for Reply<T> {
    fn from(result: Result<T, ErrorEvent>) -> Self {
        match result {
            Ok(body) => Self::Ok(body),
            Err(error) => Self::Err(error),
        }
    }
}

/// Body of a `refresh` ack: who the client is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refreshed {
    /// The claims of the fresh token.
    pub user: User,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::RejectionCode;

    #[test]
    fn wire_shapes_round_trip_and_are_told_apart_by_ok() {
        let ok = Reply::Ok(Sent {
            id: "ab-1".into(),
            delivery: Delivery::Cluster,
        });
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(json, r#"{"ok":true,"id":"ab-1","delivery":"cluster"}"#);
        assert_eq!(serde_json::from_str::<Reply<Sent>>(&json).unwrap(), ok);

        let err = Reply::<Sent>::Err(ErrorEvent {
            event: "message".into(),
            code: RejectionCode::Empty,
            message: "message is empty".into(),
        });
        let json = serde_json::to_string(&err).unwrap();
        assert_eq!(
            json,
            r#"{"ok":false,"error":{"event":"message","code":"empty","message":"message is empty"}}"#
        );
        assert_eq!(serde_json::from_str::<Reply<Sent>>(&json).unwrap(), err);
        assert!(
            serde_json::from_str::<Reply<Sent>>(r#"{"ok":false,"id":"x","delivery":"cluster"}"#)
                .is_err()
        );
        let members = Reply::Ok(Members {
            members: vec![],
            next: None,
        });
        assert_eq!(
            serde_json::to_string(&members).unwrap(),
            r#"{"ok":true,"members":[]}"#
        );
        let page = Reply::Ok(Members {
            members: vec![],
            next: Some("7:abc".into()),
        });
        let json = serde_json::to_string(&page).unwrap();
        assert_eq!(json, r#"{"ok":true,"members":[],"next":"7:abc"}"#);
        assert_eq!(serde_json::from_str::<Reply<Members>>(&json).unwrap(), page);
    }

    #[test]
    fn malformed_replies_are_errors_that_say_what_is_wrong() {
        for (json, says) in [
            (r#"[true]"#, "a reply is a JSON object"),
            (r#"{"id":"x","delivery":"cluster"}"#, "a reply has `ok`"),
            (
                r#"{"ok":"yes","id":"x","delivery":"cluster"}"#,
                "a reply has `ok`",
            ),
            (r#"{"ok":false}"#, "a refused reply has an `error`"),
            (r#"{"ok":true,"id":"x"}"#, "missing field `delivery`"),
        ] {
            let err = serde_json::from_str::<Reply<Sent>>(json).unwrap_err();
            assert!(err.to_string().contains(says), "{json}: {err}");
        }
    }
}
