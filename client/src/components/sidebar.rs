//! The side panel: your name and rooms, every client of the cluster by instance, and the grid
//! check.

use leptos::prelude::*;

use crate::{
    cluster::Cluster,
    components::{clients::Clients, grid_panel::GridCheck, markup::short_id},
    connection::{Connection, Target},
    model,
};

/// The side panel. Its people part (you, rooms, clients) and its check part are separate tabs
/// on narrow screens.
#[component]
pub fn Sidebar() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let plain = move || conn.link.with(|l| l.plain);
    view! {
        <aside class="side">
            <Show
                when=move || !plain()
                fallback=|| view! {
                    <section class="panel people">
                        <h2>"Clients"</h2>
                        <p class="muted">"This is a plain Socket.IO server: it keeps no presence, names or rooms. Messages, latency and the grid check work."</p>
                    </section>
                }
            >
                <Identity />
                <Rooms />
                <Clients />
            </Show>
            <GridCheck />
        </aside>
    }
}

/// Who you are to the others, and the form to set the display name they see.
#[component]
fn Identity() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let name = RwSignal::new(String::new());
    let who = move || match (conn.me(), conn.id()) {
        (Some(me), _) if !me.name.is_empty() => format!("{} · {}", me.name, short_id(&me.id)),
        (_, Some(id)) => format!("anonymous · {}", short_id(&id)),
        _ => "not connected".to_owned(),
    };
    let signed_in = move || conn.user.get();
    view! {
        <section class="panel people">
            <h2>"You"</h2>
            <p class="who" id="who">{who}</p>
            <Show when=move || signed_in().is_some() fallback=move || view! { <NameForm name=name /> }>
                <p class="muted" id="signed-in">{move || signed_in().map(|u| model::signed_in(&u)).unwrap_or_default()}</p>
            </Show>
        </section>
    }
}

/// The form that sets the display name others see (not offered to a signed-in user: the
/// token's `sub` is the name).
#[component]
fn NameForm(name: RwSignal<String>) -> impl IntoView {
    let conn = expect_context::<Connection>();
    view! {
            <form class="row" on:submit=move |ev| {
                ev.prevent_default();
                if conn.set_name(name.get_untracked().trim()) {
                    name.set(String::new());
                }
            }>
                <input id="name-input" type="text" placeholder="display name" maxlength="32"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                <button id="set-name" type="submit">"Set"</button>
            </form>
    }
}

/// Joins rooms; lists yours, each a send target, with how many of the listed clients are in it.
#[component]
fn Rooms() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let cluster = expect_context::<Cluster>();
    let room = RwSignal::new(String::new());
    let mine = move || conn.me().map(|m| m.rooms).unwrap_or_default();
    let count = move |r: &str| {
        cluster.known.with(|k| {
            conn.members
                .with(|ms| model::in_room(ms, |u| k.is_down(u), r))
        })
    };
    view! {
        <section class="panel people">
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
                                <span class="muted room-count">{move || format!("{} in room", count(&n))}</span>
                                <button class="x" title="leave" on:click=move |_| { conn.room(&leave, false); }>"×"</button>
                            </li>
                        }
                    }
                </For>
            </ul>
        </section>
    }
}
