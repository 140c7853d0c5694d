//! The grid check: run from the page against every instance it knows (or the typed URLs when it
//! talks to another Socket.IO cluster); the matrix, when it was taken, and whether it still
//! describes the cluster.

use gridcast_shared::grid::{Cell, GridReport};
use leptos::{prelude::*, task::spawn_local};

use crate::{
    clock::Clock,
    cluster::Cluster,
    colour,
    components::markup::escape,
    connection::{Connection, clock as hh_mm_ss},
    grid::grid_check,
    model::{self, Checked},
};

/// How long the browser grid check waits for every message.
const GRID_TIMEOUT_MS: u32 = 5_000;

/// Runs the grid check and shows the latest result with its time; a result that no longer
/// describes the cluster is dimmed and says why.
#[component]
pub fn GridCheck() -> impl IntoView {
    let cluster = expect_context::<Cluster>();
    let conn = expect_context::<Connection>();
    let clock = expect_context::<Clock>();
    let checked = RwSignal::new(None::<Checked>);
    let running = RwSignal::new(false);
    let set = move || {
        let target = conn.link.with(|l| l.url.clone());
        cluster.known.with(|k| k.grid_set(&target))
    };
    let run = move |_| {
        let urls = set();
        if urls.is_empty() || running.get_untracked() {
            return;
        }
        running.set(true);
        spawn_local(async move {
            let report = grid_check(urls, GRID_TIMEOUT_MS).await;
            checked.set(Some(Checked {
                report,
                at_ms: js_sys::Date::now(),
            }));
            running.set(false);
        });
    };
    let stale = move || {
        let now = clock.now();
        let now_set = set();
        checked.with(|c| {
            c.as_ref().and_then(|c| {
                cluster
                    .known
                    .with(|k| model::stale(c, now, &now_set, |u| k.is_down(u)))
            })
        })
    };
    let when = move || {
        checked.with(|c| {
            c.as_ref().map(|c| {
                format!(
                    "checked at {} ({} ago)",
                    hh_mm_ss(c.at_ms),
                    model::duration(clock.now() - c.at_ms)
                )
            })
        })
    };
    view! {
        <section class="panel check" id="grid-panel">
            <h2>"Grid check"</h2>
            <p class="muted small">{move || format!(
                "One hidden connection to each of the {} instances; each sends a tagged message, every other must receive it exactly once.",
                set().len()
            )}</p>
            <button id="grid-run" on:click=run disabled=move || running.get()>
                {move || if running.get() { "Checking…" } else { "Run grid check" }}
            </button>
            {move || checked.get().map(|c| view! {
                <div class="grid-result" class:stale=move || stale().is_some()>
                    <p class="muted small" id="grid-when">
                        {when}
                        {move || stale().map(|why| format!(" · out of date: {why}"))}
                    </p>
                    <GridMatrix report=c.report />
                </div>
            })}
        </section>
    }
}

/// The sender × receiver matrix, coloured by outcome. Drawn once per result as markup (with
/// every text escaped): a table of plain cells needs no reactivity, and a view per cell would
/// cost the bundle more than the rest of the panel.
#[component]
fn GridMatrix(
    /// A finished check.
    report: GridReport,
) -> impl IntoView {
    view! {
        <div id="grid" data-passed=report.passed.to_string() inner_html=matrix_html(&report)></div>
    }
}

/// The matrix, verdict and diagnosis as HTML.
fn matrix_html(report: &GridReport) -> String {
    use std::fmt::Write;
    // On one host the ports say it all; otherwise show host:port.
    let full: Vec<String> = report.urls.iter().map(|u| colour::label(u)).collect();
    let host = |l: &str| l.rsplit_once(':').map_or(l, |(h, _)| h).to_owned();
    let one_host = full.windows(2).all(|w| host(&w[0]) == host(&w[1]));
    let labels: Vec<String> = full
        .iter()
        .map(|l| match l.rsplit_once(':') {
            Some((_, port)) if one_host => format!(":{port}"),
            _ => l.clone(),
        })
        .collect();
    let mut html =
        String::from("<table class=\"grid\"><thead><tr><th class=\"corner\">from \\ to</th>");
    for (l, f) in labels.iter().zip(&full) {
        let _ = write!(html, "<th title=\"{}\">→ {}</th>", escape(f), escape(l));
    }
    html.push_str("</tr></thead><tbody>");
    for (from, row) in report.cells.iter().enumerate() {
        let _ = write!(
            html,
            "<tr><th class=\"from\" title=\"{}\" style=\"{}\">{}</th>",
            escape(&full[from]),
            colour::style(&report.urls[from]),
            escape(&labels[from])
        );
        for cell in row {
            let (class, text) = match cell {
                Cell::Ok { latency_ms } => ("ok", model::tenths_ms(*latency_ms)),
                Cell::Duplicate { count, .. } => ("dup", format!("×{count}")),
                Cell::Missing => ("missing", "missing".to_owned()),
                Cell::Unreachable => ("unreachable", "unreachable".to_owned()),
            };
            let _ = write!(html, "<td class=\"cell {class}\">{text}</td>");
        }
        html.push_str("</tr>");
    }
    let n = report.urls.len();
    let (class, word) = if report.passed {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    let _ = write!(
        html,
        "</tbody></table><p class=\"verdict {class}\">{word} · {n}×{n}</p><ul class=\"diagnosis\">"
    );
    for d in &report.diagnosis {
        let _ = write!(html, "<li>{}</li>", escape(d));
    }
    html.push_str("</ul>");
    html
}
