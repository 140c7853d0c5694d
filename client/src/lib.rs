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
//! - [`colour`]: a stable colour per instance, shared by the picker and the message list.
#![warn(missing_docs)]

pub mod colour;
pub mod components;
pub mod connection;
pub mod grid;
pub mod model;
pub mod transport;

use leptos::prelude::*;

use gloo_timers::future::TimeoutFuture;
use gridcast_shared::InstanceList;
use leptos::task::spawn_local;

use crate::{
    components::{Composer, Header, MessageList, Sidebar},
    connection::Connection,
};

/// How often the live instance list is read from the page's own instance.
const INSTANCES_REFRESH_MS: u32 = 2_000;

/// Instance-list reads between two presence snapshots when the list did not change (changes
/// arrive as deltas; the snapshot is a safety net).
const PRESENCE_EVERY_REFRESHES: u32 = 15;

/// The cluster's live instances, shared by the picker and the grid check.
#[derive(Debug, Clone, Copy)]
pub struct Cluster {
    /// Instance base URLs from `/instances` (the Redis registry), sorted.
    pub instances: RwSignal<Vec<String>>,
    /// Why the list could not be read, if it could not.
    pub error: RwSignal<Option<String>>,
}

/// The whole app: a connection to the instance of the page's own origin, switchable at run time.
#[component]
pub fn App() -> impl IntoView {
    let origin = window().location().origin().unwrap_or_default();
    let connection = Connection::new();
    connection.switch_to(origin.clone());
    provide_context(connection);

    let cluster = Cluster {
        instances: RwSignal::new(Vec::new()),
        error: RwSignal::new(None),
    };
    provide_context(cluster);
    let origin_for_list = origin.clone();
    spawn_local(async move {
        let mut since_presence = 0;
        loop {
            // From the instance the page is connected to (its own may be gone), else its own.
            let mut list = fetch_instances(&connection.target.get_untracked()).await;
            if list.is_err() {
                list = fetch_instances(&origin_for_list).await;
            }
            match list {
                Ok(list) => {
                    cluster.error.set(None);
                    if cluster.instances.get_untracked() != list.instances {
                        connection.live.set(list.instances.clone());
                        cluster.instances.set(list.instances);
                        // Members of an instance that died never say goodbye: re-read.
                        since_presence = PRESENCE_EVERY_REFRESHES;
                    }
                }
                Err(e) => cluster.error.set(Some(e)),
            }
            since_presence += 1;
            if since_presence >= PRESENCE_EVERY_REFRESHES {
                since_presence = 0;
                connection.refresh_presence();
            }
            TimeoutFuture::new(INSTANCES_REFRESH_MS).await;
        }
    });

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
