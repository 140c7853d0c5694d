//! The tab's `sessionStorage`: what survives a reload ([`crate::model::Resume`]). Per tab on
//! purpose: a session token shared by two tabs would be taken by each from the
//! other. Storage that is missing or full (private modes, quotas) only means nothing is kept.

use std::cell::RefCell;

use leptos::prelude::window;

use crate::model::Resume;

const RESUME_KEY: &str = "gridcast.resume";

thread_local! {
    /// The record as last read or written, so that an update per message parses nothing.
    static CACHE: RefCell<Option<Resume>> = const { RefCell::new(None) };
}

fn storage() -> Option<web_sys::Storage> {
    window().session_storage().ok().flatten()
}

fn read(key: &str) -> Option<String> {
    storage()?.get_item(key).ok().flatten()
}

fn write(key: &str, value: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(key, value);
    }
}

const TOKEN_KEY: &str = "gridcast.token";

/// The sign-in token the page was opened with (`?token=<JWT>`, for clusters that run with
/// `--auth jwt`): sent in the CONNECT auth to this cluster's instances, never to a typed URL.
/// Taken out of the address at the first read (so it stays out of history, bookmarks and
/// screenshots) and kept in the tab's `sessionStorage`, so a reload stays signed in.
pub fn token() -> Option<String> {
    if let Some(token) = token_in_address() {
        write(TOKEN_KEY, &token);
        return Some(token);
    }
    read(TOKEN_KEY).filter(|t| !t.is_empty())
}

/// `?token=` of the page's address, removed from it (the rest of the address is kept).
fn token_in_address() -> Option<String> {
    let location = window().location();
    let params = web_sys::UrlSearchParams::new_with_str(&location.search().ok()?).ok()?;
    let token = params.get("token").filter(|t| !t.is_empty())?;
    params.delete("token");
    let query = String::from(params.to_string());
    let path = location.pathname().unwrap_or_default();
    let hash = location.hash().unwrap_or_default();
    let clean = if query.is_empty() {
        format!("{path}{hash}")
    } else {
        format!("{path}?{query}{hash}")
    };
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&clean));
    }
    Some(token)
}

/// What the tab kept (empty on a first visit).
pub fn load() -> Resume {
    CACHE.with_borrow_mut(|cache| {
        cache
            .get_or_insert_with(|| Resume::from_text(read(RESUME_KEY).as_deref()))
            .clone()
    })
}

/// What the tab keeps from now on; written only when it changed. One function for every change
/// (not a generic one taking a closure: each caller would get its own copy in the bundle).
fn store(next: Resume) {
    CACHE.with_borrow_mut(|cache| {
        if cache.as_ref() != Some(&next) {
            write(RESUME_KEY, &next.to_text());
            *cache = Some(next);
        }
    });
}

/// Keeps the instance of this cluster the tab talks to.
pub fn set_url(url: &str) {
    store(Resume {
        url: Some(url.to_owned()),
        ..load()
    });
}

/// Keeps the session token from `welcome`.
pub fn set_session(session: &str) {
    store(Resume {
        session: Some(session.to_owned()),
        ..load()
    });
}

/// Keeps the last offset received.
pub fn set_offset(offset: String) {
    store(Resume {
        offset: Some(offset),
        ..load()
    });
}

/// Keeps a URL the user typed.
pub fn add_typed(url: &str) {
    let mut next = load();
    if !next.typed.iter().any(|t| t == url) {
        next.typed.push(url.to_owned());
        store(next);
    }
}
