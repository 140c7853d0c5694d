//! The list of received messages, newest at the bottom.

use std::collections::VecDeque;

use leptos::{html, prelude::*};

use gridcast_shared::validate;

use crate::{
    colour,
    components::header::short_id,
    connection::{Channel, Connection, HISTORY, Line},
};

/// Every message received on the current connection, with origin, sender and latency.
#[component]
pub fn MessageList() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let list = NodeRef::<html::Ol>::new();
    // Keep the newest message in view: a DOM side effect, so an Effect.
    Effect::new(move |_| {
        conn.lines.track();
        if let Some(list) = list.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });
    view! {
        <main class="messages">
            <Show
                when=move || !conn.lines.with(|l| l.is_empty())
                fallback=|| view! {
                    <div class="empty">
                        <p>"No messages yet."</p>
                        <p class="hint">"Open this page again on another port, pick a different instance there, and send a message: it crosses instances through Redis."</p>
                    </div>
                }
            >
                <ol class="lines" node_ref=list id="messages">
                    <For each=move || conn.lines.get() key=|line| line.key.clone() let:line>
                        <MessageLine line=line />
                    </For>
                </ol>
            </Show>
            <Show when=move || { conn.lines.with(VecDeque::len) >= HISTORY }>
                <p class="cap">{format!("showing the latest {HISTORY} messages")}</p>
            </Show>
        </main>
    }
}

/// One message: coloured by the instance it entered the cluster through. A gap (messages
/// missed for good) is a line of its own.
#[component]
pub fn MessageLine(
    /// The message.
    line: Line,
) -> impl IntoView {
    if line.channel == Channel::Gap {
        return view! {
            <li class="line gap" data-gap="true">
                <div class="meta"><span class="time">{line.time}</span></div>
                <div class="text">{line.text}</div>
            </li>
        }
        .into_any();
    }
    let origin_label = if line.origin_url.is_empty() {
        "unknown instance".to_owned()
    } else {
        colour::label(&line.origin_url)
    };
    let latency = line
        .latency_ms
        .map(|ms| format!("{} ms", ms.max(0)))
        .unwrap_or_else(|| "–".into());
    let class = match (&line.channel, line.mine) {
        (Channel::Direct { .. }, _) => "line direct",
        (_, true) => "line mine",
        _ => "line",
    };
    let conn = expect_context::<Connection>();
    let name_of = move |id: &str| {
        conn.members
            .with_untracked(|ms| ms.iter().find(|m| m.id == id).map(|m| m.name.clone()))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| short_id(id))
    };
    let channel = match &line.channel {
        Channel::All => String::new(),
        Channel::Room(room) => format!("#{room}"),
        Channel::Direct { to, .. } if line.mine => format!("direct → {}", name_of(to)),
        Channel::Direct { .. } => "direct to you".to_owned(),
        Channel::Gap => String::new(),
    };
    let sender = match &line.channel {
        _ if line.mine => "you".to_owned(),
        Channel::Direct { from_name, .. } if !from_name.is_empty() => from_name.clone(),
        _ => name_of(&line.sender),
    };
    view! {
        <li class=class style=colour::style(&line.origin_url) data-origin=line.origin_url.clone()>
            <div class="meta">
                <span class="origin" title=format!("instance {}", line.origin)>{origin_label}</span>
                <span class="sender" title=format!("client {}", line.sender)>{sender}</span>
                <span class="channel">{channel}</span>
                <span class="latency" title="origin instance received it → this page received it">{latency}</span>
                <span class="time">{line.time}</span>
            </div>
            // Terminal escapes and bidi overrides are shown, not obeyed.
            <div class="text">{validate::display_safe(&line.text).into_owned()}</div>
        </li>
    }
    .into_any()
}
