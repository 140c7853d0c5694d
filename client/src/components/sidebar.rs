//! The side panel: your name and rooms, every client of the cluster by instance, and the grid
//! check.

use gridcast_shared::{
    grid::{Cell, GridReport},
    presence::Member,
};
use leptos::{prelude::*, task::spawn_local};

use crate::{
    cluster::Cluster,
    colour,
    components::header::short_id,
    connection::{Connection, Target},
    grid::grid_check,
    model,
};

/// How long the browser grid check waits for every message.
const GRID_TIMEOUT_MS: u32 = 5_000;

/// The side panel.
#[component]
pub fn Sidebar() -> impl IntoView {
    view! {
        <aside class="side">
            <Identity />
            <Rooms />
            <Clients />
            <GridCheck />
        </aside>
    }
}

/// Sets the display name others see.
#[component]
fn Identity() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let name = RwSignal::new(String::new());
    view! {
        <section class="panel">
            <h2>"You"</h2>
            <form class="row" on:submit=move |ev| {
                ev.prevent_default();
                conn.set_name(name.get_untracked().trim());
            }>
                <input id="name-input" type="text" placeholder="display name" maxlength="32"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                <button id="set-name" type="submit">"Set"</button>
            </form>
        </section>
    }
}

/// Joins rooms; lists yours, each a send target.
#[component]
fn Rooms() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let room = RwSignal::new(String::new());
    let mine = move || {
        let id = conn.id();
        conn.members.with(|ms| {
            ms.iter()
                .find(|m| Some(&m.id) == id.as_ref())
                .map(|m| m.rooms.clone())
                .unwrap_or_default()
        })
    };
    let count = move |r: &str| {
        conn.members
            .with(|ms| ms.iter().filter(|m| m.rooms.iter().any(|x| x == r)).count())
    };
    view! {
        <section class="panel">
            <h2>"Rooms"</h2>
            <form class="row" on:submit=move |ev| {
                ev.prevent_default();
                if conn.room(room.get_untracked().trim(), true) {
                    room.set(String::new());
                }
            }>
                <input id="room-input" type="text" placeholder="room name" maxlength="32"
                    prop:value=move || room.get() on:input=move |ev| room.set(event_target_value(&ev)) />
                <button id="join" type="submit">"Join"</button>
            </form>
            <ul class="rooms" id="my-rooms">
                <For each=mine key=|r| r.clone() let:r>
                    {
                        let (pick, leave, label, n) = (r.clone(), r.clone(), r.clone(), r.clone());
                        view! {
                            <li class:chosen=move || conn.send_to.get() == Target::Room(r.clone())>
                                <button class="link" title="send to this room" on:click=move |_| conn.send_to.set(Target::Room(pick.clone()))>
                                    {format!("#{label}")}
                                </button>
                                <span class="muted">{move || format!("{} in room", count(&n))}</span>
                                <button class="x" title="leave" on:click=move |_| { conn.room(&leave, false); }>"×"</button>
                            </li>
                        }
                    }
                </For>
            </ul>
        </section>
    }
}

/// Every client of the cluster, grouped by instance.
#[component]
fn Clients() -> impl IntoView {
    let conn = expect_context::<Connection>();
    // Groups keyed by instance URL, members by public id and what is shown of them: a rename
    // re-renders one row, not the whole panel.
    let groups = move || conn.members.with(|ms| model::by_instance(ms));
    view! {
        <section class="panel">
            <h2>{move || format!("Clients ({})", conn.members.with(Vec::len))}</h2>
            <div id="presence">
                <For each=groups key=|(url, _)| url.clone() let:group>
                    <InstanceGroup url=group.0 />
                </For>
            </div>
        </section>
    }
}

/// The clients of one instance, each row keyed by its member record.
#[component]
fn InstanceGroup(
    /// The instance's base URL.
    url: String,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let of_instance = {
        let url = url.clone();
        move || {
            conn.members.with(|ms| {
                ms.iter()
                    .filter(|m| m.instance_url == url)
                    .cloned()
                    .collect::<Vec<_>>()
            })
        }
    };
    view! {
        <div class="group" style=colour::style(&url) data-instance=url.clone()>
            <div class="group-head"><span class="swatch"></span>{colour::label(&url)}</div>
            <ul>
                <For each=of_instance key=|m: &Member| m.clone() let:member>
                    <MemberRow member=member />
                </For>
            </ul>
        </div>
    }
}

/// One client: name, public id, since when, rooms; click to message it directly.
#[component]
fn MemberRow(
    /// The client.
    member: Member,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let is_me = conn.id().as_deref() == Some(member.id.as_str());
    let name = if member.name.is_empty() {
        "anonymous".to_owned()
    } else {
        member.name.clone()
    };
    let since = {
        let d = js_sys::Date::new(&(member.since as f64).into());
        format!("since {:02}:{:02}", d.get_hours(), d.get_minutes())
    };
    let rooms = member
        .rooms
        .iter()
        .map(|r| format!("#{r}"))
        .collect::<Vec<_>>()
        .join(" ");
    let short = short_id(&member.id);
    let target = Target::Direct(member.id.clone());
    let chosen = target.clone();
    view! {
        <li class="member" class:chosen=move || conn.send_to.get() == chosen data-id=member.id.clone()>
            <button class="link" disabled=is_me title="send a direct message"
                on:click=move |_| conn.send_to.set(target.clone())>
                {name}{if is_me { " (you)" } else { "" }}
            </button>
            <span class="muted mono">{short}</span>
            <span class="muted">{since}</span>
            <span class="room-tags">{rooms}</span>
        </li>
    }
}

/// Runs the grid check from this page against every live instance and shows the matrix.
#[component]
fn GridCheck() -> impl IntoView {
    let cluster = expect_context::<Cluster>();
    let report = RwSignal::new(None::<GridReport>);
    let running = RwSignal::new(false);
    let run = move |_| {
        let urls = cluster.instances.get_untracked();
        if urls.is_empty() || running.get_untracked() {
            return;
        }
        running.set(true);
        spawn_local(async move {
            let r = grid_check(urls, GRID_TIMEOUT_MS).await;
            report.set(Some(r));
            running.set(false);
        });
    };
    view! {
        <section class="panel">
            <h2>"Grid check"</h2>
            <p class="muted small">"One hidden connection per live instance; each sends a tagged message, every other must receive it exactly once."</p>
            <button id="grid-run" on:click=run disabled=move || running.get()>
                {move || if running.get() { "Checking…" } else { "Run grid check" }}
            </button>
            {move || report.get().map(|r| view! { <GridMatrix report=r /> })}
        </section>
    }
}

/// The sender × receiver matrix, coloured by outcome.
#[component]
fn GridMatrix(
    /// A finished check.
    report: GridReport,
) -> impl IntoView {
    // On one host the ports say it all; otherwise show host:port.
    let full: Vec<String> = report.urls.iter().map(|u| colour::label(u)).collect();
    let host = |l: &str| {
        l.rsplit_once(':')
            .map_or(l.to_owned(), |(h, _)| h.to_owned())
    };
    let one_host = full.windows(2).all(|w| host(&w[0]) == host(&w[1]));
    let labels: Vec<String> = full
        .iter()
        .map(|l| match l.rsplit_once(':') {
            Some((_, port)) if one_host => format!(":{port}"),
            _ => l.clone(),
        })
        .collect();
    let head = labels
        .iter()
        .zip(&full)
        .map(|(l, f)| view! { <th title=f.clone()>{format!("→ {l}")}</th> })
        .collect_view();
    let rows = report
        .cells
        .iter()
        .enumerate()
        .map(|(from, row)| {
            let cells = row
                .iter()
                .map(|cell| {
                    let (class, text) = match cell {
                        Cell::Ok { latency_ms } => ("cell ok", crate::model::tenths_ms(*latency_ms)),
                        Cell::Duplicate { count, .. } => ("cell dup", format!("×{count}")),
                        Cell::Missing => ("cell missing", "missing".to_owned()),
                        Cell::Unreachable => ("cell unreachable", "unreachable".to_owned()),
                    };
                    view! { <td class=class>{text}</td> }
                })
                .collect_view();
            view! { <tr><th class="from" style=colour::style(&report.urls[from])>{labels[from].clone()}</th>{cells}</tr> }
        })
        .collect_view();
    let verdict = if report.passed {
        "verdict pass"
    } else {
        "verdict fail"
    };
    view! {
        <div id="grid" data-passed=report.passed.to_string()>
            <table class="grid">
                <thead><tr><th class="corner">"from \\ to"</th>{head}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <p class=verdict>{if report.passed { "PASS" } else { "FAIL" }}</p>
            <ul class="diagnosis">
                {report.diagnosis.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}
            </ul>
        </div>
    }
}
