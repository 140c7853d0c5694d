//! The list of received messages, newest at the bottom. It follows new messages only while the
//! reader is at the bottom; scrolled up, it holds still and a pill counts what arrived below.

use leptos::{html, prelude::*};

use gridcast_shared::validate;

use crate::{
    colour,
    components::markup::{self, short_id},
    connection::{Channel, Connection, HISTORY, Line},
    model,
};

/// Every message received, with origin, sender and latency; the "N new messages" pill while
/// the reader is scrolled up.
#[component]
pub fn MessageList() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let list = NodeRef::<html::Ol>::new();
    // Whether the list shows its end (and so follows), and how many lines had arrived when the
    // reader last saw the end.
    let following = RwSignal::new(true);
    let seen = RwSignal::new(conn.received.get_untracked());
    let to_bottom = move || {
        if let Some(list) = list.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
        seen.set(conn.received.get_untracked());
    };
    // Keep the newest message in view while following: a DOM side effect, so an Effect.
    Effect::new(move |_| {
        conn.lines.track();
        list.track();
        if following.get_untracked() {
            to_bottom();
        }
    });
    let on_scroll = move |_| {
        let Some(list) = list.get_untracked() else {
            return;
        };
        let bottom = model::at_bottom(
            f64::from(list.scroll_top()),
            f64::from(list.client_height()),
            f64::from(list.scroll_height()),
        );
        if bottom != following.get_untracked() {
            following.set(bottom);
            conn.hold(!bottom);
        }
        if bottom {
            seen.set(conn.received.get_untracked());
        }
    };
    let unseen = move || {
        if following.get() {
            None
        } else {
            model::pill(conn.received.get().saturating_sub(seen.get()))
        }
    };
    let jump = move |_| {
        following.set(true);
        conn.hold(false);
        to_bottom();
    };
    view! {
        <main class="messages">
            <Show
                when=move || !conn.lines.with(|l| l.is_empty())
                fallback=|| view! {
                    <div class="empty">
                        <p>"No messages yet."</p>
                        <p class="hint">"Open this page again in another tab, pick a different instance there, and send a message: it crosses instances through Redis."</p>
                    </div>
                }
            >
                <ol class="lines" node_ref=list id="messages" on:scroll=on_scroll>
                    <For each=move || conn.lines.get() key=|line| line.key.clone() let:line>
                        <MessageLine line=line />
                    </For>
                </ol>
            </Show>
            <button id="new-pill" class="pill" hidden=move || unseen().is_none() on:click=jump>
                {move || unseen().unwrap_or_default()}
            </button>
            <p class="cap" hidden=move || { conn.lines.with(|l| l.len()) < HISTORY || !following.get() }>
                {format!("showing the latest {HISTORY} messages")}
            </p>
        </main>
    }
}

/// One message: coloured by the instance it entered the cluster through; its text shown as
/// text, never as markup, with control characters shown rather than obeyed. A gap (messages
/// missed for good) is a line of its own. The sender's name follows presence, so a replayed
/// message shows it as soon as the list arrives.
#[component]
pub fn MessageLine(
    /// The message.
    line: Line,
) -> impl IntoView {
    let conn = expect_context::<Connection>();
    let class = match (&line.channel, line.mine) {
        (Channel::Gap, _) => "line gap",
        (Channel::Direct { .. }, _) => "line direct",
        (_, true) => "line mine",
        _ => "line",
    };
    let style = colour::style(&line.origin_url);
    let origin = line.origin_url.clone();
    view! {
        <li class=class style=style data-origin=origin inner_html=move || line_html(&line, conn) />
    }
}

/// A message line's content as markup (every text escaped).
fn line_html(line: &Line, conn: Connection) -> String {
    let mut html = String::from("<div class=\"meta\">");
    if line.channel == Channel::Gap {
        markup::push(&mut html, "span", "time", &line.time);
        html.push_str("</div>");
        markup::push(&mut html, "div", "text", &line.text);
        return html;
    }
    let name_of = |id: &str| {
        conn.names
            .with(|n| n.get(id).cloned())
            .unwrap_or_else(|| short_id(id))
    };
    let origin = if line.origin_url.is_empty() {
        "origin unknown".to_owned()
    } else {
        colour::label(&line.origin_url)
    };
    let sender = match &line.channel {
        _ if line.mine => "you".to_owned(),
        _ if line.sender == "?" => "someone".to_owned(),
        Channel::Direct { from_name, .. } if !from_name.is_empty() => from_name.clone(),
        _ => name_of(&line.sender),
    };
    let channel = match &line.channel {
        Channel::All | Channel::Gap => String::new(),
        Channel::Room(room) => format!("#{room}"),
        Channel::Direct { to, .. } if line.mine => format!("direct → {}", name_of(to)),
        Channel::Direct { .. } => "direct to you".to_owned(),
    };
    let latency = line
        .latency_ms
        .map(|ms| format!("{} ms", ms.max(0)))
        .unwrap_or_else(|| "–".into());
    markup::push(&mut html, "span", "origin", &origin);
    markup::push(&mut html, "span", "sender", &sender);
    markup::push(&mut html, "span", "channel", &channel);
    markup::push(&mut html, "span", "latency", &latency);
    markup::push(&mut html, "span", "time", &line.time);
    html.push_str("</div>");
    // Terminal escapes and bidi overrides are shown, not obeyed.
    markup::push(
        &mut html,
        "div",
        "text",
        &validate::display_safe(&line.text),
    );
    html
}
