//! The connection's one state ([`Link`]) and everything the page shows of it: the header's
//! headline, the picker's mark on each instance, whether the composer may send, and human words
//! for why a connection ended.
//!
//! Invariants: every element reads the same [`Link`], so they cannot disagree; "connected" is
//! said only of the instance the page is attached to, and only while it is; an instance the
//! page just gave up on is never "connected"; the session token never appears in any text.

use super::instances::Health;

/// Where the page's connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Opening a connection to [`Link::url`] (the first one, or one the user picked).
    Connecting,
    /// The connection is open; the server is replaying what the page missed (or, for a server
    /// without gridcast's extensions, has not said who it is yet).
    Joining,
    /// Attached: live messages arrive, sending works.
    Connected,
    /// The connection was lost; trying [`Link::url`] again.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
        /// Why the last connection ended, in words.
        reason: String,
    },
    /// Going to [`Link::url`] because `from` stopped answering.
    Moving {
        /// The instance the page left.
        from: String,
    },
    /// Not connected, and not trying by itself.
    Offline {
        /// Why, in words.
        reason: String,
    },
}

/// The page's connection: the one state the header, the picker, the composer and the panels
/// read.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Where it stands.
    pub phase: Phase,
    /// When that phase began (ms since the epoch, the page's clock).
    pub since_ms: f64,
    /// The instance the page talks to, or is trying to reach.
    pub url: String,
    /// This page's public id, once the server said it (empty before, and on plain servers).
    pub id: String,
    /// Since when (ms since the epoch, the page's clock) the instance's link to Redis is down,
    /// when it is.
    pub redis_down: Option<f64>,
    /// The server does not speak gridcast's extensions: plain `message` strings only.
    pub plain: bool,
}

impl Link {
    /// A link about to connect to `url`.
    pub fn new(url: impl Into<String>, now_ms: f64) -> Self {
        Self {
            phase: Phase::Connecting,
            since_ms: now_ms,
            url: url.into(),
            id: String::new(),
            redis_down: None,
            plain: false,
        }
    }

    /// Enters `phase` at `now_ms` (a phase entered again keeps its start).
    pub fn enter(&mut self, phase: Phase, now_ms: f64) {
        let same = std::mem::discriminant(&self.phase) == std::mem::discriminant(&phase);
        if !same {
            self.since_ms = now_ms;
        }
        if !matches!(phase, Phase::Connected | Phase::Joining) {
            self.redis_down = None;
        }
        self.phase = phase;
    }

    /// Whether messages can be sent now (also while Redis is unreachable: they are queued).
    pub fn can_send(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// Whether the page is attached to an instance that knows the cluster (presence, rooms,
    /// direct messages).
    pub fn attached(&self) -> bool {
        self.phase == Phase::Connected && !self.plain
    }
}

/// How the header colours a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// All is well.
    Ok,
    /// Working, but not as usual (Redis unreachable).
    Warn,
    /// On its way (connecting, reconnecting, moving).
    Busy,
    /// Not working, and not trying.
    Down,
}

impl Tone {
    /// The CSS class of this tone.
    pub fn class(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Warn => "warn",
            Tone::Busy => "busy",
            Tone::Down => "down",
        }
    }
}

/// What the header says: a short title and a sentence of detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headline {
    /// Colour.
    pub tone: Tone,
    /// A few words.
    pub title: String,
    /// What it means for the user.
    pub detail: String,
}

/// The header's words for `link` at `now_ms`; `name` is how the page shows this client.
pub fn headline(link: &Link, name: &str, now_ms: f64) -> Headline {
    let at = label(&link.url);
    let took = duration(now_ms - link.since_ms);
    let (tone, title, detail) = match &link.phase {
        Phase::Connecting => (Tone::Busy, format!("Connecting to {at}…"), String::new()),
        Phase::Joining if link.plain => (Tone::Busy, format!("Joining {at}…"), String::new()),
        Phase::Joining => (
            Tone::Busy,
            format!("Catching up on {at}…"),
            "receiving what this page missed".to_owned(),
        ),
        Phase::Connected if link.plain => (
            Tone::Ok,
            format!("Connected to {at}"),
            "a plain Socket.IO server: messages and latency only (no presence, rooms or replay)"
                .to_owned(),
        ),
        Phase::Connected => match link.redis_down {
            Some(since) => (
                Tone::Warn,
                format!("Redis unreachable for {}", duration(now_ms - since)),
                format!(
                    "{at} still delivers to its own clients; the other instances get your \
                     messages when Redis is back"
                ),
            ),
            None => (
                Tone::Ok,
                format!("Connected to {at}"),
                if name.is_empty() {
                    String::new()
                } else {
                    format!("you are {name}")
                },
            ),
        },
        Phase::Reconnecting { attempt, reason } => (
            Tone::Busy,
            format!("Reconnecting to {at} (attempt {attempt}, {took})"),
            reason.clone(),
        ),
        Phase::Moving { from } => (
            Tone::Busy,
            format!("Moving to {at}"),
            format!("{} stopped answering", label(from)),
        ),
        Phase::Offline { reason } => (Tone::Down, "Offline".to_owned(), reason.clone()),
    };
    Headline {
        tone,
        title,
        detail,
    }
}

/// What the picker says beside an instance: its tone and a word or two (empty for an instance
/// that is fine and not ours).
pub fn mark(link: &Link, url: &str, health: Health) -> (Tone, &'static str) {
    use gridcast_shared::instance::same_instance;
    if same_instance(url, &link.url) {
        return match &link.phase {
            Phase::Connected if link.redis_down.is_some() => (Tone::Warn, "Redis unreachable"),
            Phase::Connected => (Tone::Ok, "connected"),
            Phase::Connecting | Phase::Joining | Phase::Moving { .. } => (Tone::Busy, "connecting"),
            Phase::Reconnecting { .. } => (Tone::Busy, "reconnecting"),
            Phase::Offline { .. } => (Tone::Down, "offline"),
        };
    }
    if let Phase::Moving { from } = &link.phase
        && same_instance(url, from)
    {
        return (Tone::Down, "not answering");
    }
    match health {
        Health::Down => (Tone::Down, "down"),
        Health::RedisDown => (Tone::Warn, "Redis unreachable"),
        Health::Up | Health::Unknown => (Tone::Ok, ""),
    }
}

/// Words for a WebSocket that closed with `code` (and the server's `reason`, often empty).
pub fn closed(code: u16, reason: &str) -> String {
    let what = match code {
        1000 | 1001 => "the server closed the connection",
        1006 => "the connection dropped (the server stopped answering)",
        1008 | 1003 => "the server refused the connection",
        1011 => "the server failed",
        1012 | 1013 => "the server is restarting",
        _ => "the connection closed",
    };
    if reason.trim().is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {}", reason.trim())
    }
}

/// `3 s`, `2 min 5 s`, `1 h 4 min`: a duration in milliseconds, in words.
pub fn duration(ms: f64) -> String {
    let s = (ms.max(0.0) / 1000.0) as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// `host:port` of an instance URL, as the page names instances.
pub fn label(url: &str) -> &str {
    let url = url.trim_end_matches('/');
    url.split_once("://").map_or(url, |(_, rest)| rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "http://localhost:3000";
    const B: &str = "http://localhost:3001";

    fn link(phase: Phase) -> Link {
        let mut l = Link::new(A, 0.0);
        l.enter(phase, 0.0);
        l
    }

    #[test]
    fn the_header_says_what_the_state_means_with_times() {
        let ok = headline(&link(Phase::Connected), "Ada", 5_000.0);
        assert_eq!(
            (ok.tone, ok.title.as_str()),
            (Tone::Ok, "Connected to localhost:3000")
        );
        assert_eq!(ok.detail, "you are Ada");
        let mut redis = link(Phase::Connected);
        redis.redis_down = Some(1_000.0);
        let h = headline(&redis, "Ada", 13_500.0);
        assert_eq!(
            (h.tone, h.title.as_str()),
            (Tone::Warn, "Redis unreachable for 12 s")
        );
        assert!(h.detail.contains("when Redis is back"), "{h:?}");
        let again = link(Phase::Reconnecting {
            attempt: 2,
            reason: closed(1006, ""),
        });
        let h = headline(&again, "", 3_000.0);
        assert_eq!(h.title, "Reconnecting to localhost:3000 (attempt 2, 3 s)");
        assert!(!h.detail.contains("1006"), "no raw close codes: {h:?}");
        let mut moving = Link::new(B, 0.0);
        moving.enter(Phase::Moving { from: A.into() }, 0.0);
        let h = headline(&moving, "", 0.0);
        assert_eq!(h.title, "Moving to localhost:3001");
        assert_eq!(h.detail, "localhost:3000 stopped answering");
        let mut plain = link(Phase::Connected);
        plain.plain = true;
        assert!(headline(&plain, "", 0.0).detail.contains("plain Socket.IO"));
    }

    #[test]
    fn leaving_the_connected_state_forgets_redis_and_keeps_a_phase_start() {
        let mut l = link(Phase::Connected);
        l.redis_down = Some(5.0);
        l.enter(Phase::Connected, 100.0);
        assert_eq!((l.since_ms, l.redis_down), (0.0, Some(5.0)));
        let reason = "x".to_owned();
        l.enter(
            Phase::Reconnecting {
                attempt: 1,
                reason: reason.clone(),
            },
            200.0,
        );
        assert_eq!((l.since_ms, l.redis_down), (200.0, None));
        l.enter(Phase::Reconnecting { attempt: 2, reason }, 900.0);
        assert_eq!(l.since_ms, 200.0, "attempts count from the loss");
        assert!(!l.can_send());
    }

    #[test]
    fn the_picker_marks_only_the_instance_the_page_is_attached_to_as_connected() {
        let ok = link(Phase::Connected);
        assert_eq!(mark(&ok, A, Health::Up), (Tone::Ok, "connected"));
        assert_eq!(
            mark(&ok, "http://127.0.0.1:3000/", Health::Unknown).1,
            "connected"
        );
        assert_eq!(mark(&ok, B, Health::Up), (Tone::Ok, ""));
        assert_eq!(mark(&ok, B, Health::Down), (Tone::Down, "down"));
        assert_eq!(mark(&ok, B, Health::RedisDown).1, "Redis unreachable");
        let mut moving = Link::new(B, 0.0);
        moving.enter(Phase::Moving { from: A.into() }, 0.0);
        assert_eq!(mark(&moving, A, Health::Up), (Tone::Down, "not answering"));
        assert_eq!(mark(&moving, B, Health::Up).1, "connecting");
    }

    #[test]
    fn durations_and_closes_read_as_words() {
        assert_eq!(duration(999.0), "0 s");
        assert_eq!(duration(125_000.0), "2 min 5 s");
        assert_eq!(duration(3_840_000.0), "1 h 4 min");
        assert_eq!(
            closed(1000, " bye "),
            "the server closed the connection: bye"
        );
        assert!(closed(1006, "").contains("dropped"));
        assert_eq!(label("https://a.example:8443/"), "a.example:8443");
    }
}
