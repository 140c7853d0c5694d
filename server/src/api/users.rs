//! `GET /api/presence` (the cluster's members, a page at a time, as the `presence` event gives
//! them) and `POST /api/disconnect` (every socket of one client, on every instance).

use axum::{
    Json,
    body::Bytes,
    extract::{
        Query, State,
        rejection::{BytesRejection, QueryRejection},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use gridcast_shared::{
    api::DisconnectRequest,
    presence::{PRESENCE_PAGE, PresencePage},
    reply::Members,
};

use super::{
    refusal::{Refusal, body},
    state::ApiState,
};
use crate::{redis::presence::PageCursor, rooms::own_room};

pub(super) async fn presence(
    State(state): State<ApiState>,
    page: Result<Query<PresencePage>, QueryRejection>,
) -> Response {
    let bad = |message: String| Refusal::bad(message).into_response();
    let Ok(Query(page)) = page else {
        return bad(format!(
            "the query is `limit` (1 to {PRESENCE_PAGE}) and `cursor` (the `next` of the page \
             before), both optional"
        ));
    };
    let limit = page.limit.unwrap_or(PRESENCE_PAGE);
    if !(1..=PRESENCE_PAGE).contains(&limit) {
        return bad(format!("limit must be 1 to {PRESENCE_PAGE}"));
    }
    let from = match page.cursor.map(|c| c.parse::<PageCursor>()).transpose() {
        Ok(from) => from,
        Err(e) => return bad(e),
    };
    match state.instance.presence().page(from.as_ref(), limit).await {
        Ok((members, next)) => Json(Members {
            members,
            next: next.map(|n| n.to_string()),
        })
        .into_response(),
        Err(e) => Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("the cluster state cannot be read right now ({e}); try again"),
        )
        .into_response(),
    }
}

pub(super) async fn disconnect(
    State(state): State<ApiState>,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let request: DisconnectRequest = match body(raw, r#"{"user": public id}"#) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    if !gridcast_shared::recovery::is_session_token(&request.user) {
        return Refusal::bad("a user is a client's public id: 32 hexadecimal digits")
            .into_response();
    }
    // Every instance disconnects its sockets in the client's own room (the adapter's request).
    match state.io.to(own_room(&request.user)).disconnect().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"ok": true}))).into_response(),
        Err(e) => Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("not every instance could be asked ({e}); try again"),
        )
        .into_response(),
    }
}
