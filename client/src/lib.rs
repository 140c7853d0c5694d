//! gridcast browser UI: pick an instance, watch messages cross the cluster.
//!
//! # Layout
//! - [`sio`]: the only module that knows Socket.IO and WebSockets. It owns the connection and exposes
//!   signals (state, messages, notices) and actions (switch instance, send) to components.
//! - [`components`]: the header (instance picker, connection state), message list and composer.
//! - [`colour`]: a stable colour per instance, shared by the picker and the message list.
#![warn(missing_docs)]

pub mod colour;
pub mod components;
pub mod sio;

use leptos::prelude::*;

use crate::{
    components::{Composer, Header, MessageList},
    sio::Connection,
};

/// The whole app: a connection to the instance of the page's own origin, switchable at run time.
#[component]
pub fn App() -> impl IntoView {
    let origin = window().location().origin().unwrap_or_default();
    let connection = Connection::new();
    connection.switch_to(origin.clone());
    provide_context(connection);

    view! {
        <div class="app">
            <Header origin=origin />
            <MessageList />
            <Composer />
        </div>
    }
}
