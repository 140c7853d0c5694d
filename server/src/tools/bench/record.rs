//! What each client of a run saw: its deliveries, recorded by a [`Tap`] in the connection's
//! reader task as frames are read, and its lost connections, followed from its [`Follower`].
//!
//! Invariants: only texts of this run (its prefix, see [`message_text`]) are recorded;
//! deliveries between a connection's handshake and its `welcome` (a replay, and what was sent
//! while the client attached, on a server that sends a `welcome`) give no latency sample; per
//! delivery the recorder parses the text and pushes 12 bytes, nothing more (it runs for every
//! frame of every client, and must cost less than the servers it measures).

use std::{
    borrow::Cow,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use gridcast_shared::event;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::report::{ConnectionLost, ms};
use crate::tools::{
    follow::{Follower, Update, offset_of},
    probe::Tap,
};

/// One delivery: which message, and when it arrived (µs since the start). Packed into 12 bytes: a
/// soak keeps one per delivery per client (346M in ten minutes at half saturation); the send
/// times are kept once per message, not per delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed(4))]
pub(super) struct Delivery {
    /// The message's sequence number in the run.
    pub(super) seq: u32,
    /// Microseconds after the start.
    pub(super) at_us: u64,
}

const _: () = assert!(std::mem::size_of::<Delivery>() == 12);

/// What one client saw.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// In arrival order.
    pub(super) deliveries: Vec<Delivery>,
    /// Of live deliveries only (not replays), in microseconds, saturated at `u32::MAX`.
    pub(super) latencies: Vec<u32>,
    /// Deliveries replayed after reconnects, as the `welcome`s counted them.
    pub(super) recovered: u64,
    /// Own sends the server refused with `rate_limited`.
    pub(super) refused: u64,
    /// Whether a `welcome` arrived at least once.
    pub(super) welcomed: bool,
    /// Its connections that ended, in order.
    pub(super) lost: Vec<ConnectionLost>,
}

/// A run's message text: the run's `prefix`, the sequence number, the send time in µs since the
/// start. [`Recorder`] reads it back; the send time in the text needs no clock agreement.
pub(super) fn message_text(prefix: &str, seq: u64, sent_us: u64) -> String {
    format!("{prefix}{seq} {sent_us}")
}

/// The sequence number and send time of one of this run's texts (see [`message_text`]).
fn parse(text: &str, prefix: &str) -> Option<(u64, u64)> {
    let (seq, sent) = text.strip_prefix(prefix)?.split_once(' ')?;
    Some((seq.parse().ok()?, sent.parse().ok()?))
}

/// One client's [`Tap`]: records each `message` of the run as its frame is read, in the
/// connection's reader task, reading only the text and the offset out of the JSON (no tree, no
/// channel hop per delivery: a generator that costs less than the servers it measures).
pub(super) struct Recorder {
    /// Texts of this run start with it.
    prefix: Arc<str>,
    /// The run's clock (set when the load starts).
    start: Instant,
    /// Deliveries of the run so far, all clients together (for progress).
    received: Arc<AtomicU64>,
    seen: Seen,
    /// Whether this connection's `welcome` came: deliveries before it are catch-up, not live.
    attached: bool,
    /// The offset of the last broadcast, to resume from after a reconnect.
    offset: Option<String>,
}

/// A broadcast `message` frame's arguments, borrowed from the frame: `[event, text, meta?,
/// offset?]` (the event name is checked on the raw JSON before; gridcast ends history-backed
/// events with the offset as a string, for the stock client).
#[derive(Deserialize)]
struct MessageArgs<'a>(
    serde::de::IgnoredAny,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow, default)] Option<MetaOffset<'a>>,
    // The offset as a string: accepted, not needed (the metadata has it).
    #[serde(default)]
    #[expect(dead_code, reason = "only accepted, so that the frame parses")]
    Option<serde::de::IgnoredAny>,
);

/// The one field of [`MessageMeta`](gridcast_shared::MessageMeta) the generator needs.
#[derive(Deserialize)]
struct MetaOffset<'a> {
    #[serde(borrow, default)]
    offset: Option<Cow<'a, str>>,
}

impl Recorder {
    /// A recorder for texts starting with `prefix`, counting into `received`, with room for
    /// `capacity` deliveries.
    pub(super) fn new(prefix: Arc<str>, received: Arc<AtomicU64>, capacity: usize) -> Self {
        Self {
            prefix,
            start: Instant::now(),
            received,
            // Room for every delivery up front: grown by doubling, the 200 clients of a soak
            // reallocated their records at the same moments (65,536, 131,072, 262,144 messages
            // in), stalling the generator long enough to leave steps in the servers' RSS.
            seen: Seen {
                deliveries: Vec::with_capacity(capacity),
                latencies: Vec::with_capacity(capacity),
                ..Seen::default()
            },
            attached: true,
            offset: None,
        }
    }

    /// Starts the run's clock: arrival times and latencies count from `start`.
    pub(super) fn start_at(&mut self, start: Instant) {
        self.start = start;
    }

    /// A broadcast `message`, its arguments still in JSON; false if it is not one.
    fn message(&mut self, json: &str, at: Instant) -> bool {
        if !json.starts_with("[\"message\",") {
            return false;
        }
        let Ok(MessageArgs(_, text, meta, _)) = serde_json::from_str::<MessageArgs>(json) else {
            return false;
        };
        if let Some(offset) = meta.and_then(|m| m.offset) {
            // Into the same buffer every time: this runs for every delivery.
            let kept = self.offset.get_or_insert_with(String::new);
            kept.clear();
            kept.push_str(&offset);
        }
        let Some((seq, sent_us)) = parse(&text, &self.prefix) else {
            return true;
        };
        let Ok(seq) = u32::try_from(seq) else {
            return true;
        };
        self.received.fetch_add(1, Ordering::Relaxed);
        let at_us = at.saturating_duration_since(self.start).as_micros() as u64;
        self.seen.deliveries.push(Delivery { seq, at_us });
        if self.attached {
            let latency = at_us.saturating_sub(sent_us);
            self.seen
                .latencies
                .push(latency.min(u64::from(u32::MAX)) as u32);
        }
        true
    }

    /// Any other event: decoded in full (they are few), and left to the follower.
    fn other(&mut self, json: &str) {
        let Ok(all) = serde_json::from_str::<Vec<Value>>(json) else {
            return;
        };
        let Some((Value::String(event), args)) = all.split_first() else {
            return;
        };
        if let Some(offset) = offset_of(event, args) {
            self.offset = Some(offset);
        }
        match event.as_str() {
            event::WELCOME => {
                let replayed = args
                    .first()
                    .and_then(|w| w["recovery"]["replayed"].as_u64())
                    .unwrap_or(0);
                self.attached = true;
                self.seen.recovered += replayed;
                self.seen.welcomed = true;
            }
            // Our own sends that the server refused (a gridcast server says why).
            event::ERROR if args.first().is_some_and(|e| e["code"] == "rate_limited") => {
                self.seen.refused += 1;
            }
            _ => {}
        }
    }
}

/// The recorder, even if a panic poisoned its lock.
pub(super) fn lock(recorder: &Mutex<Recorder>) -> MutexGuard<'_, Recorder> {
    recorder.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tap for Recorder {
    fn connected(&mut self) {
        // A server that never sent a `welcome` (plain Socket.IO) sends none now either.
        self.attached = !self.seen.welcomed;
    }

    fn event(&mut self, json: &str, at: Instant) -> bool {
        if self.message(json, at) {
            return true;
        }
        self.other(json);
        false
    }

    fn offset(&self) -> Option<String> {
        self.offset.clone()
    }
}

/// Follows one client's connection until `stop_at` (moves, losses; its recorder takes the
/// deliveries meanwhile), then takes what it saw out of the recorder. A follower still looking
/// for an instance at `stop_at` is given up on.
pub(super) async fn follow(
    mut follower: Follower,
    recorder: Arc<Mutex<Recorder>>,
    start: Instant,
    stop_at: Instant,
) -> Seen {
    let mut lost = Vec::new();
    let mut lost_at: Option<(Instant, String, String)> = None;
    // One timer for the whole run, not one per message.
    let stop = tokio::time::sleep_until(stop_at);
    tokio::pin!(stop);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut stop => break,
            next = follower.recv() => next,
        };
        match next {
            Ok(Update::Event { .. }) => {}
            Ok(Update::Lost { url, reason, at }) => lost_at = Some((at, url, reason)),
            Ok(Update::Moved { to, at, .. }) => {
                if let Some((at_lost, url, reason)) = lost_at.take() {
                    lost.push(ConnectionLost {
                        at_ms: ms(at_lost.duration_since(start)),
                        url,
                        reason,
                        moved_to: Some(to),
                        moved_after_ms: Some(ms(at.duration_since(at_lost))),
                    });
                }
            }
            Err(_) => {
                // No live instance answered: this client is gone; the rest is lost.
                if let Some((at_lost, url, reason)) = lost_at.take() {
                    lost.push(ConnectionLost {
                        at_ms: ms(at_lost.duration_since(start)),
                        url,
                        reason,
                        moved_to: None,
                        moved_after_ms: None,
                    });
                }
                break;
            }
        }
    }
    // Frames read from now on are recorded into a record nobody reads.
    let mut seen = std::mem::take(&mut lock(&recorder).seen);
    seen.lost = lost;
    seen
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn recorder() -> Recorder {
        let mut recorder = Recorder::new("gcb r1 ".into(), Arc::default(), 4);
        recorder.start = Instant::now();
        recorder
    }

    #[test]
    fn the_recorder_takes_this_runs_messages_with_or_without_metadata() {
        let mut r = recorder();
        let at = r.start + Duration::from_millis(5);
        // From a gridcast server: text, then metadata with the offset.
        let gridcast = r#"["message","gcb r1 7 1000",{"id":"a-1","origin":"a","origin_url":"http://x","sender":"p","received_at":1,"offset":"1700000000000-3"}]"#;
        assert!(r.event(gridcast, at));
        assert_eq!(r.offset().as_deref(), Some("1700000000000-3"));
        // From a server that sends the text alone (Node.js reference, bare peer).
        assert!(r.event(r#"["message","gcb r1 8 2000"]"#, at));
        // An escaped text is read as what it says.
        assert!(r.event(r#"["message","gcb\u0020r1 9 3000"]"#, at));
        // Someone else's message is taken (nobody else wants it) but not recorded; its offset is.
        assert!(r.event(
            r#"["message","hello",{"id":"b-1","origin":"b","origin_url":"http://y","sender":"q","received_at":2,"offset":"1700000000000-4"}]"#,
            at
        ));
        assert_eq!(r.offset().as_deref(), Some("1700000000000-4"));
        let delivered: Vec<(u32, u64)> =
            r.seen.deliveries.iter().map(|d| (d.seq, d.at_us)).collect();
        assert_eq!(delivered, vec![(7, 5000), (8, 5000), (9, 5000)]);
        assert_eq!(r.seen.latencies, vec![4000, 3000, 2000]);
        assert_eq!(r.received.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_recorder_leaves_other_events_to_the_follower_and_reads_what_it_needs() {
        let mut r = recorder();
        let at = r.start + Duration::from_millis(9);
        // A first welcome, then a reconnect: what comes before its welcome is the replay, no
        // latency sample; what comes after is live.
        assert!(!r.event(r#"["welcome",{"id":"p","session":"s"}]"#, at));
        assert!(r.seen.welcomed);
        r.connected();
        for seq in 1..=2 {
            assert!(r.event(&format!(r#"["message","gcb r1 {seq} 1000"]"#), at));
        }
        assert!(!r.event(
            r#"["welcome",{"id":"p","session":"s","recovery":{"replayed":2}}]"#,
            at
        ));
        assert_eq!(r.seen.recovered, 2);
        assert!(r.event(r#"["message","gcb r1 3 1000"]"#, at));
        assert_eq!(r.seen.deliveries.len(), 3);
        assert_eq!(r.seen.latencies, vec![8000]);
        // A refusal of our own send is counted.
        assert!(!r.event(
            r#"["error",{"event":"message","code":"rate_limited","message":"slow down"}]"#,
            at
        ));
        assert_eq!(r.seen.refused, 1);
        // Offsets of other broadcasts are kept too, for the resume.
        assert!(!r.event(
            r#"["room_message",{"room":"r","from_name":"P","text":"t","meta":{"id":"a-2","origin":"a","origin_url":"http://x","sender":"p","received_at":3,"offset":"1700000000001-0"}}]"#,
            at
        ));
        assert_eq!(r.offset().as_deref(), Some("1700000000001-0"));
        // Not JSON, or not a message after all: left alone, nothing recorded.
        assert!(!r.event(r#"["message",5]"#, at));
        assert!(!r.event("[oops", at));
        assert_eq!(r.seen.deliveries.len(), 3);
    }
}
