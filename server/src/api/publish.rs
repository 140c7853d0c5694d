//! `POST /api/publish`: a message from the application's backend, through the same history as
//! clients' messages, so it has an offset, is replayed to clients that were away, and survives a
//! Redis outage like theirs (delivered here at once and queued: `202`, `"delivery":"queued"`).
//!
//! `{"to": "all" | {"room": name} | {"user": public id}, "text": ...}` becomes a `message`, a
//! `room_message` or a `direct` event, sent by the sender id `api` with the name `backend`
//! (never a client's public id: those are 32 hex digits).

use axum::{
    Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use gridcast_shared::{
    Delivery, MessageMeta,
    api::{PublishRequest, Published, To},
    event,
    presence::{Routed, check_room},
    validate,
};

use super::{
    refusal::{Refusal, body},
    state::ApiState,
};
use crate::{
    clock::now_ms,
    hub::{Payload, Target},
};

/// The sender id of messages the API publishes.
pub(crate) const API_SENDER: &str = "api";

/// The display name of messages the API publishes.
const API_NAME: &str = "backend";

pub(super) async fn publish(
    State(state): State<ApiState>,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let request: PublishRequest = match body(
        raw,
        r#"{"to": "all" | {"room": name} | {"user": public id}, "text": string}"#,
    ) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let bad = |message: String| Refusal::bad(message).into_response();
    if let Err(rejected) = validate::check_text(&request.text) {
        return bad(rejected.message);
    }
    let instance = &state.instance;
    let meta = instance.stamp(API_SENDER, now_ms());
    let id = meta.id.clone();
    let (target, payload) = match request.to {
        To::All(_) => (Target::All, Payload::Message(request.text, meta)),
        To::Room { room } => {
            if let Err(rejected) = check_room(&room) {
                return bad(rejected.message);
            }
            let routed = routed(Some(room.clone()), None, request.text, meta);
            (
                Target::Room(room),
                Payload::Routed(event::ROOM_MESSAGE, routed),
            )
        }
        // With `--auth jwt` a user is a token's `sub` (every socket of it gets the message),
        // otherwise a client's public id.
        To::User { user } if instance.auth().required() => {
            if user.is_empty() || user.chars().count() > 256 {
                return bad("a user is a token's sub: 1 to 256 characters".into());
            }
            let routed = routed(None, Some(user.clone()), request.text, meta);
            let target = Target::User {
                to: user,
                from: API_SENDER.to_owned(),
            };
            (target, Payload::Routed(event::DIRECT, routed))
        }
        To::User { user } => {
            if !gridcast_shared::recovery::is_session_token(&user) {
                return bad("a user is a client's public id: 32 hexadecimal digits".into());
            }
            let routed = routed(None, Some(user.clone()), request.text, meta);
            let target = Target::Direct {
                to: user,
                from: API_SENDER.to_owned(),
            };
            (target, Payload::Routed(event::DIRECT, routed))
        }
    };
    let published = instance.hub().publish(&state.io, target, payload, ()).await;
    let status = match published.delivery {
        Delivery::Cluster => StatusCode::OK,
        Delivery::Queued | Delivery::LocalOnly => StatusCode::ACCEPTED,
    };
    let body = Published {
        id,
        offset: published.offset.map(|at| at.to_string()),
        delivery: published.delivery,
    };
    (status, Json(body)).into_response()
}

fn routed(room: Option<String>, to: Option<String>, text: String, meta: MessageMeta) -> Routed {
    Routed {
        room,
        to,
        from_name: API_NAME.to_owned(),
        text,
        meta,
    }
}
