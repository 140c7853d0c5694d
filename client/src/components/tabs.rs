//! On narrow screens the page shows one part at a time; these tabs choose which. On wide screens
//! they are hidden and every part shows.

use leptos::prelude::*;

/// A part of the page on narrow screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// The messages and the input line.
    Messages,
    /// You, rooms and the clients.
    People,
    /// The live view and the grid check.
    Cluster,
}

impl Tab {
    /// Its name, as the page's `data-tab` attribute.
    pub fn name(self) -> &'static str {
        match self {
            Tab::Messages => "messages",
            Tab::People => "people",
            Tab::Cluster => "cluster",
        }
    }
}

/// The tab bar (narrow screens only).
#[component]
pub fn Tabs(
    /// The tab shown.
    tab: RwSignal<Tab>,
) -> impl IntoView {
    let button = move |t: Tab, label: &'static str| {
        view! {
            <button type="button" class="tab" id=format!("tab-{}", t.name())
                class:chosen=move || tab.get() == t aria-pressed=move || (tab.get() == t).to_string()
                on:click=move |_| tab.set(t)>{label}</button>
        }
    };
    view! {
        <nav class="tabs" aria-label="Parts of the page">
            {button(Tab::Messages, "Messages")}
            {button(Tab::People, "People")}
            {button(Tab::Cluster, "Live & check")}
        </nav>
    }
}
