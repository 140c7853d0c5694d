//! Notices: what the page tells the user about an action (a send, a rename, a move), and how long
//! that stays true.
//!
//! Invariants: a server frame the page cannot read is never ignored; it becomes an error notice
//! ([`Notice::unreadable`]). A notice about a state (Redis unreachable, not connected) ends with
//! that state, and a notice about an event fades after a while: none outlives what it describes.

/// How long a notice about an event (an ack, a move) stays, in milliseconds.
pub const NOTICE_MS: f64 = 12_000.0;

/// Until when a notice is true.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Until {
    /// Until this time (ms since the epoch, the page's clock).
    Time(f64),
    /// Until the instance's Redis link is back.
    RedisBack,
    /// Until the page is connected again.
    Connected,
}

/// Something to tell the user, e.g. why the server refused a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Whether it reports a problem.
    pub error: bool,
    /// Until when it holds.
    pub until: Until,
}

impl Notice {
    /// A notice reporting a problem, shown for [`NOTICE_MS`] after `now_ms`.
    pub fn error(text: impl Into<String>, now_ms: f64) -> Self {
        Self {
            text: text.into(),
            error: true,
            until: Until::Time(now_ms + NOTICE_MS),
        }
    }

    /// A notice that all went well, shown for [`NOTICE_MS`] after `now_ms`.
    pub fn info(text: impl Into<String>, now_ms: f64) -> Self {
        Self {
            text: text.into(),
            error: false,
            until: Until::Time(now_ms + NOTICE_MS),
        }
    }

    /// The same notice, true until `until` instead.
    pub fn until(self, until: Until) -> Self {
        Self { until, ..self }
    }

    /// What the page says about a server frame it could not read (never silently ignored).
    pub fn unreadable(what: &str, error: impl std::fmt::Display, now_ms: f64) -> Self {
        Self::error(
            format!("the server sent {what} this page cannot read ({error})"),
            now_ms,
        )
    }

    /// Whether it still holds at `now_ms` (the state-bound ones are cleared when their state
    /// ends, see [`Notice::ends_with`]).
    pub fn shown_at(&self, now_ms: f64) -> bool {
        match self.until {
            Until::Time(end) => now_ms < end,
            Until::RedisBack | Until::Connected => true,
        }
    }

    /// Whether it ends when `ended` does.
    pub fn ends_with(&self, ended: Until) -> bool {
        self.until == ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_fade_or_end_with_their_state() {
        let info = Notice::info("delivered", 1_000.0);
        assert!(info.shown_at(1_000.0 + NOTICE_MS - 1.0));
        assert!(!info.shown_at(1_000.0 + NOTICE_MS));
        let queued = Notice::info("queued", 0.0).until(Until::RedisBack);
        assert!(queued.shown_at(1e12), "a state's notice does not fade");
        assert!(queued.ends_with(Until::RedisBack));
        assert!(!queued.ends_with(Until::Connected));
        let bad = Notice::unreadable("a welcome", "expected a map", 0.0);
        assert!(bad.error && bad.text.contains("cannot read"));
    }
}
