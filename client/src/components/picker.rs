//! The instance picker: this cluster's instances (and URLs the user typed), each marked with
//! what the page knows of it, and a form to connect to any Socket.IO server by URL.

use gridcast_shared::instance::same_instance;
use leptos::prelude::*;

use crate::{
    cluster::Cluster,
    colour,
    connection::Connection,
    model::{self, Known},
};

/// A dropdown of the instances the page knows; choosing one switches the live connection. The
/// instance the page is attached to is marked "connected", one that stopped answering "down";
/// "Other server…" opens a field for any Socket.IO URL.
#[component]
pub fn InstancePicker(
    /// Base URL the page was loaded from; always offered, even when `/instances` fails.
    origin: String,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let cluster = expect_context::<Cluster>();
    let adding = RwSignal::new(false);
    // Re-selects the current instance after "Other server…" was chosen.
    let reselect = RwSignal::new(0u32);
    // Instances are told apart by what they are, not by the URL string: the page opened at
    // 127.0.0.1:3000 is connected to the instance the registry lists as localhost:3000.
    let options = Memo::new(move |_| {
        let mut all: Vec<String> = cluster
            .known
            .with(|k| k.list.iter().map(|k| k.url.clone()).collect());
        let target = conn.link.with(|l| l.url.clone());
        for url in [origin.clone(), target] {
            if !url.is_empty() && !all.iter().any(|u| same_instance(u, &url)) {
                all.push(url);
            }
        }
        all
    });
    let option_label = move |url: &str| {
        let health = cluster.known.with(|k| k.health(url));
        let typed = cluster
            .known
            .with(|k| k.get(url).is_some_and(|k| !k.ours()));
        let (_, word) = conn.link.with(|l| model::mark(l, url, health));
        let label = colour::label(url);
        match (word, typed) {
            ("", true) => format!("{label} · other server"),
            ("", false) => label,
            (word, _) => format!("{label} · {word}"),
        }
    };
    let own = move |url: &str| {
        cluster
            .known
            .with_untracked(|k| k.get(url).is_none_or(Known::ours))
    };
    let pick = move |url: String| {
        if url.is_empty() {
            adding.set(true);
            reselect.update(|n| *n += 1);
        } else {
            conn.switch_to(url.clone(), own(&url));
        }
    };
    view! {
        <div class="picker-box">
            <label class="picker" style=move || colour::style(&conn.link.with(|l| l.url.clone()))>
                <span class="swatch"></span>
                <span class="picker-label">"Instance"</span>
                <select
                    id="instance-picker"
                    aria-label="Instance"
                    on:change=move |ev| pick(event_target_value(&ev))
                    prop:value=move || {
                        reselect.track();
                        let target = conn.link.with(|l| l.url.clone());
                        options.with(|o| o.iter().find(|u| same_instance(u, &target)).cloned()).unwrap_or(target)
                    }
                >
                    <For each=move || options.get() key=|url| url.clone() let:url>
                        {
                            let value = url.clone();
                            let selected = url.clone();
                            view! {
                                <option value=value selected=move || conn.link.with(|l| same_instance(&l.url, &selected))>
                                    {move || option_label(&url)}
                                </option>
                            }
                        }
                    </For>
                    <option value="">"Other server…"</option>
                </select>
            </label>
            <Show when=move || adding.get()>
                <UrlForm done=adding />
            </Show>
            <Show when=move || cluster.list_error.get().is_some()>
                <span class="warn" id="list-error">{move || cluster.list_error.get().unwrap_or_default()}</span>
            </Show>
        </div>
    }
}

/// A field for any Socket.IO server's URL: connecting adds it to the picker (for this tab).
#[component]
fn UrlForm(
    /// Set to false when the form is done (connected or cancelled).
    done: RwSignal<bool>,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let cluster = expect_context::<Cluster>();
    let text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<&'static str>);
    let connect = move || match model::typed_url(&text.get_untracked()) {
        Ok(url) => {
            cluster.add_typed(&url);
            let own = cluster
                .known
                .with_untracked(|k| k.get(&url).is_none_or(Known::ours));
            conn.switch_to(url, own);
            done.set(false);
        }
        Err(why) => error.set(Some(why)),
    };
    view! {
        <form id="url-form" class="url-form" on:submit=move |ev| { ev.prevent_default(); connect(); }>
            <input id="url-input" type="text" placeholder="http://host:port (any Socket.IO server)" autocomplete="off"
                prop:value=move || text.get() on:input=move |ev| { error.set(None); text.set(event_target_value(&ev)); } />
            <button type="submit" id="url-connect">"Connect"</button>
            <button type="button" class="x" title="cancel" on:click=move |_| done.set(false)>"×"</button>
            <Show when=move || error.get().is_some()>
                <span class="warn">{move || error.get().unwrap_or_default()}</span>
            </Show>
        </form>
    }
}
