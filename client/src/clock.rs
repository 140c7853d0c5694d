//! The page's clock: a signal that ticks every second, for what shows a time that passes ("for
//! 12 s", "checked 40 s ago", the live view) without each component keeping a timer.

use gloo_timers::future::TimeoutFuture;
use leptos::{prelude::*, task::spawn_local};

/// Milliseconds since the epoch, updated every second.
#[derive(Debug, Clone, Copy)]
pub struct Clock(pub RwSignal<f64>);

impl Clock {
    /// A clock that ticks for the page's lifetime.
    pub fn start() -> Self {
        let now = RwSignal::new(js_sys::Date::now());
        spawn_local(async move {
            loop {
                TimeoutFuture::new(1_000).await;
                now.set(js_sys::Date::now());
            }
        });
        Self(now)
    }

    /// The time, tracked: what reads it is re-run every second.
    pub fn now(self) -> f64 {
        self.0.get()
    }
}
