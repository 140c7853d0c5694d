//! HTTP routes of one instance.

use std::{path::Path, sync::Arc};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{Html, IntoResponse},
    routing::get,
};
use gridcast_shared::{Health, InstanceList};
use socketioxide::layer::SocketIoLayer;
use tower_http::{cors::CorsLayer, services::ServeDir};

use crate::instance::{ClusterAdapter, Instance, Io};

#[derive(Clone)]
struct AppState {
    instance: Arc<Instance>,
    io: Io,
}

/// The router of one instance: Socket.IO at `/socket.io/`, `/health`, `/instances`, `/metrics`,
/// and the UI from
/// `static_dir` (`/` is its `index.html`). Any other path answers 404 (the UI has no routes of
/// its own).
pub fn app(
    instance: Arc<Instance>,
    io: Io,
    socket_layer: SocketIoLayer<ClusterAdapter>,
    static_dir: &Path,
) -> Router {
    let index = static_dir.join("index.html");
    let router = Router::new()
        .route("/health", get(health))
        .route("/instances", get(instances))
        .route("/metrics", get(metrics));
    let router = if index.is_file() {
        router.fallback_service(ServeDir::new(static_dir))
    } else {
        tracing::warn!(dir = %static_dir.display(), "no built UI found; `/` explains how to build it");
        router.route("/", get(ui_missing)).fallback(not_found)
    };
    router
        .with_state(AppState { instance, io })
        .layer(socket_layer)
        // The UI of one instance reads `/instances` and `/health` of the others.
        .layer(CorsLayer::permissive())
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(state.instance.health(state.io.sockets().len()))
}

async fn instances(State(state): State<AppState>) -> Json<InstanceList> {
    Json(state.instance.instance_list(state.io.sockets().len()).await)
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found\n")
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = crate::metrics::render(&state.instance, state.io.sockets().len());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
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
