//! The cluster as the page sees it: the instances it knows ([`crate::model::Instances`]: the
//! registry's list from `/instances`, the ones it listed before, the URLs the user typed) and
//! each one's health from its `/health`, read every [`TICK_MS`] and shared by the picker, the
//! panels, the live view and the grid check.
//!
//! Every request is bounded ([`REQUEST_MS`], then aborted): a typed URL may be a server that
//! never answers plain HTTP. Only this cluster's instances are asked for `/health`.

use futures::{FutureExt, future::join_all, pin_mut, select};
use gloo_timers::future::TimeoutFuture;
use gridcast_shared::RedisLink;
use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;

use crate::{connection::Connection, model::Instances, storage};

/// How often health is read; the instance list every other tick.
const TICK_MS: u32 = 1_000;

/// How long a request may take before it counts as unanswered.
const REQUEST_MS: u32 = 1_500;

/// Ticks between two presence snapshots when nothing changed (changes arrive as deltas; the
/// snapshot is a safety net).
const PRESENCE_EVERY_TICKS: u32 = 30;

/// Consecutive failed reads of the instance list before the page says so.
const LIST_FAILURES_TOLD: u32 = 3;

/// The instances the page knows and their health.
#[derive(Debug, Clone, Copy)]
pub struct Cluster {
    /// Every known instance.
    pub known: RwSignal<Instances>,
    /// Why the instance list could not be read lately, when it could not several times in a row.
    pub list_error: RwSignal<Option<String>>,
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

impl Cluster {
    /// Nothing known yet.
    pub fn new() -> Self {
        Self {
            known: RwSignal::new(Instances::default()),
            list_error: RwSignal::new(None),
        }
    }

    /// Reads the list and health for the page's lifetime, from the instance `connection` talks
    /// to, else the page's own `origin`, else any other known instance; tells `connection` the
    /// live instances, and re-reads presence when they change and every
    /// [`PRESENCE_EVERY_TICKS`].
    pub fn watch(self, connection: Connection, origin: String) {
        let cluster = self;
        let saved = storage::load();
        cluster.known.update(|k| {
            k.add_own(&origin);
            if let Some(url) = &saved.url {
                k.add_own(url);
            }
            for url in &saved.typed {
                k.add_typed(url);
            }
        });
        spawn_local(async move {
            let mut tick: u32 = 0;
            let mut list_failures = 0;
            loop {
                if tick.is_multiple_of(2) {
                    match cluster.read_list(connection, &origin).await {
                        Some(changed) => {
                            list_failures = 0;
                            cluster.list_error.set(None);
                            if changed {
                                // Members of an instance that died never say goodbye: re-read.
                                connection.refresh_presence();
                            }
                        }
                        None => {
                            list_failures += 1;
                            if list_failures >= LIST_FAILURES_TOLD {
                                cluster.list_error.set(Some(
                                    "no instance of this cluster answers /instances".into(),
                                ));
                            }
                        }
                    }
                }
                cluster.read_health().await;
                tick += 1;
                if tick.is_multiple_of(PRESENCE_EVERY_TICKS) {
                    connection.refresh_presence();
                }
                TimeoutFuture::new(TICK_MS).await;
            }
        });
    }

    /// Reads `/instances` from the first instance that answers; `Some(changed)` when one did.
    async fn read_list(self, connection: Connection, origin: &str) -> Option<bool> {
        let current = connection
            .link
            .with_untracked(|l| (!l.plain).then(|| l.url.clone()));
        let mut from: Vec<String> = current.into_iter().collect();
        from.push(origin.to_owned());
        from.extend(self.known.with_untracked(|k| {
            k.list
                .iter()
                .filter(|k| k.ours() && k.health != crate::model::Health::Down)
                .map(|k| k.url.clone())
                .collect::<Vec<_>>()
        }));
        for base in from.iter().take(4) {
            // Read as a JSON value (`/instances`: `instances`, `source`): no derive of its own.
            let url = format!("{}/instances", base.trim_end_matches('/'));
            let Ok(body) = get_json(&url).await else {
                continue;
            };
            let Some(instances) = body.get("instances").and_then(Value::as_array) else {
                continue;
            };
            let instances: Vec<String> = instances
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            if body.get("source").and_then(Value::as_str) != Some("registry") {
                // Redis is unreachable: the instance's configuration, not who is alive.
                self.known.update(|k| {
                    for url in &instances {
                        k.add_own(url);
                    }
                });
                return Some(false);
            }
            let changed = self.known.try_update(|k| k.listed(&instances));
            if connection.live.get_untracked() != instances {
                connection.live.set(instances);
            }
            return Some(changed.unwrap_or(false));
        }
        None
    }

    /// Reads `/health` of every instance of this cluster the page knows, at once.
    async fn read_health(self) {
        let urls = self.known.with_untracked(Instances::to_check);
        let reads = urls.iter().map(|base| async move {
            // `/health`'s `redis` and `clients`.
            let url = format!("{}/health", base.trim_end_matches('/'));
            let body = get_json(&url).await.ok()?;
            let redis = match body.get("redis").and_then(Value::as_str)? {
                "up" => RedisLink::Up,
                _ => RedisLink::Reconnecting,
            };
            let clients = body.get("clients").and_then(Value::as_u64)? as usize;
            Some((redis, clients))
        });
        let results = join_all(reads).await;
        let now = js_sys::Date::now();
        self.known.update(|k| {
            for (url, result) in urls.iter().zip(results) {
                k.checked(url, result, now);
            }
            k.prune(now);
        });
    }

    /// The user typed `url`: known from now on (and after a reload of this tab).
    pub fn add_typed(self, url: &str) {
        self.known.update(|k| k.add_typed(url));
        storage::add_typed(url);
    }

    /// Whether the page knows `url` is down (tracked).
    pub fn is_down(self, url: &str) -> bool {
        self.known.with(|k| k.is_down(url))
    }
}

/// GETs `url` as JSON within [`REQUEST_MS`] (then aborted).
async fn get_json(url: &str) -> Result<Value, String> {
    let abort = web_sys::AbortController::new().ok();
    let request = async {
        let response = gloo_net::http::Request::get(url)
            .abort_signal(abort.as_ref().map(|a| a.signal()).as_ref())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.ok() {
            return Err(format!("HTTP {}", response.status()));
        }
        let text = response.text().await.map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }
    .fuse();
    let timer = TimeoutFuture::new(REQUEST_MS).fuse();
    pin_mut!(request, timer);
    select! {
        result = request => result,
        () = timer => {
            if let Some(abort) = &abort {
                abort.abort();
            }
            Err("no answer in time".into())
        }
    }
}
