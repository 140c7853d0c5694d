//! The input line: type, press Enter or Send. It says when sending is not possible and why, and
//! the latest notice about what was sent, until it stops being true.

use leptos::prelude::*;

use crate::{
    clock::Clock,
    components::markup::short_id,
    connection::{Connection, Phase, Target},
};

/// Send target, text input, Send button, size counter and the latest notice.
#[component]
pub fn Composer() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let clock = expect_context::<Clock>();
    let text = RwSignal::new(String::new());
    let can_send = move || conn.link.with(|l| l.can_send());
    let bytes = move || text.with(String::len);
    let limit = move || conn.max_message_bytes.get();
    let too_long = move || bytes() > limit();
    let send = move || {
        if conn.send(&text.get_untracked()) {
            text.set(String::new());
        }
    };
    let target_label = move || match conn.send_to.get() {
        Target::All => "everyone".to_owned(),
        Target::Room(room) => format!("#{room}"),
        Target::Direct(id) => {
            let name = conn
                .names
                .with(|n| n.get(&id).cloned())
                .unwrap_or_else(|| short_id(&id));
            format!("@{name}")
        }
    };
    let placeholder = move || {
        conn.link.with(|l| match &l.phase {
            Phase::Connected if l.redis_down.is_some() => {
                "Redis is unreachable: this instance's clients get it now, the others later"
            }
            Phase::Connected => "Type a message and press Enter",
            Phase::Joining => "Catching up…",
            Phase::Offline { .. } => "Offline: pick an instance to connect",
            _ => "Not connected: waiting for the connection…",
        })
    };
    let notice = move || conn.notice.get().filter(|n| n.shown_at(clock.now()));
    view! {
        <footer class="composer">
            <form on:submit=move |ev| { ev.prevent_default(); send(); }>
                <span class="target" id="send-target" title="where Send goes; pick a room or a client in the side panel">
                    <span class="target-label">{target_label}</span>
                    <Show when=move || conn.send_to.get() != Target::All>
                        <button type="button" class="x" title="back to everyone" on:click=move |_| conn.send_to.set(Target::All)>"×"</button>
                    </Show>
                </span>
                <input
                    id="message-input"
                    type="text"
                    placeholder=placeholder
                    autocomplete="off"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                />
                <button id="send" type="submit" disabled=move || !can_send() || too_long()>"Send"</button>
            </form>
            <div class="under">
                <p
                    id="notice"
                    class=move || match notice() {
                        Some(n) if n.error => "notice error",
                        Some(_) => "notice",
                        None => "notice empty",
                    }
                >
                    {move || notice().map(|n| n.text).unwrap_or_default()}
                </p>
                <span class=move || if too_long() { "count over" } else { "count" }>
                    {move || format!("{}/{}", bytes(), limit())}
                </span>
            </div>
        </footer>
    }
}
