//! Every client of the cluster, grouped by instance, with counts, a search, groups collapsed
//! beyond a few dozen members and, once open, only the rows in view (plus a margin) in the page,
//! so a thousand clients cost a screenful of rows.

use std::fmt::Write;

use gridcast_shared::presence::Member;
use leptos::{ev, prelude::*};

use crate::{
    cluster::Cluster,
    colour,
    components::markup::{self, short_id},
    connection::{Connection, Target},
    model::{self, COLLAPSE_OVER, Group},
};

/// Height of one member row, in pixels (the window arithmetic needs it fixed).
const ROW_PX: usize = 30;

/// Rows an open group shows before it scrolls.
const BOX_ROWS: usize = 10;

/// Rows kept in the page beyond those in view, on each side.
const MARGIN_ROWS: usize = 5;

/// The clients panel: the total, the search, one group per instance.
#[component]
pub fn Clients() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let cluster = expect_context::<Cluster>();
    let query = RwSignal::new(String::new());
    let groups = Memo::new(move |_| {
        let me = conn.id().unwrap_or_default();
        let query = query.get();
        cluster.known.with(|k| {
            conn.members
                .with(|ms| model::groups(ms, |u| k.is_down(u), &query, &me))
        })
    });
    let total = move || groups.with(|gs| gs.iter().map(|g| g.total).sum::<usize>());
    let found = move || groups.with(|gs| gs.iter().map(|g| g.members.len()).sum::<usize>());
    let urls = move || groups.with(|gs| gs.iter().map(|g| g.url.clone()).collect::<Vec<_>>());
    let paused = move || conn.link.with(|l| l.redis_down.is_some());
    view! {
        <section class="panel people" id="clients-panel">
            <h2 id="clients-count">{move || format!("Clients ({total})", total = total())}</h2>
            <input id="member-search" type="search" class="search" placeholder="search by name or id"
                prop:value=move || query.get() on:input=move |ev| query.set(event_target_value(&ev)) />
            <Show when=move || !query.with(String::is_empty)>
                <p class="muted" id="found">{move || format!("{} found", found())}</p>
            </Show>
            <Show when=paused>
                <p class="muted stale-note">"Redis is unreachable: other instances' arrivals and departures show when it is back."</p>
            </Show>
            <div id="presence">
                <For each=urls key=|url| url.clone() let:url>
                    <InstanceGroup url=url groups=groups searching=Signal::derive(move || !query.with(String::is_empty)) />
                </For>
            </div>
        </section>
    }
}

/// The clients of one instance: a head with the count that opens and closes it, and the rows.
/// Open by default up to [`COLLAPSE_OVER`] members (or matches of a search).
#[component]
fn InstanceGroup(
    /// The instance's base URL.
    url: String,
    /// Every group (this one is found by `url`).
    groups: Memo<Vec<Group>>,
    /// Whether a search is active.
    searching: Signal<bool>,
) -> impl IntoView {
    let chosen = RwSignal::new(None::<bool>);
    let group = {
        let url = url.clone();
        Memo::new(move |_| groups.with(|gs| gs.iter().find(|g| g.url == url).cloned()))
    };
    let shown = move || group.with(|g| g.as_ref().map_or(0, |g| g.members.len()));
    let total = move || group.with(|g| g.as_ref().map_or(0, |g| g.total));
    let open = move || chosen.get().unwrap_or_else(|| shown() <= COLLAPSE_OVER);
    let count = move || {
        let (shown, total) = (shown(), total());
        let noun = if total == 1 { "client" } else { "clients" };
        if searching.get() {
            format!("{shown} of {total} {noun}")
        } else {
            format!("{total} {noun}")
        }
    };
    let members = Memo::new(move |_| {
        group.with(|g| g.as_ref().map(|g| g.members.clone()).unwrap_or_default())
    });
    view! {
        <div class="group" style=colour::style(&url) data-instance=url.clone() class:open=open>
            <button class="group-head" aria-expanded=move || open().to_string() on:click=move |_| chosen.set(Some(!open()))>
                <span class="chevron">{move || if open() { "▾" } else { "▸" }}</span>
                <span class="swatch"></span>
                <span class="group-url">{colour::label(&url)}</span>
                <span class="group-count">{count}</span>
            </button>
            <Show when=open>
                <MemberRows members=members />
            </Show>
        </div>
    }
}

/// A scrolled box of member rows of which only those in view, and [`MARGIN_ROWS`] more on each
/// side, are in the page (drawn as markup from the window; a click on a row picks it as the
/// target of a direct message).
#[component]
fn MemberRows(
    /// The members, in order.
    members: Memo<Vec<Member>>,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let top = RwSignal::new(0usize);
    let count = move || members.with(Vec::len);
    let rows = move || {
        let range = model::window(
            count(),
            top.get() as f64,
            (BOX_ROWS * ROW_PX) as f64,
            ROW_PX as f64,
            MARGIN_ROWS,
        );
        let me = conn.id().unwrap_or_default();
        let chosen = match conn.send_to.get() {
            Target::Direct(id) => id,
            _ => String::new(),
        };
        members.with(|ms| {
            let mut html = String::new();
            for (m, i) in ms[range.clone()].iter().zip(range) {
                row_html(&mut html, i, m, m.id == me, m.id == chosen);
            }
            html
        })
    };
    let on_scroll = move |ev: ev::Event| {
        top.set(event_target::<web_sys::Element>(&ev).scroll_top().max(0) as usize);
    };
    let on_click = move |ev: ev::MouseEvent| {
        let row = event_target::<web_sys::Element>(&ev)
            .closest("li[data-id]:not(.me)")
            .ok()
            .flatten();
        if let Some(id) = row.and_then(|r| r.get_attribute("data-id")) {
            conn.send_to.set(Target::Direct(id));
        }
    };
    view! {
        <div class="rows" style=move || format!("height:{}px", count().min(BOX_ROWS) * ROW_PX) on:scroll=on_scroll>
            <ul style=move || format!("height:{}px", count() * ROW_PX) on:click=on_click inner_html=rows />
        </div>
    }
}

/// One client on one line, at its place in the group: name, public id, rooms.
fn row_html(html: &mut String, index: usize, member: &Member, me: bool, chosen: bool) {
    let class = match (me, chosen) {
        (true, _) => "member me",
        (_, true) => "member chosen",
        _ => "member",
    };
    let name = match (member.name.as_str(), me) {
        ("", true) => "anonymous (you)".to_owned(),
        ("", false) => "anonymous".to_owned(),
        (name, true) => format!("{name} (you)"),
        (name, false) => name.to_owned(),
    };
    let rooms = member
        .rooms
        .iter()
        .map(|r| format!("#{r}"))
        .collect::<Vec<_>>()
        .join(" ");
    let _ = write!(
        html,
        "<li class=\"{class}\" data-id=\"{}\" style=\"top:{}px\" title=\"{}\">",
        markup::escape(&member.id),
        index * ROW_PX,
        if me { "you" } else { "send a direct message" },
    );
    markup::push(html, "span", "name", &name);
    markup::push(html, "span", "muted mono", &short_id(&member.id));
    markup::push(html, "span", "room-tags", &rooms);
    html.push_str("</li>");
}
