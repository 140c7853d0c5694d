//! gridcast browser UI: pick an instance, watch messages cross the cluster.
//!
//! # Layout
//! - [`transport`]: the only module that knows WebSockets: one Socket.IO session, driven by the
//!   shared protocol rules (`gridcast_shared::session`).
//! - [`connection`]: the [`Connection`](connection::Connection): the one connection state
//!   ([`model::Link`]) and the other signals (messages, members, notices) and actions (switch
//!   instance, send, names, rooms) for components.
//! - [`cluster`]: the [`Cluster`](cluster::Cluster) context: the instances the page knows and
//!   their health, from `/instances` and `/health`.
//! - [`model`]: what the UI computes (the state's words, lines, presence groups and windows, live
//!   numbers and drawings, grid freshness), in plain Rust with native unit tests.
//! - [`grid`]: the browser grid check, one hidden session per instance.
//! - [`storage`]: what a tab keeps across a reload (`sessionStorage`).
//! - [`clock`]: a signal that ticks every second, for times that pass.
//! - [`components`]: the header (picker, state), tabs, live view, message list, composer and
//!   side panel; they read signals and call actions, never a socket.
//! - [`colour`]: a stable colour per instance, shared by the picker and the message list.
#![warn(missing_docs)]

pub mod clock;
pub mod cluster;
pub mod colour;
pub mod components;
pub mod connection;
pub mod grid;
pub mod model;
pub mod storage;
pub mod transport;

use leptos::prelude::*;

use crate::{
    clock::Clock,
    cluster::Cluster,
    components::{Composer, Header, LiveView, MessageList, Sidebar, Tab, Tabs},
    connection::Connection,
};

/// The whole app: a connection to the instance of the page's own origin (or, after a reload,
/// where the tab was), switchable at run time.
#[component]
pub fn App() -> impl IntoView {
    let origin = window().location().origin().unwrap_or_default();
    provide_context(Clock::start());
    let connection = Connection::new();
    provide_context(connection);
    let cluster = Cluster::new();
    provide_context(cluster);

    connection.start(origin.clone());
    cluster.watch(connection, origin.clone());
    // An instance the page is attached to answers, whatever its last `/health` read said: the
    // picker never calls it down (a DOM-free sync between the two contexts).
    Effect::new(move |_| {
        let reached = connection
            .link
            .with(|l| (l.phase == model::Phase::Connected).then(|| l.url.clone()));
        if let Some(url) = reached {
            cluster.known.update(|k| k.reached(&url));
        }
    });
    let tab = RwSignal::new(Tab::Messages);
    view! {
        <div class="app" data-tab=move || tab.get().name()>
            <Header origin=origin />
            <Tabs tab=tab />
            <div class="body">
                <div class="main">
                    <LiveView />
                    <MessageList />
                    <Composer />
                </div>
                <Sidebar />
            </div>
        </div>
    }
}
