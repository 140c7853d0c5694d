//! Warnings that can repeat for every broadcast or request while a condition lasts (the outbox is
//! full, appends fail): logged the first time, then at most once per [`EVERY`] with how many
//! were left out, so a flood of them cannot flood the log.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// The shortest time between two lines of one repeated warning.
const EVERY: Duration = Duration::from_secs(10);

/// One repeated warning's state.
#[derive(Debug, Default)]
pub(crate) struct Repeated(Mutex<Option<(Instant, u64)>>);

impl Repeated {
    /// Whether to log the warning now; if so, how many times it was left out since the last
    /// line.
    pub(crate) fn log_now(&self) -> Option<u64> {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match &mut *state {
            Some((last, left_out)) if now.duration_since(*last) < EVERY => {
                *left_out += 1;
                None
            }
            slot => {
                let left_out = slot.map_or(0, |(_, n)| n);
                *slot = Some((now, 0));
                Some(left_out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Repeated;

    #[test]
    fn the_first_is_logged_then_the_rest_are_counted() {
        let warning = Repeated::default();
        assert_eq!(warning.log_now(), Some(0));
        for _ in 0..5 {
            assert_eq!(warning.log_now(), None);
        }
    }
}
