//! Values the flags take: secrets that hide themselves, rates, prefixes, sizes and durations.

use std::time::Duration;

use gridcast_shared::limits::Rate;

/// A secret from the command line or the environment: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

/// The `--rate-limit` setting: a rate, or off (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSetting(pub Option<Rate>);

/// Parses a rate limit: `off`, `<per-second>` or `<per-second>,<burst>`.
pub fn parse_rate(text: &str) -> Result<RateSetting, String> {
    match text.trim() {
        "off" => Ok(RateSetting(None)),
        other => other
            .parse()
            .map(|rate| RateSetting(Some(rate)))
            .map_err(|e| format!("{e}; use off, 20 or 20,50")),
    }
}

/// Checks a key prefix: non-empty, at most 64 characters, letters, digits, `.`, `_`, `-`, `:`
/// (no `{` or `}`: the prefix is put inside Redis Cluster hash tags).
pub fn parse_prefix(text: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
    if text.is_empty() || text.len() > 64 || !text.chars().all(ok) {
        return Err(format!(
            "{text:?} is not a prefix: use 1 to 64 letters, digits, '.', '_', '-' or ':'"
        ));
    }
    Ok(text.to_owned())
}

/// Parses a number of bytes, bare or with a `KiB`, `MiB` or `GiB` suffix.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown unit {other:?}: use KiB, MiB or GiB")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is not a size in bytes"))
}

/// Parses `500ms`, `2s`, `1m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 5s or 1m"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ms, s, m or h)"
            ));
        }
    };
    Ok(Duration::from_secs_f64(seconds))
}
