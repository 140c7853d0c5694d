//! Validation of untrusted event arguments.

use serde::{Deserialize, Serialize};

use crate::limits::MAX_MESSAGE_BYTES;

/// Payload of the [`error`](crate::event::ERROR) event, and of a rejecting
/// [`Reply`](crate::reply::Reply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// The event that was rejected, e.g. `message`.
    pub event: String,
    /// Machine-readable reason.
    pub code: RejectionCode,
    /// Human-readable reason, fit to show to the sender as is.
    pub message: String,
}

/// Machine-readable reason an input was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    /// The argument was missing or not a JSON string.
    NotAString,
    /// The string was empty or only white space.
    Empty,
    /// The string was over [`MAX_MESSAGE_BYTES`].
    TooLarge,
    /// The sender exceeded its rate limit.
    RateLimited,
    /// A display name broke the naming rules.
    BadName,
    /// A room name broke the naming rules.
    BadRoom,
    /// The sender is not in the room it sent to, or is in too many rooms to join another.
    NotMember,
    /// No client with that socket id is connected anywhere in the cluster.
    NoSuchClient,
    /// The argument did not have the documented shape.
    BadRequest,
    /// Redis is unreachable, so the cluster-wide part of the request cannot be done now.
    Unavailable,
    /// The event name is not one of [`CLIENT_EVENTS`](crate::event::CLIENT_EVENTS).
    UnknownEvent,
    /// The client's token does not allow it (a room it may not join, a broadcast to everyone, a
    /// name other than its `sub`).
    Forbidden,
    /// The client's token expired (or a `refresh` brought a token that cannot be used): the
    /// server disconnects it.
    TokenExpired,
}

/// A rejected input, with a reason fit to show to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    /// Machine-readable reason.
    pub code: RejectionCode,
    /// Human-readable reason.
    pub message: String,
}

impl Rejection {
    /// A rejection with its code and message.
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The [`ErrorEvent`] telling the sender of `event` about this rejection.
    pub fn into_event(self, event: &str) -> ErrorEvent {
        ErrorEvent {
            event: event.to_owned(),
            code: self.code,
            message: self.message,
        }
    }
}

/// An event argument the server could not read as JSON, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// The event had no argument.
    Missing,
    /// The argument was a binary attachment (gridcast only takes text).
    Binary,
    /// The argument was not valid JSON, e.g. a string with a lone UTF-16 surrogate; the parser's
    /// words.
    Invalid(String),
    /// The argument was valid JSON of another shape than the event takes; the parser's words.
    Unexpected(String),
}

impl Unreadable {
    /// What the sender is told it sent.
    pub fn describe(&self) -> String {
        match self {
            Self::Missing => "nothing".to_owned(),
            Self::Binary => "binary data (binary attachments are not accepted)".to_owned(),
            Self::Invalid(why) => format!("text that is not valid JSON or Unicode ({why})"),
            Self::Unexpected(why) => format!("another shape ({why})"),
        }
    }
}

/// Checks a message text: a string of at most [`MAX_MESSAGE_BYTES`] bytes with at least one
/// visible character.
///
/// The text is kept exactly as sent (no trimming), so plain clients get back what they sent.
pub fn message_text<'a>(
    arg: Result<&'a serde_json::Value, &Unreadable>,
) -> Result<&'a str, Rejection> {
    let text = match arg {
        Ok(serde_json::Value::String(text)) => text.as_str(),
        Ok(other) => {
            return Err(Rejection::new(
                RejectionCode::NotAString,
                format!("message must be a string, got {}", json_kind(other)),
            ));
        }
        Err(unreadable) => {
            return Err(Rejection::new(
                RejectionCode::NotAString,
                format!("message must be a string, got {}", unreadable.describe()),
            ));
        }
    };
    check_text(text)?;
    Ok(text)
}

/// Checks a text the client is about to send, with the same rules the server applies.
pub fn check_text(text: &str) -> Result<(), Rejection> {
    if text.trim().is_empty() {
        return Err(Rejection::new(RejectionCode::Empty, "message is empty"));
    }
    if text.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(Rejection::new(
            RejectionCode::Empty,
            "message has no visible characters",
        ));
    }
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(Rejection::new(
            RejectionCode::TooLarge,
            format!(
                "message is {} bytes, the limit is {MAX_MESSAGE_BYTES}",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// Characters that render as nothing: zero-width spaces and joiners, format and bidi controls,
/// other control characters, tag characters and the Hangul fillers. A text made only of these
/// (and white space) is refused as empty.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}')
}

/// Characters that change how the text around them is shown: bidirectional embeddings,
/// overrides and isolates (which can make `evil\u{202E}gnp.exe` read as `evilexe.png`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A message text made safe to show: control characters other than line feed and tab become
/// their visible Unicode control pictures (ESC shows as `␛`), bidirectional controls become
/// `\u{FFFD}`. Messages travel verbatim (the plain contract); displays call this.
pub fn display_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c);
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            '\u{0}'..='\u{1F}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'),
            '\u{7F}' => '\u{2421}',
            c if c.is_control() || is_bidi_control(c) => '\u{FFFD}',
            c => c,
        })
        .collect::<String>()
        .into()
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_text_as_is() {
        let v = json!("  hi  ");
        assert_eq!(message_text(Ok(&v)).unwrap(), "  hi  ");
        let max = json!("é".repeat(MAX_MESSAGE_BYTES / 2));
        assert!(message_text(Ok(&max)).is_ok());
        // Visible text around control characters travels verbatim; displays neutralise it.
        let esc = json!("\u{1b}[31mred\u{202e}");
        assert_eq!(message_text(Ok(&esc)).unwrap(), "\u{1b}[31mred\u{202e}");
    }

    #[test]
    fn rejects_with_readable_reasons() {
        let cases: [(Result<serde_json::Value, Unreadable>, RejectionCode, &str); 9] = [
            (
                Ok(json!(42)),
                RejectionCode::NotAString,
                "message must be a string, got a number",
            ),
            (
                Ok(json!({"a":1})),
                RejectionCode::NotAString,
                "message must be a string, got an object",
            ),
            (
                Err(Unreadable::Missing),
                RejectionCode::NotAString,
                "message must be a string, got nothing",
            ),
            (
                Err(Unreadable::Binary),
                RejectionCode::NotAString,
                "message must be a string, got binary data (binary attachments are not accepted)",
            ),
            (
                Err(Unreadable::Invalid("lone leading surrogate".into())),
                RejectionCode::NotAString,
                "message must be a string, got text that is not valid JSON or Unicode (lone leading surrogate)",
            ),
            (Ok(json!("")), RejectionCode::Empty, "message is empty"),
            (Ok(json!(" \n\t")), RejectionCode::Empty, "message is empty"),
            (
                Ok(json!("\u{200b}\u{200d} \u{2060}\u{feff}\u{202e}")),
                RejectionCode::Empty,
                "message has no visible characters",
            ),
            (
                Ok(json!("x".repeat(MAX_MESSAGE_BYTES + 1))),
                RejectionCode::TooLarge,
                "message is 4097 bytes, the limit is 4096",
            ),
        ];
        for (arg, code, text) in cases {
            let err = message_text(arg.as_ref()).unwrap_err();
            assert_eq!((err.code, err.message.as_str()), (code, text));
        }
    }

    #[test]
    fn multibyte_text_is_measured_in_bytes() {
        let v = json!("é".repeat(MAX_MESSAGE_BYTES / 2 + 1));
        assert_eq!(
            message_text(Ok(&v)).unwrap_err().code,
            RejectionCode::TooLarge
        );
    }

    #[test]
    fn display_neutralises_terminal_and_bidi_controls() {
        assert!(matches!(
            display_safe("plain\ttext\n"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(display_safe("\u{1b}[31mred"), "\u{241b}[31mred");
        assert_eq!(display_safe("evil\u{202e}gnp.exe"), "evil\u{fffd}gnp.exe");
        assert_eq!(display_safe("a\u{7f}\u{85}b"), "a\u{2421}\u{fffd}b");
    }
}
