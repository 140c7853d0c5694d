//! Validation of untrusted event arguments.

use serde::{Deserialize, Serialize};

use crate::{ErrorEvent, limits::MAX_MESSAGE_BYTES};

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

/// Checks a message text: a non-empty string of at most [`MAX_MESSAGE_BYTES`] bytes.
///
/// The text is kept exactly as sent (no trimming), so plain clients get back what they sent.
pub fn message_text(arg: Option<&serde_json::Value>) -> Result<&str, Rejection> {
    let text = match arg {
        Some(serde_json::Value::String(text)) => text.as_str(),
        Some(other) => {
            return Err(Rejection::new(
                RejectionCode::NotAString,
                format!("message must be a string, got {}", json_kind(other)),
            ));
        }
        None => {
            return Err(Rejection::new(
                RejectionCode::NotAString,
                "message must be a string, got nothing",
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
        assert_eq!(message_text(Some(&v)).unwrap(), "  hi  ");
        let max = json!("é".repeat(MAX_MESSAGE_BYTES / 2));
        assert!(message_text(Some(&max)).is_ok());
    }

    #[test]
    fn rejects_with_readable_reasons() {
        let cases = [
            (
                Some(json!(42)),
                RejectionCode::NotAString,
                "message must be a string, got a number",
            ),
            (
                Some(json!({"a":1})),
                RejectionCode::NotAString,
                "message must be a string, got an object",
            ),
            (
                None,
                RejectionCode::NotAString,
                "message must be a string, got nothing",
            ),
            (Some(json!("")), RejectionCode::Empty, "message is empty"),
            (
                Some(json!(" \n\t")),
                RejectionCode::Empty,
                "message is empty",
            ),
            (
                Some(json!("x".repeat(MAX_MESSAGE_BYTES + 1))),
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
            message_text(Some(&v)).unwrap_err().code,
            RejectionCode::TooLarge
        );
    }
}
