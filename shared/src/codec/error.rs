//! Why a frame could not be decoded, for both layers of the codec.

/// A frame that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The frame was empty.
    #[error("empty packet")]
    Empty,
    /// The leading packet type is not one the protocol defines.
    #[error("unknown {layer} packet type {found:?}")]
    UnknownType {
        /// `Engine.IO` or `Socket.IO`.
        layer: &'static str,
        /// The offending character.
        found: char,
    },
    /// A JSON payload did not parse or had the wrong shape.
    #[error("bad {what}: {reason}")]
    BadPayload {
        /// What was being parsed.
        what: &'static str,
        /// The parser's reason.
        reason: String,
    },
    /// The packet is valid but outside what this codec supports (binary attachments).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
}

impl CodecError {
    pub(super) fn payload(what: &'static str, err: impl std::fmt::Display) -> Self {
        Self::BadPayload {
            what,
            reason: err.to_string(),
        }
    }
}
