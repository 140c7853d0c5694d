//! The header: app name, instance picker, and connection state.

use leptos::prelude::*;

use gridcast_shared::instance::same_instance;

use crate::{
    cluster::Cluster,
    colour,
    connection::{ConnState, Connection},
};

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

/// A dropdown of the cluster's live instances; choosing one switches the live connection. The
/// instance the page is connected to is marked; one that left the registry is marked down.
#[component]
pub fn InstancePicker(
    /// Base URL the page was loaded from; always offered, even when `/instances` fails.
    origin: String,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let cluster = expect_context::<Cluster>();
    // Instances are told apart by what they are, not by the URL string: the page opened at
    // 127.0.0.1:3000 is connected to the instance the registry lists as localhost:3000.
    let options = move || {
        let mut all = cluster.instances.get();
        let target = conn.target.get();
        for url in [origin.clone(), target] {
            if !url.is_empty() && !all.iter().any(|u| same_instance(u, &url)) {
                all.push(url);
            }
        }
        all
    };
    let option_label = move |url: &str| {
        let connected = conn
            .instance
            .get()
            .is_some_and(|i| same_instance(&i.url, url));
        let live = cluster
            .instances
            .get()
            .iter()
            .any(|u| same_instance(u, url));
        let mark = if connected {
            " · connected"
        } else if !live && !cluster.instances.get().is_empty() {
            " · down"
        } else {
            ""
        };
        format!("{}{mark}", colour::label(url))
    };
    view! {
        <label class="picker" style=move || colour::style(&conn.target.get())>
            <span class="swatch"></span>
            <span class="picker-label">"Instance"</span>
            <select
                id="instance-picker"
                aria-label="Instance"
                on:change=move |ev| conn.switch_to(event_target_value(&ev))
                prop:value=move || {
                    let target = conn.target.get();
                    cluster
                        .instances
                        .get()
                        .into_iter()
                        .find(|u| same_instance(u, &target))
                        .unwrap_or(target)
                }
            >
                <For each=options key=|url| url.clone() let:url>
                    {
                        let value = url.clone();
                        let selected = url.clone();
                        view! {
                            <option value=value selected=move || same_instance(&conn.target.get(), &selected)>
                                {move || option_label(&url)}
                            </option>
                        }
                    }
                </For>
            </select>
            <Show when=move || cluster.error.get().is_some()>
                <span class="warn" title=move || cluster.error.get().unwrap_or_default()>"list unavailable"</span>
            </Show>
        </label>
    }
}

/// Connection state: connecting, connected (socket id, instance), reconnecting (attempt), or
/// disconnected (reason).
/// The first 8 characters of a public id, as the UI shows ids.
pub fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

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
        ConnState::Connected { id } => {
            let via = conn
                .instance
                .get()
                .map(|i| format!(" to {} ({})", colour::label(&i.url), i.id))
                .unwrap_or_default();
            format!("connected{via} · you are {}", short_id(&id))
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
