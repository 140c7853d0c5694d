//! Warnings that can repeat once per client or per request, summarised: one line per interval
//! with a count, instead of one line per failure.
//!
//! A presence write that fails is logged where it fails, and during a flood while Redis was slow
//! that was one WARN line per connect and disconnect (about 77,000 in 25 s): the log drowned
//! and writing it cost the server more than the failures did. Now the first failure of a kind
//! after a quiet interval is logged at once, with its error (an operator sees the problem start),
//! and the rest are counted and logged by [`report`] as one line per kind and interval, with the
//! count and the last error.

use std::{collections::BTreeMap, fmt::Display, sync::Mutex, time::Duration};

/// The repeated warnings of one instance, by kind, since the last report.
#[derive(Debug)]
pub(crate) struct Warnings {
    instance: String,
    kinds: Mutex<BTreeMap<&'static str, Tally>>,
}

#[derive(Debug, Default)]
struct Tally {
    /// Occurrences since the last report, not logged one by one.
    unlogged: u64,
    /// The last error of those.
    last: String,
    /// Whether the kind occurred in the interval before this one (then even its first occurrence
    /// now goes into the summary).
    recent: bool,
    /// Whether it occurred in this interval.
    now: bool,
}

impl Warnings {
    /// The warnings of instance `instance` (its id, in every line).
    pub(crate) fn new(instance: &str) -> Self {
        Self {
            instance: instance.to_owned(),
            kinds: Mutex::default(),
        }
    }

    /// A warning of kind `what` (a fixed sentence, e.g. "presence not recorded"), caused by
    /// `error`: logged now if the kind was quiet for a whole interval, else counted.
    pub(crate) fn warn(&self, what: &'static str, error: &dyn Display) {
        self.warn_times(what, error, 1);
    }

    /// [`Warnings::warn`] for `times` failures at once (a batch of writes that failed
    /// together): counted as that many.
    pub(crate) fn warn_times(&self, what: &'static str, error: &dyn Display, times: u64) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let tally = kinds.entry(what).or_default();
        let first = !tally.recent && !tally.now;
        tally.now = true;
        if first {
            tally.unlogged += times.saturating_sub(1);
            if times > 1 {
                tally.last = error.to_string();
            }
            drop(kinds);
            tracing::warn!(instance = %self.instance, "{what}: {error} (more like it are summarised)");
        } else {
            tally.unlogged += times;
            tally.last = error.to_string();
        }
    }

    /// What to log for the interval that just ended; starts the next one.
    fn take(&self) -> Vec<(&'static str, u64, String)> {
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        kinds.retain(|what, tally| {
            if tally.unlogged > 0 {
                out.push((*what, tally.unlogged, std::mem::take(&mut tally.last)));
            }
            tally.unlogged = 0;
            tally.recent = tally.now;
            tally.now = false;
            tally.recent
        });
        out
    }
}

/// Logs, once per `every`, how many warnings of each kind were counted without being logged.
pub(crate) async fn report(warnings: std::sync::Arc<Warnings>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        for (what, count, last) in warnings.take() {
            tracing::warn!(
                instance = %warnings.instance,
                count,
                "{what}: {count} more times in the last {every:?}; the last: {last}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Warnings;

    #[test]
    fn the_first_of_a_quiet_kind_is_logged_the_rest_counted_per_interval() {
        let w = Warnings::new("i");
        // Interval 1: the first is logged, two are counted.
        for n in 0..3 {
            w.warn("presence not recorded", &n);
        }
        w.warn("presence not removed", &"x");
        assert_eq!(w.take(), vec![("presence not recorded", 2, "2".into())]);
        // Interval 2: still failing, so every occurrence is counted.
        w.warn("presence not recorded", &"again");
        assert_eq!(w.take(), vec![("presence not recorded", 1, "again".into())]);
        // Interval 3 is quiet; in interval 4 the first is logged at once again.
        assert!(w.take().is_empty());
        assert!(w.take().is_empty());
        w.warn("presence not recorded", &"back");
        assert!(w.take().is_empty());
    }

    #[test]
    fn a_batch_that_failed_counts_every_write_in_it() {
        let w = Warnings::new("i");
        // The first batch is logged, its 499 other writes counted; the next counted whole.
        w.warn_times("presence not removed", &"batch", 500);
        w.warn_times("presence not removed", &"again", 20);
        assert_eq!(
            w.take(),
            vec![("presence not removed", 519, "again".into())]
        );
    }
}
