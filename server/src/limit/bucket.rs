//! Token buckets: one per socket's client, per address, per address's new sessions. A bucket
//! kept in [`Buckets`] is shared by everyone using the same key and outlives their connections,
//! so that reconnecting does not refill it.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
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
        let per_second = f64::from(rate.per_second);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let tokens = refill(&mut state, rate, now);
        if tokens >= 1.0 {
            state.0 -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / per_second))
        }
    }

    /// Takes one token now.
    pub(crate) fn take(&self) -> Result<(), Duration> {
        self.take_at(Instant::now())
    }

    /// Gives back a token taken for a request that another limit then refused.
    pub(crate) fn refund(&self) {
        if let Some(rate) = self.rate {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.0 = (state.0 + 1.0).min(f64::from(rate.burst));
        }
    }

    /// Whether the bucket has refilled to its burst by `now` (a bucket that is off always has).
    fn is_full_at(&self, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        refill(&mut state, rate, now) >= f64::from(rate.burst)
    }
}

/// Adds what `rate` refilled since the state was last counted, up to the burst; the tokens now.
fn refill(state: &mut (f64, Instant), rate: Rate, now: Instant) -> f64 {
    let (tokens, last) = state;
    let elapsed = now.saturating_duration_since(*last).as_secs_f64();
    *tokens = (*tokens + elapsed * f64::from(rate.per_second)).min(f64::from(rate.burst));
    *last = (*last).max(now);
    *tokens
}

/// The fewest entries a [`Buckets`] map holds before it looks for buckets to drop.
const SWEEP_FROM: usize = 1024;

/// One bucket per key (an address, a client's public id), shared by every holder of the key.
///
/// A bucket is dropped when nobody holds it and it has refilled to its burst: a fresh one would
/// be the same. Dropping is done while adding a key, once the map has doubled since the last
/// sweep, so the map holds at most `max(1024, 2 × in use)` buckets, where *in use* counts the
/// keys held by a live socket or used within the last `burst / per_second` seconds at that sweep.
#[derive(Debug)]
pub(crate) struct Buckets<K> {
    /// Handed out to everyone when the limit is off; nothing is kept per key then.
    off: Option<Arc<RateLimit>>,
    rate: Option<Rate>,
    map: Mutex<Map<K>>,
}

#[derive(Debug)]
struct Map<K> {
    buckets: HashMap<K, Arc<RateLimit>>,
    sweep_at: usize,
}

impl<K: Eq + Hash> Buckets<K> {
    /// Buckets of `rate` (`None`: off).
    pub(crate) fn new(rate: Option<Rate>) -> Self {
        Self {
            off: rate.is_none().then(|| Arc::new(RateLimit::from_rate(None))),
            rate,
            map: Mutex::new(Map {
                buckets: HashMap::new(),
                sweep_at: SWEEP_FROM,
            }),
        }
    }

    /// The bucket of `key`: the one in use, or a full one.
    pub(crate) fn get(&self, key: K) -> Arc<RateLimit> {
        if let Some(off) = &self.off {
            return off.clone();
        }
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = map.buckets.get(&key) {
            return bucket.clone();
        }
        if map.buckets.len() >= map.sweep_at {
            let now = Instant::now();
            map.buckets
                .retain(|_, b| Arc::strong_count(b) > 1 || !b.is_full_at(now));
            map.sweep_at = SWEEP_FROM.max(2 * map.buckets.len());
        }
        let bucket = Arc::new(RateLimit::from_rate(self.rate));
        map.buckets.insert(key, bucket.clone());
        bucket
    }

    /// The buckets kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .buckets
            .len()
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
        limit.refund();
        assert!(limit.take_at(later).is_ok());
    }

    #[test]
    fn off_allows_everything() {
        let limit = RateLimit::from_rate(None);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| limit.take_at(t0).is_ok()));
        let buckets = Buckets::<u32>::new(None);
        assert!((0..10_000).all(|k| buckets.get(k).take().is_ok()));
        assert_eq!(buckets.len(), 0);
    }

    #[test]
    fn a_key_keeps_its_bucket_and_the_map_stays_bounded() {
        let slow = Buckets::new(Some(Rate {
            per_second: 1,
            burst: 2,
        }));
        let held = slow.get(0u32);
        assert!(held.take().is_ok() && held.take().is_ok());
        // Dropped and fetched again: the same, still empty bucket (a reconnect refills nothing).
        drop(held);
        assert!(slow.get(0).take().is_err());

        // Many keys used once, none held: their buckets refill at once and are dropped, but a
        // held one is kept whatever its state.
        let fast = Buckets::new(Some(Rate {
            per_second: 1_000_000,
            burst: 2,
        }));
        let kept = fast.get(0u32);
        for key in 1..100_000 {
            fast.get(key).take().unwrap();
            assert!(fast.len() <= 2 * SWEEP_FROM, "{}", fast.len());
        }
        assert!(Arc::ptr_eq(&kept, &fast.get(0)));
    }
}
