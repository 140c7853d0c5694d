//! HTTP routes of one instance.

use std::{path::Path, sync::Arc};

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header::ORIGIN},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use gridcast_shared::{Health, InstanceList};
use socketioxide::layer::SocketIoLayer;
use tower::Layer;
use tower_http::{
    cors::{AllowHeaders, AllowOrigin, CorsLayer},
    services::ServeDir,
};

use crate::{
    admin,
    api::Api,
    instance::Instance,
    limit::sessions::{self, SessionGate, is_engine_path},
    metrics,
    origin::AllowedOrigins,
    redis::adapter::{ClusterAdapter, Io},
};

#[derive(Clone)]
struct AppState {
    instance: Arc<Instance>,
    io: Io,
    api: Arc<Api>,
}

/// The router of one instance: Socket.IO at `/socket.io/`, `/health`, `/instances`, `/metrics`,
/// the Admin UI at `/admin/` from the npm packages in `admin_ui_dir`, and the UI from
/// `static_dir` (`/` is its `index.html`). Any other path answers 404 (the UI has
/// no routes of its own). Browser pages from origins `allowed` refuses get `403` on Socket.IO and
/// no CORS grant elsewhere; new Socket.IO sessions pass `gate` (per-address cap and rate).
pub(crate) fn app(
    instance: Arc<Instance>,
    io: Io,
    socket_layer: SocketIoLayer<ClusterAdapter>,
    (static_dir, admin_ui_dir): (&Path, &Path),
    allowed: Arc<AllowedOrigins>,
    gate: Arc<SessionGate>,
    api: Arc<Api>,
) -> Router {
    let index = static_dir.join("index.html");
    let router = Router::new()
        .route("/health", get(health))
        .route("/instances", get(instances))
        .route("/metrics", get(metrics))
        .with_state(AppState {
            instance: instance.clone(),
            io: io.clone(),
            api: api.clone(),
        })
        .merge(crate::api::router(instance, io, api))
        .nest_service("/admin", admin::ui::service(admin_ui_dir));
    let router = if index.is_file() {
        // The UI's files compressed for browsers that accept it (brotli or gzip): the wasm is
        // most of the page, and it shrinks to about a third.
        router.fallback_service(tower_http::compression::Compression::new(ServeDir::new(
            static_dir,
        )))
    } else {
        tracing::warn!(dir = %static_dir.display(), "no built UI found; `/` explains how to build it");
        router.route("/", get(ui_missing)).fallback(not_found)
    };
    // The UI of one instance reads `/instances` and `/health` of the others, and connects to them.
    let grant = allowed.clone();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| grant.allows(o))
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(AllowHeaders::mirror_request());
    // Outermost first: the origin guard (a refused page spends nothing), CORS (so that a refused
    // session's answer is readable by the page), the session gate, Socket.IO.
    // The Socket.IO layer wraps the whole router once: `Router::layer` would wrap each route and
    // fallback apart, each with an Engine.IO of its own (its own sessions), and a polling
    // client's requests could reach one that never heard of its session.
    Router::new()
        .fallback_service(socket_layer.layer(router))
        .layer(middleware::from_fn_with_state(gate, sessions::admit))
        .layer(cors)
        .layer(middleware::from_fn_with_state(allowed, guard_origin))
}

/// Refuses Socket.IO requests from browser pages of origins that are not allowed (CORS alone
/// does not stop WebSocket upgrades), on every path the Engine.IO endpoint serves: engineioxide
/// also answers `/socket.io` without the slash.
async fn guard_origin(
    State(allowed): State<Arc<AllowedOrigins>>,
    request: Request,
    next: Next,
) -> Response {
    if is_engine_path(request.uri().path())
        && let Some(origin) = request.headers().get(ORIGIN)
        && !origin.to_str().is_ok_and(|o| allowed.allows(o))
    {
        let shown = String::from_utf8_lossy(origin.as_bytes())
            .chars()
            .take(100)
            .collect::<String>();
        return (
            StatusCode::FORBIDDEN,
            format!(
                "pages from origin {shown:?} may not use this instance; \
                 add it with --allowed-origins (GRIDCAST_ALLOWED_ORIGINS)\n"
            ),
        )
            .into_response();
    }
    next.run(request).await
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(state.instance.health(connected(&state.io)))
}

async fn instances(State(state): State<AppState>) -> Json<InstanceList> {
    Json(state.instance.instance_list(connected(&state.io)).await)
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found\n")
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = metrics::render(
        &state.instance,
        connected(&state.io),
        state.api.refusals.counts(),
    );
    (
        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        body,
    )
}

async fn ui_missing() -> impl IntoResponse {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(
            "<!doctype html><title>gridcast: UI not built</title>\
             <h1>The gridcast UI is not built</h1>\
             <p>Run <code>./dev run</code> (it builds the UI), or <code>trunk build --release</code> \
             and start gridcast with <code>--static-dir dist</code>.</p>\
             <p>The Socket.IO endpoint, <a href=\"/health\">/health</a> and \
             <a href=\"/instances\">/instances</a> work without it.</p>",
        ),
    )
}

/// This instance's sockets of `/`; none once the namespace is closed (socketioxide's
/// `sockets()` panics then, and a request can arrive while the instance stops).
fn connected(io: &Io) -> usize {
    io.of("/").map_or(0, |ns| ns.sockets().len())
}
