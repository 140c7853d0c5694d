//! The publish API's key, and what the API refused.
//!
//! Invariant: the key is kept only as its SHA-256 digest and compared in constant time (a digest
//! of what the request sent against it, with `subtle`), so neither its value nor its length
//! shows in memory dumps, logs or response times.

use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The key backends present as `Authorization: Bearer <key>`.
pub(crate) struct ApiKey([u8; 32]);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl ApiKey {
    /// The key `text` (surrounding whitespace, e.g. a file's last newline, ignored); `None` if
    /// it is empty.
    pub(crate) fn new(text: &str) -> Option<Self> {
        let text = text.trim();
        (!text.is_empty()).then(|| Self(Sha256::digest(text.as_bytes()).into()))
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
        let key = ApiKey::new("s3cret\n").unwrap();
        assert!(key.matches("s3cret"));
        assert!(!key.matches("s3cre") && !key.matches("s3cret2") && !key.matches(""));
        assert!(ApiKey::new("  ").is_none());
        assert!(!format!("{key:?}").contains("s3cret"));
    }
}
