//! The header: app name, instance picker, and connection state.

use gloo_timers::future::TimeoutFuture;
use gridcast_shared::InstanceList;
use leptos::{prelude::*, task::spawn_local};

use crate::{
    colour,
    sio::{ConnState, Connection},
};

/// How often the instance list is refreshed.
const REFRESH_MS: u32 = 5_000;

/// The top bar. `origin` is the page's own instance, the default choice.
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

/// A dropdown of the cluster's instances; choosing one switches the live connection.
#[component]
pub fn InstancePicker(
    /// Base URL the page was loaded from; always offered, even when `/instances` fails.
    origin: String,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let listed = RwSignal::new(Vec::<String>::new());
    let list_error = RwSignal::new(None::<String>);
    let source = origin.clone();
    spawn_local(async move {
        loop {
            match fetch_instances(&source).await {
                Ok(list) => {
                    list_error.set(None);
                    if listed.get_untracked() != list.instances {
                        listed.set(list.instances);
                    }
                }
                Err(e) => list_error.set(Some(e)),
            }
            TimeoutFuture::new(REFRESH_MS).await;
        }
    });
    let options = move || {
        let mut all = listed.get();
        let target = conn.target.get();
        for url in [origin.clone(), target] {
            if !url.is_empty() && !all.contains(&url) {
                all.push(url);
            }
        }
        all
    };
    view! {
        <label class="picker" style=move || colour::style(&conn.target.get())>
            <span class="swatch"></span>
            <span class="picker-label">"Instance"</span>
            <select
                id="instance-picker"
                aria-label="Instance"
                on:change=move |ev| conn.switch_to(event_target_value(&ev))
                prop:value=move || conn.target.get()
            >
                <For each=options key=|url| url.clone() let:url>
                    <option value=url.clone() selected=move || conn.target.get() == url>
                        {colour::label(&url)}
                    </option>
                </For>
            </select>
            <Show when=move || list_error.get().is_some()>
                <span class="warn" title=move || list_error.get().unwrap_or_default()>"list unavailable"</span>
            </Show>
        </label>
    }
}

/// Connection state: connecting, connected (socket id, instance), reconnecting (attempt), or
/// disconnected (reason).
#[component]
pub fn Status() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let class = move || match conn.state.get() {
        ConnState::Connected { .. } => "status ok",
        ConnState::Connecting | ConnState::Reconnecting { .. } => "status pending",
        ConnState::Disconnected { .. } => "status down",
    };
    let text = move || match conn.state.get() {
        ConnState::Connecting => "connecting…".to_owned(),
        ConnState::Connected { sid } => {
            let via = conn
                .instance
                .get()
                .map(|i| format!(" to {} ({})", colour::label(&i.url), i.id))
                .unwrap_or_default();
            format!("connected{via} · socket {sid}")
        }
        ConnState::Reconnecting { attempt, reason } => {
            format!("reconnecting (attempt {attempt}) · {reason}")
        }
        ConnState::Disconnected { reason } => format!("disconnected · {reason}"),
    };
    view! {
        <div class=class id="status" role="status">
            <span class="dot"></span>
            <span class="status-text">{text}</span>
        </div>
    }
}

async fn fetch_instances(origin: &str) -> Result<InstanceList, String> {
    let url = format!("{}/instances", origin.trim_end_matches('/'));
    let response = gloo_net::http::Request::get(&url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    response
        .json::<InstanceList>()
        .await
        .map_err(|e| e.to_string())
}
