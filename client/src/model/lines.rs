//! Message lines: what one is, who it was addressed to, where the composer addresses the next
//! one, and the list the page shows, plus how a latency is shown.
//!
//! Invariants: a message is listed at most once (keyed by its id, or with no provenance by the
//! caller's fallback key); the list keeps at most [`HISTORY`] lines, dropping the oldest, except
//! while the reader is scrolled up (then up to [`HOLD_MAX`], so that nothing moves under them);
//! a line is ours only once our id is known, or, on a plain server, when it is the echo of a
//! text we sent.

use std::collections::VecDeque;

use gridcast_shared::{MessageMeta, presence::Routed};

/// Messages kept in the list; older ones are dropped so long sessions stay smooth.
pub const HISTORY: usize = 500;

/// Messages kept while the reader is scrolled up (reading back): the oldest are dropped only
/// past this, so the lines they read stay where they are.
pub const HOLD_MAX: usize = 2_000;

/// One message in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Unique key for the keyed list: the message id, so a message is never listed twice.
    pub key: String,
    /// The text, shown as text (never as HTML).
    pub text: String,
    /// Base URL of the instance the sender is connected to (empty when unknown).
    pub origin_url: String,
    /// Id of that instance.
    pub origin: String,
    /// Public id of the sender.
    pub sender: String,
    /// Whether we sent it.
    pub mine: bool,
    /// Milliseconds from the origin instance receiving it to us receiving it.
    pub latency_ms: Option<i64>,
    /// Local time it arrived, `HH:MM:SS`.
    pub time: String,
    /// Where it was sent.
    pub channel: Channel,
}

/// Who a message was addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// Everyone (`message`).
    All,
    /// Members of a room.
    Room(String),
    /// One client: the recipient's public id and the sender's display name.
    Direct {
        /// Recipient's public id.
        to: String,
        /// Sender's display name.
        from_name: String,
    },
    /// Not a message: messages were missed here and could not be recovered.
    Gap,
}

/// Where the composer sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `message` to everyone.
    All,
    /// `room_message` to a room the user is in.
    Room(String),
    /// `direct` to one client, by public id.
    Direct(String),
}

/// When a line arrived: the local clock in milliseconds since the epoch, and as `HH:MM:SS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// Milliseconds since the Unix epoch.
    pub now_ms: f64,
    /// Shown time.
    pub time: String,
}

/// A received message as a line. Without provenance (a plain server), `fallback_key` keys it.
pub fn line(
    text: String,
    meta: Option<MessageMeta>,
    channel: Channel,
    my_id: &str,
    at: Arrival,
    fallback_key: String,
) -> Line {
    match meta {
        Some(meta) => Line {
            key: meta.id,
            mine: !my_id.is_empty() && meta.sender == my_id,
            latency_ms: Some((at.now_ms - meta.received_at as f64).round() as i64),
            text,
            origin_url: meta.origin_url,
            origin: meta.origin,
            sender: meta.sender,
            time: at.time,
            channel,
        },
        None => Line {
            key: fallback_key,
            text,
            origin_url: String::new(),
            origin: "?".into(),
            sender: "?".into(),
            mine: false,
            latency_ms: None,
            time: at.time,
            channel,
        },
    }
}

/// The channel a room or direct message was sent on.
pub fn routed_channel(routed: &Routed) -> Channel {
    match (&routed.room, &routed.to) {
        (Some(room), _) => Channel::Room(room.clone()),
        (None, Some(to)) => Channel::Direct {
            to: to.clone(),
            from_name: routed.from_name.clone(),
        },
        (None, None) => Channel::All,
    }
}

/// Appends `line` unless a line with its key is listed already; keeps at most [`HISTORY`], or
/// [`HOLD_MAX`] while `holding` (the reader is scrolled up). Returns whether it was added.
pub fn push_line(lines: &mut VecDeque<Line>, line: Line, holding: bool) -> bool {
    if lines.iter().rev().any(|l| l.key == line.key) {
        return false;
    }
    lines.push_back(line);
    trim(lines, if holding { HOLD_MAX } else { HISTORY });
    true
}

/// Drops the oldest lines beyond `keep`.
pub fn trim(lines: &mut VecDeque<Line>, keep: usize) {
    while lines.len() > keep {
        lines.pop_front();
    }
}

/// Texts this page sent to a plain server (which sends no metadata and no ack), so that their
/// echo is known as ours and timed by the page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Echoes(VecDeque<(String, f64)>);

/// Sent texts waiting for their echo; older ones are forgotten.
const ECHOES: usize = 64;

impl Echoes {
    /// `text` was sent at `at_ms`.
    pub fn sent(&mut self, text: &str, at_ms: f64) {
        if self.0.len() >= ECHOES {
            self.0.pop_front();
        }
        self.0.push_back((text.to_owned(), at_ms));
    }

    /// `text` arrived at `now_ms`: the round trip when it is the echo of a text we sent (the
    /// oldest such).
    pub fn arrived(&mut self, text: &str, now_ms: f64) -> Option<f64> {
        let i = self.0.iter().position(|(t, _)| t == text)?;
        let (_, at) = self.0.remove(i)?;
        Some(now_ms - at)
    }
}

/// `12.3 ms`: milliseconds with one decimal, by integer arithmetic (the bundle then carries no
/// float formatting); negative values show as 0.
pub fn tenths_ms(ms: f64) -> String {
    let tenths = (ms.max(0.0) * 10.0).round() as u64;
    format!("{}.{} ms", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, sender: &str) -> MessageMeta {
        MessageMeta {
            id: id.into(),
            origin: "a1".into(),
            origin_url: "http://localhost:3000".into(),
            sender: sender.into(),
            received_at: 1_000,
            offset: None,
        }
    }

    fn at(now_ms: f64) -> Arrival {
        Arrival {
            now_ms,
            time: "12:00:00".into(),
        }
    }

    #[test]
    fn lines_know_who_sent_them_and_how_long_it_took() {
        let mine = line(
            "hi".into(),
            Some(meta("a1-1", "me")),
            Channel::All,
            "me",
            at(1_012.4),
            "x".into(),
        );
        assert!(mine.mine);
        assert_eq!(mine.latency_ms, Some(12));
        assert_eq!(mine.key, "a1-1");
        // Before `welcome` our id is unknown: nothing is ours.
        let early = line(
            "hi".into(),
            Some(meta("a1-2", "")),
            Channel::All,
            "",
            at(0.0),
            "x".into(),
        );
        assert!(!early.mine);
        // A plain server sends no provenance.
        let plain = line(
            "hi".into(),
            None,
            Channel::All,
            "me",
            at(0.0),
            "plain-1".into(),
        );
        assert_eq!((plain.key.as_str(), plain.latency_ms), ("plain-1", None));
    }

    #[test]
    fn a_message_is_listed_once_and_the_list_is_capped() {
        let mut lines = VecDeque::new();
        let l = |id: &str| {
            line(
                "t".into(),
                Some(meta(id, "s")),
                Channel::All,
                "",
                at(0.0),
                String::new(),
            )
        };
        assert!(push_line(&mut lines, l("a1-1"), false));
        assert!(
            !push_line(&mut lines, l("a1-1"), false),
            "a duplicate is not listed"
        );
        for i in 2..=HISTORY + 10 {
            push_line(&mut lines, l(&format!("a1-{i}")), false);
        }
        assert_eq!(lines.len(), HISTORY);
        assert_eq!(lines.back().unwrap().key, format!("a1-{}", HISTORY + 10));
        // Reading back: nothing is dropped until the hold's limit; then back to the cap.
        for i in 0..100 {
            push_line(&mut lines, l(&format!("b-{i}")), true);
        }
        assert_eq!(lines.len(), HISTORY + 100);
        trim(&mut lines, HISTORY);
        assert_eq!(lines.len(), HISTORY);
        assert_eq!(lines.back().unwrap().key, "b-99");
    }

    #[test]
    fn a_plain_servers_echo_is_ours_and_timed() {
        let mut echoes = Echoes::default();
        echoes.sent("hi", 100.0);
        echoes.sent("hi", 150.0);
        assert_eq!(echoes.arrived("other", 160.0), None);
        assert_eq!(echoes.arrived("hi", 160.0), Some(60.0));
        assert_eq!(echoes.arrived("hi", 170.0), Some(20.0));
        assert_eq!(echoes.arrived("hi", 180.0), None);
        for i in 0..ECHOES + 1 {
            echoes.sent(&i.to_string(), 0.0);
        }
        assert_eq!(echoes.arrived("0", 1.0), None, "the oldest is forgotten");
    }

    #[test]
    fn latency_shows_one_decimal() {
        assert_eq!(tenths_ms(12.34), "12.3 ms");
        assert_eq!(tenths_ms(0.96), "1.0 ms");
        assert_eq!(tenths_ms(-3.0), "0.0 ms");
        assert_eq!(tenths_ms(1500.05), "1500.1 ms");
    }
}
