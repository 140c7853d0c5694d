//! The live view: one card per instance with its messages per second and how long they take to
//! reach this page, over the last minute, drawn as a sparkline (bars: messages each second;
//! line: their mean latency), and its state and clients.

use gridcast_shared::instance::same_instance;
use leptos::prelude::*;

use std::fmt::Write;

use crate::{
    clock::Clock,
    cluster::Cluster,
    colour,
    components::markup,
    connection::Connection,
    model::{self, Series, Tone},
};

/// The sparkline's box, in SVG units.
const W: u32 = 120;
const H: u32 = 32;

/// A card per instance: this cluster's known instances (or the typed URLs when the page talks
/// to another cluster), and any other that sent messages in the last minute.
#[component]
pub fn LiveView() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let cluster = expect_context::<Cluster>();
    let clock = expect_context::<Clock>();
    let urls = Memo::new(move |_| {
        let target = conn.link.with(|l| l.url.clone());
        let mut urls = cluster.known.with(|k| k.grid_set(&target));
        let busy = conn.traffic.with_value(|t| t.urls(clock.now()));
        for url in busy {
            if !urls.iter().any(|u| same_instance(u, &url)) {
                urls.push(url);
            }
        }
        urls
    });
    view! {
        <section class="live" id="live" aria-label="Live view">
            <For each=move || urls.get() key=|url| url.clone() let:url>
                <LiveCard url=url />
            </For>
        </section>
    }
}

/// One instance: state, clients, messages per second and latency now, and the last minute,
/// redrawn every second.
#[component]
fn LiveCard(
    /// The instance's base URL.
    url: String,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let cluster = expect_context::<Cluster>();
    let clock = expect_context::<Clock>();
    let state = {
        let url = url.clone();
        move || {
            let health = cluster.known.with(|k| k.health(&url));
            conn.link.with(|l| model::mark(l, &url, health))
        }
    };
    let class = {
        let state = state.clone();
        move || match state().0 {
            Tone::Ok => "card ok",
            Tone::Warn => "card warn",
            Tone::Busy => "card busy",
            Tone::Down => "card down",
        }
    };
    let body = {
        let url = url.clone();
        move || {
            let now = clock.now();
            let series = conn.traffic.with_value(|t| {
                // Traffic is keyed by the URL messages carry, which may be another spelling.
                let key = t
                    .urls(now)
                    .into_iter()
                    .find(|u| same_instance(u, &url))
                    .unwrap_or_else(|| url.clone());
                t.series(&key, now)
            });
            let clients = cluster.known.with(|k| k.get(&url).and_then(|k| k.clients));
            card_html(&url, state().1, clients, &series)
        }
    };
    view! {
        <article class=class style=colour::style(&url) data-instance=url.clone() inner_html=body />
    }
}

/// A live card's content as markup.
fn card_html(url: &str, state: &str, clients: Option<usize>, s: &Series) -> String {
    let mut html = String::from("<header class=\"card-head\"><span class=\"swatch\"></span>");
    markup::push(&mut html, "span", "card-url", &colour::label(url));
    markup::push(&mut html, "span", "card-state", state);
    let latency = s
        .latency_ms
        .map(|ms| format!("{ms} ms"))
        .unwrap_or_else(|| "– ms".into());
    let clients = clients
        .map(|n| format!("{n} client{}", if n == 1 { "" } else { "s" }))
        .unwrap_or_default();
    let (line, peak) = model::line_path(&s.latencies, W, H);
    let _ = write!(
        html,
        "</header><div class=\"figures\"><span class=\"rate\"><b>{}</b> msg/s</span>\
         <span class=\"lat\" title=\"mean time from the origin instance to this page, last 5 s\"><b>{latency}</b></span>\
         <span class=\"clients muted\">{clients}</span></div>\
         <svg class=\"spark\" viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" role=\"img\">\
         <title>last minute: bars are messages per second, the line their latency (up to {peak} ms)</title>\
         <path class=\"bars\" d=\"{}\"></path><path class=\"line\" d=\"{line}\" vector-effect=\"non-scaling-stroke\"></path></svg>",
        model::tenths(s.rate_tenths),
        model::bars(&s.counts, W, H),
    );
    html
}
