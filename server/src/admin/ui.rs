//! Serving the official Admin UI at `/admin/`: the built page of the npm package
//! `@socket.io/admin-ui` (`ui/dist/`, pinned in `admin/package.json`) and the fonts its page asks
//! the internet for, from npm packages too (`@mdi/font`, `@fontsource/roboto`) under
//! `/admin/fonts/`.
//!
//! The page's `index.html` is read once and its two font links rewritten to those files; nothing
//! else of the package is changed. A page that would still load anything from another site (a
//! version with other links) is not served: `/admin/` then says why, as it says how to install
//! the packages when they are missing. The UI's own links are relative, so it works under
//! `/admin/` as it is.

use std::{path::Path, sync::Arc};

use axum::{
    Router,
    extract::{OriginalUri, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use tower_http::{compression::CompressionLayer, services::ServeDir};

/// Where the packages' files are, under the `--admin-ui-dir` (`admin/node_modules`).
const DIST: &str = "@socket.io/admin-ui/ui/dist";
const MDI: &str = "@mdi/font";
const ROBOTO: &str = "@fontsource/roboto";

/// The page's link to Google Fonts, and the weights it asks for.
const ROBOTO_LINK: &str = r#"<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto:100,300,400,500,700,900">"#;
const ROBOTO_WEIGHTS: [u16; 6] = [100, 300, 400, 500, 700, 900];

/// The page's link to the Material Design Icons on a CDN.
const MDI_LINK: &str = r#"<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/materialdesignicons.min.css">"#;

/// The service behind `/admin` (mounted there with the prefix stripped), serving the packages
/// under `dir`.
pub(crate) fn service(dir: &Path) -> Router {
    let page = Arc::new(index(dir));
    if let Err(why) = page.as_ref() {
        tracing::debug!(dir = %dir.display(), "the Admin UI is not served: {why}");
    }
    Router::new()
        .route("/", get(serve_index))
        .route("/index.html", get(serve_index))
        .nest_service("/fonts/mdi", ServeDir::new(dir.join(MDI)))
        .nest_service("/fonts/roboto", ServeDir::new(dir.join(ROBOTO)))
        .fallback_service(ServeDir::new(dir.join(DIST)))
        .with_state(page)
        .layer(CompressionLayer::new())
}

async fn serve_index(
    OriginalUri(uri): OriginalUri,
    State(page): State<Arc<Result<String, String>>>,
) -> Response {
    // The page's links are relative: at `/admin` they would miss the folder.
    if !uri.path().ends_with('/') && !uri.path().ends_with(".html") {
        return Redirect::permanent("/admin/").into_response();
    }
    match page.as_ref() {
        Ok(html) => Html(html.clone()).into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Html(format!(
                "<!doctype html><title>gridcast: Admin UI unavailable</title>\
                 <h1>The Admin UI is not available</h1><p>{why}</p>\
                 <p>Install it with <code>./dev setup</code> (or <code>npm ci --prefix admin</code>) \
                 and start gridcast from the repository, or point <code>--admin-ui-dir</code> \
                 (<code>GRIDCAST_ADMIN_UI_DIR</code>) at that <code>node_modules</code>.</p>"
            )),
        )
            .into_response(),
    }
}

/// Why the Admin UI's page in `dir` cannot be served, if it cannot.
pub(crate) fn problem(dir: &Path) -> Option<String> {
    index(dir).err()
}

/// The Admin UI's page with its fonts from this server, or why it cannot be served.
fn index(dir: &Path) -> Result<String, String> {
    let file = dir.join(DIST).join("index.html");
    let html = std::fs::read_to_string(&file)
        .map_err(|e| format!("{} cannot be read ({e}).", file.display()))?;
    for (package, needed) in [
        (MDI, "css/materialdesignicons.min.css"),
        (ROBOTO, "400.css"),
    ] {
        let path = dir.join(package).join(needed);
        if !path.is_file() {
            return Err(format!("{} is missing.", path.display()));
        }
    }
    rewrite(&html)
}

/// `html` with its font links pointing at the npm packages' files under `fonts/`; an error when
/// anything would still come from another site.
fn rewrite(html: &str) -> Result<String, String> {
    let roboto: String = ROBOTO_WEIGHTS
        .iter()
        .map(|w| format!(r#"<link rel="stylesheet" href="fonts/roboto/{w}.css">"#))
        .collect();
    let mdi = r#"<link rel="stylesheet" href="fonts/mdi/css/materialdesignicons.min.css">"#;
    let page = html.replace(ROBOTO_LINK, &roboto).replace(MDI_LINK, mdi);
    if page.contains("http://") || page.contains("https://") || page.contains("//cdn") {
        return Err(
            "its index.html loads files from another site: gridcast serves @socket.io/admin-ui \
             0.5.1 (admin/package.json), whose font links it knows."
                .into(),
        );
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_font_links_point_here_and_nothing_else_leaves() {
        let page = format!(
            r#"<head><link rel="icon" href="favicon.png">{ROBOTO_LINK}{MDI_LINK}<link href="css/app.css" rel="stylesheet"></head>"#
        );
        let served = rewrite(&page).unwrap();
        assert!(
            served.contains(r#"href="fonts/roboto/400.css""#),
            "{served}"
        );
        assert!(served.contains("fonts/mdi/css/materialdesignicons.min.css"));
        assert!(!served.contains("http"));
        let other = page.replace("@latest", "@7");
        assert!(rewrite(&other).is_err());
    }
}
