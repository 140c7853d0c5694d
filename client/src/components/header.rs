//! The top bar: app name, instance picker, and the connection's state in words: the one place
//! that says where the page stands.

use leptos::prelude::*;

use crate::{
    clock::Clock,
    components::{markup::short_id, picker::InstancePicker},
    connection::Connection,
    model,
};

/// The top bar. `origin` is the page's own instance, always offered in the picker.
#[component]
pub fn Header(
    /// Base URL the page was loaded from.
    origin: String,
) -> impl IntoView {
    view! {
        <header class="bar">
            <div class="brand">
                <span class="logo">"▦"</span>
                <span class="name">"gridcast"</span>
            </div>
            <InstancePicker origin=origin />
            <Status />
        </header>
    }
}

/// The connection's state: a coloured dot, a title ("Connected to localhost:3000", "Redis
/// unreachable for 4 s", "Moving to localhost:3001") and what it means, with times that count.
#[component]
pub fn Status() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let clock = expect_context::<Clock>();
    let headline = Memo::new(move |_| {
        let name = conn
            .me()
            .map(|m| m.name)
            .filter(|n| !n.is_empty())
            .or_else(|| conn.id().map(|id| short_id(&id)))
            .unwrap_or_default();
        conn.link.with(|l| model::headline(l, &name, clock.now()))
    });
    view! {
        <div
            id="status"
            role="status"
            class=move || format!("status {}", headline.with(|h| h.tone.class()))
            data-public-id=move || conn.id().unwrap_or_default()
        >
            <span class="dot"></span>
            <span class="status-text">
                <strong class="status-title">{move || headline.with(|h| h.title.clone())}</strong>
                <span class="status-detail">{move || headline.with(|h| h.detail.clone())}</span>
            </span>
        </div>
    }
}
