//! Notices: what the page tells the user, informational or about a problem.
//!
//! Invariant: a server frame the page cannot read is never ignored; it becomes an error notice
//! ([`Notice::unreadable`]).

/// Something to tell the user, e.g. why the server refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Whether it reports a problem.
    pub error: bool,
}

impl Notice {
    /// A notice reporting a problem.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: true,
        }
    }

    /// A notice that all went well.
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: false,
        }
    }

    /// What the page says about a server frame it could not read (never silently ignored).
    pub fn unreadable(what: &str, error: impl std::fmt::Display) -> Self {
        Self::error(format!(
            "the server sent {what} this page cannot read ({error})"
        ))
    }
}
