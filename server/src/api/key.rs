//! The publish API's key, and what the API refused.
//!
//! Invariant: the key is kept only as its SHA-256 digest and compared in constant time (a digest
//! of what the request sent against it, with `subtle`), so neither its value nor its length
//! shows in memory dumps, logs or response times.

use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The shortest API key accepted, in bytes: wrong keys are answered as fast as right ones, so
/// the key itself must make guessing hopeless.
pub(crate) const MIN_KEY_BYTES: usize = 32;

/// The key backends present as `Authorization: Bearer <key>`.
pub(crate) struct ApiKey([u8; 32]);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl ApiKey {
    /// The key `text` (surrounding whitespace, e.g. a file's last newline, ignored), or why it
    /// is refused: shorter than [`MIN_KEY_BYTES`].
    pub(crate) fn new(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the API key is {} bytes: use at least {MIN_KEY_BYTES} random ones (e.g. \
                 `openssl rand -hex 32`)",
                text.len()
            ));
        }
        Ok(Self(Sha256::digest(text.as_bytes()).into()))
    }

    /// Whether `given` is the key.
    pub(crate) fn matches(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        given.ct_eq(&self.0).into()
    }
}

/// Why the API refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No key, or not the key.
    Key,
    /// A body that is too large or does not say what is asked.
    Body,
    /// Over the key's rate.
    Rate,
}

impl Refused {
    /// Every cause, in the order of [`Refusals::counts`].
    pub(crate) const ALL: [Refused; 3] = [Refused::Key, Refused::Body, Refused::Rate];

    /// Its name in `/metrics`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Refused::Key => "key",
            Refused::Body => "body",
            Refused::Rate => "rate",
        }
    }
}

/// What the API refused, by cause, and what it accepted.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    refused: [AtomicU64; 3],
    accepted: AtomicU64,
}

impl Refusals {
    pub(crate) fn count(&self, why: Refused) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn accept(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Refusals so far, by cause (as [`Refused::ALL`]), and requests accepted.
    pub(crate) fn counts(&self) -> ([u64; 3], u64) {
        (
            self.refused.each_ref().map(|c| c.load(Ordering::Relaxed)),
            self.accepted.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::ApiKey;

    #[test]
    fn keys_match_only_themselves_and_never_print() {
        let text = "s3cret-0123456789abcdef0123456789";
        let key = ApiKey::new(&format!("{text}\n")).unwrap();
        assert!(key.matches(text));
        assert!(!key.matches(&text[1..]) && !key.matches(&format!("{text}2")) && !key.matches(""));
        assert!(!format!("{key:?}").contains("s3cret"));
        for short in ["  ", "k1", &text[..31]] {
            let why = ApiKey::new(short).err().unwrap();
            assert!(why.contains("at least 32"), "{why}");
        }
    }
}
