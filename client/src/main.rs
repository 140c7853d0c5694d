//! Entry point of the browser UI: install the panic hook, mount the app in place of the frame
//! `index.html` shows while loading, and mark the moment for the first-paint report.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(gridcast_client::App);
    let window = leptos::prelude::window();
    if let Some(boot) = window.document().and_then(|d| d.get_element_by_id("boot")) {
        boot.remove();
    }
    if let Some(performance) = window.performance() {
        let _ = performance.mark("gridcast-mounted");
    }
}
