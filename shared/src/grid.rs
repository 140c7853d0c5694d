//! The grid check: every probe sends one tagged `message`; every probe must receive each tag
//! exactly once. Pure logic, shared by `gridcast check` and the browser's grid check.
//!
//! Times are milliseconds on one monotonic clock of the checker (native `Instant`, or the
//! browser's `performance.now()`), so latencies need no clock agreement between machines.

use serde::{Deserialize, Serialize};

/// The outcome of one sender → receiver pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Cell {
    /// Delivered exactly once.
    Ok {
        /// Send to receive, in milliseconds.
        latency_ms: f64,
    },
    /// Delivered more than once.
    Duplicate {
        /// How many times.
        count: u32,
        /// Send to first receive, in milliseconds.
        latency_ms: f64,
    },
    /// Not delivered within the timeout.
    Missing,
    /// The sender or the receiver could not be connected to.
    Unreachable,
}

impl Cell {
    /// Whether the message got through at all (once or more).
    pub fn delivered(&self) -> bool {
        matches!(self, Self::Ok { .. } | Self::Duplicate { .. })
    }
}

/// A finished grid check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridReport {
    /// The instances checked, in order.
    pub urls: Vec<String>,
    /// `cells[from][to]`.
    pub cells: Vec<Vec<Cell>>,
    /// Whether every cell is [`Cell::Ok`].
    pub passed: bool,
    /// What the pattern of failures usually means, one sentence each.
    pub diagnosis: Vec<String>,
}

/// The text a probe sends: unique per run and sender, a plain string any server broadcasts.
pub fn tag(run: &str, from: usize) -> String {
    format!("gridcast-check {run} #{from}")
}

/// Whether `text` is a grid-check tag (of any run), so a UI can keep probes out of its history.
pub fn is_tag(text: &str) -> bool {
    text.strip_prefix("gridcast-check ")
        .and_then(|rest| rest.split_once(" #"))
        .is_some_and(|(run, n)| {
            !run.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Collects sends and arrivals of one run.
#[derive(Debug, Clone)]
pub struct Collector {
    run: String,
    sent_at: Vec<Option<f64>>,
    /// `arrivals[from][to]`: receive times.
    arrivals: Vec<Vec<Vec<f64>>>,
    unreachable: Vec<bool>,
}

impl Collector {
    /// A run over `n` instances, identified by `run` (random, so concurrent checks do not mix).
    pub fn new(run: impl Into<String>, n: usize) -> Self {
        Self {
            run: run.into(),
            sent_at: vec![None; n],
            arrivals: vec![vec![Vec::new(); n]; n],
            unreachable: vec![false; n],
        }
    }

    /// The text probe `from` must send.
    pub fn tag(&self, from: usize) -> String {
        tag(&self.run, from)
    }

    /// Probe `i` could not connect.
    pub fn unreachable(&mut self, i: usize) {
        self.unreachable[i] = true;
    }

    /// Probe `from` sent its tag at `at_ms`.
    pub fn sent(&mut self, from: usize, at_ms: f64) {
        self.sent_at[from] = Some(at_ms);
    }

    /// Probe `to` received `text` at `at_ms`; texts of other runs or senders are ignored.
    pub fn received(&mut self, to: usize, text: &str, at_ms: f64) {
        let prefix = format!("gridcast-check {} #", self.run);
        if let Some(from) = text
            .strip_prefix(&prefix)
            .and_then(|n| n.parse::<usize>().ok())
            && from < self.arrivals.len()
        {
            self.arrivals[from][to].push(at_ms);
        }
    }

    /// Whether every reachable pair has had at least one arrival (duplicates may still come).
    pub fn complete(&self) -> bool {
        let n = self.arrivals.len();
        (0..n).all(|from| {
            (0..n).all(|to| {
                self.unreachable[from]
                    || self.unreachable[to]
                    || !self.arrivals[from][to].is_empty()
            })
        })
    }

    /// The report for `urls` (same order as the probes).
    pub fn report(&self, urls: &[String]) -> GridReport {
        let n = self.arrivals.len();
        let cells: Vec<Vec<Cell>> = (0..n)
            .map(|from| {
                (0..n)
                    .map(|to| {
                        if self.unreachable[from] || self.unreachable[to] {
                            return Cell::Unreachable;
                        }
                        let times = &self.arrivals[from][to];
                        let sent = self.sent_at[from].unwrap_or(0.0);
                        match times.as_slice() {
                            [] => Cell::Missing,
                            [t] => Cell::Ok {
                                latency_ms: (t - sent).max(0.0),
                            },
                            many => Cell::Duplicate {
                                count: many.len() as u32,
                                latency_ms: (many[0] - sent).max(0.0),
                            },
                        }
                    })
                    .collect()
            })
            .collect();
        let passed = n > 0 && cells.iter().flatten().all(|c| matches!(c, Cell::Ok { .. }));
        let diagnosis = diagnose(urls, &cells);
        GridReport {
            urls: urls.to_vec(),
            cells,
            passed,
            diagnosis,
        }
    }
}

/// Explains the pattern of a matrix in sentences an operator can act on.
pub fn diagnose(urls: &[String], cells: &[Vec<Cell>]) -> Vec<String> {
    let n = cells.len();
    let name = |i: usize| urls.get(i).cloned().unwrap_or_else(|| format!("#{i}"));
    let mut out = Vec::new();
    let reachable: Vec<usize> = (0..n)
        .filter(|&i| !cells[i].iter().all(|c| *c == Cell::Unreachable) || n == 0)
        .collect();
    for i in (0..n).filter(|i| !reachable.contains(i)) {
        out.push(format!(
            "{} could not be connected to: is it running, and is the URL right?",
            name(i)
        ));
    }
    if n > 0 && cells.iter().flatten().all(|c| matches!(c, Cell::Ok { .. })) {
        out.push(format!(
            "every instance reached every instance exactly once ({n}×{n} cells)"
        ));
        return out;
    }
    let ok = |a: usize, b: usize| cells[a][b].delivered();

    // Groups of instances that hear each other both ways.
    let mut group: Vec<usize> = (0..n).collect();
    fn root(g: &mut [usize], mut i: usize) -> usize {
        while g[i] != i {
            g[i] = g[g[i]];
            i = g[i];
        }
        i
    }
    for &a in &reachable {
        for &b in &reachable {
            if a < b && ok(a, b) && ok(b, a) {
                let (ra, rb) = (root(&mut group, a), root(&mut group, b));
                group[ra] = rb;
            }
        }
    }
    let roots: Vec<usize> = (0..n).map(|i| root(&mut group, i)).collect();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in &reachable {
        match groups.iter_mut().find(|g| roots[g[0]] == roots[i]) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    let isolated = groups.len() > 1
        && reachable.iter().all(|&a| {
            reachable.iter().all(|&b| {
                a == b || ok(a, b) == groups.iter().any(|g| g.contains(&a) && g.contains(&b))
            })
        });
    if isolated {
        if groups.iter().all(|g| g.len() == 1) && reachable.iter().all(|&i| ok(i, i)) {
            out.push(
                "each instance only hears itself: the instances do not share pub/sub. Usually they \
                 use different Redis servers, different channel prefixes (gridcast --redis-prefix, \
                 the redis-adapter `key`), or no Redis adapter at all"
                    .into(),
            );
        } else {
            let list: Vec<String> = groups
                .iter()
                .map(|g| {
                    format!(
                        "[{}]",
                        g.iter().map(|&i| name(i)).collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            out.push(format!(
                "the instances form {} isolated groups: {}. Delivery works inside a group, never \
                 across: usually each group uses its own Redis server or channel prefix",
                groups.len(),
                list.join(" ")
            ));
        }
    }

    for &i in &reachable {
        let others_hear_i = reachable.iter().any(|&j| j != i && ok(i, j));
        if !ok(i, i) && others_hear_i {
            out.push(format!(
                "{} does not deliver a message back to its sender: the server broadcasts with \
                 socket.broadcast.emit (everyone but the sender) instead of io.emit",
                name(i)
            ));
        }
        if reachable.iter().all(|&j| !ok(i, j)) {
            out.push(format!(
                "nothing sent through {} arrived anywhere, not even back at {0}: it does not \
                 broadcast `message` strings (no handler, or it rejected the probe)",
                name(i)
            ));
        }
    }
    if !isolated {
        for &a in &reachable {
            for &b in &reachable {
                if a != b && ok(a, a) && ok(b, b) && ok(a, b) && !ok(b, a) {
                    out.push(format!(
                        "one-way: {} reaches {} but not the reverse: {1}'s publishes do not reach \
                         {0} (a lost Redis link or subscription on one side)",
                        name(a),
                        name(b)
                    ));
                }
            }
        }
    }
    for (from, row) in cells.iter().enumerate() {
        for (to, cell) in row.iter().enumerate() {
            if let Cell::Duplicate { count, .. } = cell {
                out.push(format!(
                    "{} → {} arrived {count} times: the receiving instance's adapter is subscribed \
                     more than once, or one instance is listed twice",
                    name(from),
                    name(to)
                ));
            }
        }
    }
    let failed = cells
        .iter()
        .flatten()
        .filter(|c| !matches!(c, Cell::Ok { .. }))
        .count();
    out.push(format!("{failed} of {} cells failed", n * n));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("http://h:{}", 3000 + i)).collect()
    }

    fn run(n: usize, delivered: impl Fn(usize, usize) -> u32) -> GridReport {
        let mut c = Collector::new("r1", n);
        for from in 0..n {
            c.sent(from, 10.0);
            for to in 0..n {
                for k in 0..delivered(from, to) {
                    c.received(to, &tag("r1", from), 12.5 + f64::from(k));
                }
            }
        }
        c.received(0, "someone chatting", 11.0);
        c.received(0, &tag("other-run", 1), 11.0);
        c.report(&urls(n))
    }

    #[test]
    fn a_healthy_cluster_passes_with_latencies() {
        let r = run(3, |_, _| 1);
        assert!(r.passed);
        assert_eq!(r.cells[1][2], Cell::Ok { latency_ms: 2.5 });
        assert_eq!(
            r.diagnosis,
            vec!["every instance reached every instance exactly once (3×3 cells)"]
        );
    }

    #[test]
    fn separate_redis_servers_show_as_isolated_groups() {
        // 0 and 1 share a Redis, 2 is alone.
        let r = run(3, |a, b| u32::from(a == b || (a < 2 && b < 2)));
        assert!(!r.passed);
        assert_eq!(r.cells[0][2], Cell::Missing);
        assert!(
            r.diagnosis[0]
                .contains("2 isolated groups: [http://h:3000, http://h:3001] [http://h:3002]"),
            "{:?}",
            r.diagnosis
        );

        let r = run(2, |a, b| u32::from(a == b));
        assert!(
            r.diagnosis[0].starts_with("each instance only hears itself"),
            "{:?}",
            r.diagnosis
        );
    }

    #[test]
    fn no_echo_one_way_and_duplicates_are_named() {
        let r = run(2, |a, b| u32::from(a != b));
        assert!(
            r.diagnosis
                .iter()
                .any(|d| d.contains("socket.broadcast.emit")),
            "{:?}",
            r.diagnosis
        );

        let r = run(2, |a, b| u32::from(!(a == 1 && b == 0)));
        assert!(
            r.diagnosis
                .iter()
                .any(|d| d.starts_with("one-way: http://h:3000 reaches http://h:3001")),
            "{:?}",
            r.diagnosis
        );

        let r = run(2, |a, b| if a == 0 && b == 1 { 2 } else { 1 });
        assert_eq!(
            r.cells[0][1],
            Cell::Duplicate {
                count: 2,
                latency_ms: 2.5
            }
        );
        assert!(!r.passed);
        assert!(r.diagnosis.iter().any(|d| d.contains("arrived 2 times")));
    }

    #[test]
    fn tags_are_recognised() {
        assert!(is_tag(&tag("ab12", 3)));
        assert!(!is_tag("gridcast-check is great"));
        assert!(!is_tag("hello"));
    }

    #[test]
    fn unreachable_instances_are_named() {
        let mut c = Collector::new("r", 2);
        c.unreachable(1);
        c.sent(0, 0.0);
        c.received(0, &tag("r", 0), 1.0);
        assert!(c.complete());
        let r = c.report(&urls(2));
        assert_eq!(r.cells[0][1], Cell::Unreachable);
        assert!(r.diagnosis[0].starts_with("http://h:3001 could not be connected to"));
    }
}
