//! The cluster as the page sees it: the live instance list, read from `/instances` every
//! [`INSTANCES_REFRESH_MS`], shared by the picker, the grid check and the connection.

use gloo_timers::future::TimeoutFuture;
use gridcast_shared::InstanceList;
use leptos::{prelude::*, task::spawn_local};

use crate::connection::Connection;

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

impl Cluster {
    /// An empty list, until the first read.
    pub fn new() -> Self {
        Self {
            instances: RwSignal::new(Vec::new()),
            error: RwSignal::new(None),
        }
    }

    /// Reads the list for the page's lifetime (from the instance `connection` talks to, else the
    /// page's own `origin`), tells `connection` when it changes, and re-reads presence when it
    /// does and every [`PRESENCE_EVERY_REFRESHES`] reads.
    pub fn watch(self, connection: Connection, origin: String) {
        let cluster = self;
        spawn_local(async move {
            let mut since_presence = 0;
            loop {
                // From the instance the page is connected to (its own may be gone), else its own.
                let mut list = fetch_instances(&connection.target.get_untracked()).await;
                if list.is_err() {
                    list = fetch_instances(&origin).await;
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
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
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
