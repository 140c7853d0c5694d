//! The input line: type, press Enter or Send.

use leptos::prelude::*;

use crate::{
    components::header::short_id,
    connection::{ConnState, Connection, Target},
};

/// Text input, Send button, size counter and the latest notice.
#[component]
pub fn Composer() -> impl IntoView {
    let conn = expect_context::<Connection>();
    let text = RwSignal::new(String::new());
    let connected = move || matches!(conn.state.get(), ConnState::Connected { .. });
    let bytes = move || text.with(String::len);
    let too_long = move || bytes() > conn.max_message_bytes.get();
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
                .members
                .with(|ms| ms.iter().find(|m| m.id == id).map(|m| m.name.clone()))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| short_id(&id));
            format!("@{name}")
        }
    };
    view! {
        <footer class="composer">
            <form on:submit=move |ev| { ev.prevent_default(); send(); }>
                <span class="target" id="send-target" title="where Send goes; pick a room or a client on the right">
                    {target_label}
                    <Show when=move || conn.send_to.get() != Target::All>
                        <button type="button" class="x" title="back to everyone" on:click=move |_| conn.send_to.set(Target::All)>"×"</button>
                    </Show>
                </span>
                <input
                    id="message-input"
                    type="text"
                    placeholder=move || if connected() { "Type a message and press Enter" } else { "Waiting for the connection…" }
                    autocomplete="off"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                />
                <span class=move || if too_long() { "count over" } else { "count" }>
                    {move || format!("{}/{}", bytes(), conn.max_message_bytes.get())}
                </span>
                <button id="send" type="submit" disabled=move || !connected() || too_long()>"Send"</button>
            </form>
            <p
                id="notice"
                class=move || match conn.notice.get() {
                    Some(n) if n.error => "notice error",
                    Some(_) => "notice",
                    None => "notice empty",
                }
            >
                {move || conn.notice.get().map(|n| n.text).unwrap_or_default()}
            </p>
        </footer>
    }
}
