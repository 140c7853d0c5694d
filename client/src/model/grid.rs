//! A grid check's result as the page keeps it: when it ran, whether it still describes the
//! cluster, and what a check during a Redis outage means.
//!
//! Invariants: a result always says when it was taken and goes stale after [`STALE_MS`] or as
//! soon as the instances change; a check in which an instance said its Redis link was down never
//! blames "different Redis servers" (that diagnosis is replaced by the outage).

use gridcast_shared::{grid::GridReport, instance::same_instance};

use super::status::label;

/// How long a result counts as current (ms).
pub const STALE_MS: f64 = 60_000.0;

/// A finished check, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The matrix and its diagnosis.
    pub report: GridReport,
    /// When it finished (ms since the epoch, the page's clock).
    pub at_ms: f64,
}

/// The report of a check in which the instances at `redis_down` (indices into its URLs) said
/// their Redis link was down: the outage is the diagnosis, first, and the isolation sentences
/// (which would blame the configuration) go.
pub fn with_redis_down(mut report: GridReport, redis_down: &[usize]) -> GridReport {
    if redis_down.is_empty() {
        return report;
    }
    let names: Vec<&str> = redis_down
        .iter()
        .filter_map(|&i| report.urls.get(i))
        .map(|u| label(u))
        .collect();
    let said = format!(
        "Redis is unreachable from {}: messages reach the clients of the instance they were sent \
         to at once, and the other instances when Redis is back. Run the check again then",
        names.join(", ")
    );
    report
        .diagnosis
        .retain(|d| !d.contains("isolated groups") && !d.contains("only hears itself"));
    report.diagnosis.insert(0, said);
    report
}

/// Why `checked` no longer describes the cluster at `now_ms`, when the instances a check would
/// cover now are `now_set` and `down` says which the page knows are down; `None` while it is
/// current.
pub fn stale(
    checked: &Checked,
    now_ms: f64,
    now_set: &[String],
    down: impl Fn(&str) -> bool,
) -> Option<&'static str> {
    let report = &checked.report;
    let urls = &report.urls;
    let same = urls.len() == now_set.len()
        && urls
            .iter()
            .all(|u| now_set.iter().any(|n| same_instance(u, n)));
    let went_down = urls.iter().enumerate().any(|(i, u)| {
        down(u)
            && report
                .cells
                .get(i)
                .is_some_and(|row| row.iter().any(|c| c.delivered()))
    });
    if !same {
        Some("the instances changed since")
    } else if went_down {
        Some("an instance stopped answering since")
    } else if now_ms - checked.at_ms >= STALE_MS {
        Some("more than a minute old")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use gridcast_shared::grid::Collector;

    use super::*;

    fn urls() -> Vec<String> {
        vec![
            "http://localhost:3000".into(),
            "http://localhost:3001".into(),
        ]
    }

    #[test]
    fn a_check_during_an_outage_blames_redis_not_the_configuration() {
        // Each instance hears only itself: what different Redis servers look like.
        let mut c = Collector::new("r", 2);
        for i in 0..2 {
            c.sent(i, 0.0);
            c.received(i, &c.tag(i), 1.0);
        }
        let report = c.report(&urls());
        assert!(
            report
                .diagnosis
                .iter()
                .any(|d| d.contains("only hears itself"))
        );
        let told = with_redis_down(report.clone(), &[0, 1]);
        assert!(!told.passed);
        assert!(
            told.diagnosis[0]
                .starts_with("Redis is unreachable from localhost:3000, localhost:3001"),
            "{:?}",
            told.diagnosis
        );
        assert!(
            !told.diagnosis.iter().any(|d| d.contains("Redis servers")),
            "{:?}",
            told.diagnosis
        );
        assert_eq!(with_redis_down(report.clone(), &[]), report);
    }

    #[test]
    fn results_go_stale_with_time_a_changed_cluster_or_an_instance_down() {
        let mut c = Collector::new("r", 2);
        for i in 0..2 {
            c.sent(i, 0.0);
            for to in 0..2 {
                c.received(to, &c.tag(i), 1.0);
            }
        }
        let checked = Checked {
            report: c.report(&urls()),
            at_ms: 1_000.0,
        };
        assert!(checked.report.passed);
        let up = |_: &str| false;
        assert_eq!(stale(&checked, 2_000.0, &urls(), up), None);
        let by_address = vec![
            "http://127.0.0.1:3001".to_owned(),
            "http://127.0.0.1:3000".to_owned(),
        ];
        assert_eq!(stale(&checked, 2_000.0, &by_address, up), None);
        assert_eq!(
            stale(&checked, 1_000.0 + STALE_MS, &urls(), up),
            Some("more than a minute old")
        );
        assert_eq!(
            stale(&checked, 2_000.0, &urls()[..1], up),
            Some("the instances changed since")
        );
        let b_down = |u: &str| u.ends_with(":3001");
        assert_eq!(
            stale(&checked, 2_000.0, &urls(), b_down),
            Some("an instance stopped answering since")
        );
    }
}
