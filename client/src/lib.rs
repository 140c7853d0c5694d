//! gridcast browser UI: pick an instance, watch messages cross the cluster.
//!
//! # Layout
//! - [`transport`]: the only module that knows WebSockets: one Socket.IO session, driven by the
//!   shared protocol rules (`gridcast_shared::session`).
//! - [`connection`]: the [`Connection`](connection::Connection): signals (state, messages,
//!   members, notices) and actions (switch instance, send, names, rooms) for components.
//! - [`model`]: what the UI computes (lines, dedup, presence store, ack notices), in plain Rust
//!   with native unit tests.
//! - [`grid`]: the browser grid check, one hidden session per instance.
//! - [`components`]: the header (instance picker, connection state), message list, composer and
//!   sidebar; they read signals and call actions, never a socket.
//! - [`cluster`]: the [`Cluster`](cluster::Cluster) context: the live instance list, polled
//!   from `/instances`.
//! - [`colour`]: a stable colour per instance, shared by the picker and the message list.
#![warn(missing_docs)]

pub mod cluster;
pub mod colour;
pub mod components;
pub mod connection;
pub mod grid;
pub mod model;
pub mod transport;

use leptos::prelude::*;

use crate::{
    cluster::Cluster,
    components::{Composer, Header, MessageList, Sidebar},
    connection::Connection,
};

/// The whole app: a connection to the instance of the page's own origin, switchable at run time.
#[component]
pub fn App() -> impl IntoView {
    let origin = window().location().origin().unwrap_or_default();
    let connection = Connection::new();
    connection.switch_to(origin.clone());
    provide_context(connection);

    let cluster = Cluster::new();
    provide_context(cluster);
    cluster.watch(connection, origin.clone());

    view! {
        <div class="app">
            <Header origin=origin />
            <div class="body">
                <div class="main">
                    <MessageList />
                    <Composer />
                </div>
                <Sidebar />
            </div>
        </div>
    }
}
