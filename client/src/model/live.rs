//! The live view's numbers: per instance, the messages that entered the cluster there each
//! second of the last minute and how long they took to reach this page, and the SVG paths that
//! draw them.
//!
//! Invariants: at most [`SECONDS`] seconds are kept per instance (memory does not grow with
//! traffic); a second without messages has no latency (a gap in the line, not a zero).

use std::collections::VecDeque;

/// Seconds of history per instance.
pub const SECONDS: usize = 60;

/// Seconds the "now" figures average over.
const RECENT: usize = 5;

/// One second of one instance.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Second {
    at: u64,
    count: u32,
    timed: u32,
    latency_sum: f64,
}

/// Every instance's last minute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traffic {
    per: Vec<(String, VecDeque<Second>)>,
}

/// One instance's last minute, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Messages per second over the last [`RECENT`] seconds, in tenths.
    pub rate_tenths: u32,
    /// Mean latency over the last [`RECENT`] seconds, when there were messages, in ms.
    pub latency_ms: Option<u32>,
    /// Messages each second, oldest first ([`SECONDS`] values).
    pub counts: Vec<u32>,
    /// Mean latency each second (ms), `None` for a second without timed messages.
    pub latencies: Vec<Option<u32>>,
}

impl Traffic {
    /// A message that entered the cluster at `url` reached this page at `now_ms`, after
    /// `latency_ms` when known.
    pub fn record(&mut self, url: &str, latency_ms: Option<f64>, now_ms: f64) {
        let at = (now_ms / 1000.0) as u64;
        let i = match self.per.iter().position(|(u, _)| u == url) {
            Some(i) => i,
            None => {
                self.per.push((url.to_owned(), VecDeque::new()));
                self.per.len() - 1
            }
        };
        let seconds = &mut self.per[i].1;
        if seconds.back().is_none_or(|s| s.at != at) {
            seconds.push_back(Second {
                at,
                ..Second::default()
            });
        }
        while seconds.front().is_some_and(|s| s.at + SECONDS as u64 <= at) {
            seconds.pop_front();
        }
        let s = seconds.back_mut().expect("just pushed");
        s.count += 1;
        if let Some(ms) = latency_ms {
            s.timed += 1;
            s.latency_sum += ms.max(0.0);
        }
    }

    /// The instances that had traffic in the last minute.
    pub fn urls(&self, now_ms: f64) -> Vec<String> {
        let now = (now_ms / 1000.0) as u64;
        self.per
            .iter()
            .filter(|(_, s)| s.back().is_some_and(|s| s.at + SECONDS as u64 > now))
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// `url`'s last minute at `now_ms` (the current, unfinished second excluded).
    pub fn series(&self, url: &str, now_ms: f64) -> Series {
        let now = (now_ms / 1000.0) as u64;
        let seconds = self.per.iter().find(|(u, _)| u == url).map(|(_, s)| s);
        let second = |at: u64| seconds.and_then(|s| s.iter().find(|s| s.at == at)).copied();
        let span: Vec<Second> = (1..=SECONDS as u64)
            .rev()
            .map(|back| second(now.saturating_sub(back)).unwrap_or_default())
            .collect();
        let recent = &span[SECONDS - RECENT..];
        let count: u32 = recent.iter().map(|s| s.count).sum();
        let timed: u32 = recent.iter().map(|s| s.timed).sum();
        let sum: f64 = recent.iter().map(|s| s.latency_sum).sum();
        Series {
            rate_tenths: count * 10 / RECENT as u32,
            latency_ms: (timed > 0).then(|| (sum / f64::from(timed)).round() as u32),
            counts: span.iter().map(|s| s.count).collect(),
            latencies: span
                .iter()
                .map(|s| (s.timed > 0).then(|| (s.latency_sum / f64::from(s.timed)).round() as u32))
                .collect(),
        }
    }
}

/// `12.5`: tenths as a number with one decimal (integer arithmetic: no float formatting in the
/// bundle).
pub fn tenths(t: u32) -> String {
    format!("{}.{}", t / 10, t % 10)
}

/// An SVG path of one bar per value, in a `width` × `height` box (bottom-aligned, the tallest
/// bar filling it).
pub fn bars(values: &[u32], width: u32, height: u32) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let n = values.len().max(1) as u32;
    let mut d = String::new();
    for (i, &v) in values.iter().enumerate() {
        if v == 0 {
            continue;
        }
        let x = i as u32 * width / n;
        let w = ((i as u32 + 1) * width / n).saturating_sub(x).max(1);
        let h = (v * height).div_ceil(max).max(1);
        d.push_str(&format!("M{x} {}h{w}v{h}h-{w}z", height - h));
    }
    d
}

/// An SVG path through the values (one point per value across `width`, `height` at the top
/// for the largest), broken where a value is missing. Returns the path and the largest value.
pub fn line(values: &[Option<u32>], width: u32, height: u32) -> (String, u32) {
    let max = values.iter().flatten().copied().max().unwrap_or(0).max(1);
    let n = values.len().saturating_sub(1).max(1) as u32;
    let mut d = String::new();
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let x = i as u32 * width / n;
                let y = height - (v * height) / max;
                d.push_str(&format!("{}{x} {y}", if pen_down { "L" } else { "M" }));
                if !pen_down && values.get(i + 1).is_none_or(Option::is_none) {
                    // A lone point: a dot-sized stroke so it shows.
                    d.push_str("h1");
                }
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    (d, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "http://localhost:3000";

    #[test]
    fn traffic_keeps_a_minute_per_instance() {
        let mut t = Traffic::default();
        // 10 messages a second for 70 s, 4 ms each.
        for s in 0..70u32 {
            for k in 0..10u32 {
                t.record(A, Some(4.0), f64::from(s) * 1000.0 + f64::from(k));
            }
        }
        t.record("http://localhost:3001", None, 69_500.0);
        let s = t.series(A, 70_000.0);
        assert_eq!(s.counts.len(), SECONDS);
        assert!(s.counts.iter().all(|&c| c == 10), "{:?}", s.counts);
        assert_eq!(s.rate_tenths, 100);
        assert_eq!(s.latency_ms, Some(4));
        assert_eq!(
            t.per[0].1.len(),
            SECONDS,
            "nothing older than a minute kept"
        );
        let quiet = t.series("http://localhost:3001", 70_000.0);
        assert_eq!((quiet.rate_tenths, quiet.latency_ms), (2, None));
        assert_eq!(quiet.latencies.iter().flatten().count(), 0);
        assert_eq!(t.urls(70_000.0).len(), 2);
        assert_eq!(t.urls(200_000.0).len(), 0);
        assert_eq!(tenths(125), "12.5");
    }

    #[test]
    fn sparklines_are_paths_in_their_box() {
        assert_eq!(bars(&[0, 2, 4], 30, 10), "M10 5h10v5h-10zM20 0h10v10h-10z");
        assert_eq!(bars(&[], 30, 10), "");
        let (d, max) = line(&[Some(10), Some(5), None, Some(0), Some(10)], 40, 10);
        assert_eq!(max, 10);
        assert_eq!(d, "M0 0L10 5M30 10L40 0");
        let (lone, _) = line(&[None, Some(3), None], 20, 10);
        assert_eq!(lone, "M10 0h1");
    }
}
