//! The publish API, for an application's backend: `POST /api/publish` (a message to everyone, a
//! room or one client, through the same history as clients' messages: offsets, replay, zero loss
//! through outages), `GET /api/presence` (the members, paged) and `POST /api/disconnect` (a
//! client's sockets on every instance).
//!
//! - [`key`]: the key (`--api-key-file`, `GRIDCAST_API_KEY`) and what was refused.
//! - [`publish`]: `POST /api/publish`.
//! - [`users`]: `GET /api/presence`, `POST /api/disconnect`.
//! - [`refusal`]: the answer to what is refused, and reading bodies; [`state`]: what handlers
//!   share.
//!
//! Invariant: every request passes [`guard`] first: without a configured key the API answers
//! `403 disabled`; a missing or wrong key `401`; over the key's rate `429`; each refusal counted
//! (`/metrics`, `gridcast_api_requests_total{outcome}`). Bodies are read only after that, and at
//! most [`MAX_BODY_BYTES`].

pub(crate) mod key;
mod publish;
mod refusal;
mod state;
mod users;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};

pub(crate) use state::Api;

use crate::{instance::Instance, redis::adapter::Io};
use key::Refused;
use refusal::{MAX_BODY_BYTES, Refusal};
use state::ApiState;

/// The API's routes, under `/api`.
pub(crate) fn router(instance: Arc<Instance>, io: Io, api: Arc<Api>) -> Router {
    let state = ApiState { instance, io, api };
    Router::new()
        .route("/api/publish", post(publish::publish))
        .route("/api/presence", get(users::presence))
        .route("/api/disconnect", post(users::disconnect))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The key and the rate, before anything else of the request is read.
async fn guard(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let api = &state.api;
    let Some(key) = &api.key else {
        return Refusal::new(
            StatusCode::FORBIDDEN,
            "disabled",
            "the publish API is disabled: start gridcast with --api-key-file (or GRIDCAST_API_KEY)",
        )
        .into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|given| key.matches(given)) {
        api.refusals.count(Refused::Key);
        let mut response = Refusal::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the API key as `Authorization: Bearer <key>`",
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Bearer".parse().expect("a header value"),
        );
        return response;
    }
    if let Err(wait) = api.rate.take() {
        api.refusals.count(Refused::Rate);
        let rate = api.rate.rate().unwrap_or_default();
        let mut response = Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many requests: at most {}/s (bursts of {}) for this key; retry in {} ms",
                rate.per_second,
                rate.burst,
                wait.as_millis().max(1)
            ),
        )
        .into_response();
        let seconds = wait.as_secs().max(1).to_string();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            seconds.parse().expect("a header value"),
        );
        return response;
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::BAD_REQUEST
        || response.status() == StatusCode::PAYLOAD_TOO_LARGE
        || response.status() == StatusCode::UNPROCESSABLE_ENTITY
        || response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
    {
        api.refusals.count(Refused::Body);
    } else if response.status().is_success() {
        api.refusals.accept();
    }
    response
}
