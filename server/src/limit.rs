//! A token bucket per socket, so that one flooding client cannot starve the others.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use gridcast_shared::limits::Rate;

/// Allows `burst` events at once, refilled at `per_second`; or everything, when off.
#[derive(Debug)]
pub(crate) struct RateLimit {
    rate: Option<Rate>,
    /// Tokens left, and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// A full bucket for `rate`; `None` allows everything.
    pub(crate) fn from_rate(rate: Option<Rate>) -> Self {
        let tokens = rate.map_or(0.0, |r| f64::from(r.burst));
        Self {
            rate,
            state: Mutex::new((tokens, Instant::now())),
        }
    }

    /// The limit this bucket enforces (`None`: off).
    pub(crate) fn rate(&self) -> Option<Rate> {
        self.rate
    }

    /// Takes one token at `now`, or says how long until one is available.
    pub(crate) fn take_at(&self, now: Instant) -> Result<(), Duration> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let (burst, per_second) = (f64::from(rate.burst), f64::from(rate.per_second));
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = &mut *state;
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * per_second).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second))
        }
    }

    /// Takes one token now.
    pub(crate) fn take(&self) -> Result<(), Duration> {
        self.take_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let limit = RateLimit::from_rate(Some(Rate {
            per_second: 10,
            burst: 3,
        }));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limit.take_at(t0).is_ok());
        }
        let wait = limit.take_at(t0).unwrap_err();
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(limit.take_at(t0 + Duration::from_millis(100)).is_ok());
        assert!(limit.take_at(t0 + Duration::from_millis(100)).is_err());
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limit.take_at(later).is_ok());
        }
        assert!(limit.take_at(later).is_err());
    }

    #[test]
    fn off_allows_everything() {
        let limit = RateLimit::from_rate(None);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| limit.take_at(t0).is_ok()));
    }
}
