//! Catching up after a reconnect: offsets, the CONNECT auth that carries them, and what `welcome`
//! says about the result.
//!
//! Every broadcast a client can miss (`message`, `room_message`, `direct`) carries an
//! [`Offset`] in its [`MessageMeta`](crate::MessageMeta). A client that reconnects, to the same
//! instance or another, sends the last offset it saw (and its session token) in the Socket.IO
//! CONNECT auth (`{"offset": "...", "session": "..."}`, see [`ConnectAuth`]); the server replays
//! what it missed and says how that went in [`Welcome::recovery`](crate::Welcome::recovery).
//!
//! An offset is opaque to clients: compare offsets only for equality, and send back the last one
//! received. Its text form is `<ms>-<seq>` (a Redis Stream entry id, ordered within the cluster),
//! optionally followed by `.<instance>.<n>`: "and the first `n` messages instance `<instance>`
//! delivered on its own while Redis was away" (those are written to the history later, with a
//! later entry id, and must not be replayed to a client that already has them).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest offset text accepted, in bytes.
pub const MAX_OFFSET_LEN: usize = 96;

/// Length of a session token: 128 random bits as lowercase hex.
pub const SESSION_TOKEN_LEN: usize = 32;

/// A position in the cluster's history: a Redis Stream entry id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence within the millisecond.
    pub seq: u64,
}

impl StreamId {
    /// The smallest id, before every entry.
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Why an offset or stream id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed offset: {0}")]
pub struct BadOffset(pub String);

fn number(text: &str, what: &str) -> Result<u64, BadOffset> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadOffset(format!("{what} must be a decimal number")));
    }
    text.parse()
        .map_err(|_| BadOffset(format!("{what} is out of range")))
}

impl FromStr for StreamId {
    type Err = BadOffset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, seq) = s
            .split_once('-')
            .ok_or_else(|| BadOffset("expected <ms>-<seq>".into()))?;
        Ok(StreamId {
            ms: number(ms, "the milliseconds part")?,
            seq: number(seq, "the sequence part")?,
        })
    }
}

/// Messages an instance delivered to its own clients while Redis was away, and wrote to the
/// history later: the first `count` of instance `instance`'s outbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutboxMark {
    /// The instance id.
    pub instance: String,
    /// How many of its outbox messages the holder already has.
    pub count: u64,
}

/// What a client has seen: every history entry up to `at`, and the outbox messages `mark` names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Offset {
    /// The last history entry seen (everything up to it was delivered).
    pub at: StreamId,
    /// Outbox messages of one instance, already delivered although written after `at`.
    pub mark: Option<OutboxMark>,
}

impl Offset {
    /// An offset with no outbox mark.
    pub fn at(at: StreamId) -> Self {
        Self { at, mark: None }
    }

    /// Whether a history entry written from `origin`'s outbox as number `outbox_seq` (if it came
    /// from an outbox) is one the holder already has although it follows `at`.
    pub fn covers(&self, origin: &str, outbox_seq: Option<u64>) -> bool {
        match (&self.mark, outbox_seq) {
            (Some(mark), Some(n)) => mark.instance == origin && n <= mark.count,
            _ => false,
        }
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mark {
            None => write!(f, "{}", self.at),
            Some(m) => write!(f, "{}.{}.{}", self.at, m.instance, m.count),
        }
    }
}

impl FromStr for Offset {
    type Err = BadOffset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_OFFSET_LEN {
            return Err(BadOffset(format!(
                "longer than {MAX_OFFSET_LEN} bytes; send back an offset exactly as received"
            )));
        }
        let mut parts = s.split('.');
        let at: StreamId = parts.next().unwrap_or_default().parse()?;
        let mark = match (parts.next(), parts.next(), parts.next()) {
            (None, _, _) => None,
            (Some(instance), Some(count), None) => {
                if instance.is_empty()
                    || instance.len() > 32
                    || !instance
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
                {
                    return Err(BadOffset("bad instance part".into()));
                }
                Some(OutboxMark {
                    instance: instance.to_owned(),
                    count: number(count, "the outbox count")?,
                })
            }
            _ => return Err(BadOffset("expected <ms>-<seq>[.<instance>.<n>]".into())),
        };
        Ok(Offset { at, mark })
    }
}

impl Serialize for Offset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether `token` has the form of a session token (it may still be unknown to the server).
pub fn is_session_token(token: &str) -> bool {
    token.len() == SESSION_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a client may send in its Socket.IO CONNECT auth, read leniently: unknown keys are ignored,
/// and a bad value is reported without failing the connection. Its `Debug` hides the session
/// token.
///
/// The stock `socket.io-client` recovers its connection state by sending back the `pid` of the
/// server's CONNECT reply and the last string argument of an event as the offset (`{"pid",
/// "offset", ...auth}`, the application's own keys winning): gridcast's `pid` is the session
/// token, so `"pid"` is read as `"session"` when that is absent.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ConnectAuth {
    /// The last offset the client saw (`"offset"`), if it sent one.
    pub offset: Option<Result<Offset, BadOffset>>,
    /// Its session token (`"session"`, or the stock client's `"pid"`), if it sent a well-formed
    /// one.
    pub session: Option<String>,
    /// Whether the session token came as the stock client's `"pid"`: that client sends an
    /// offset whenever it received a history-backed event, so a `pid` without one means it got
    /// none since it last connected.
    pub by_pid: bool,
    /// A signed token saying who the client is (`"token"`, with `--auth jwt`).
    pub token: Option<String>,
    /// What was wrong with the auth object itself or its session token, to tell the client.
    pub problem: Option<String>,
}

impl fmt::Debug for ConnectAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectAuth")
            .field("offset", &self.offset)
            .field("session", &self.session.as_ref().map(|_| "***"))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("problem", &self.problem)
            .finish()
    }
}

impl ConnectAuth {
    /// Reads the CONNECT auth (absent, `null` or an object).
    pub fn read(auth: Option<&Value>) -> Self {
        let mut read = ConnectAuth::default();
        let object = match auth {
            None | Some(Value::Null) => return read,
            Some(Value::Object(object)) => object,
            Some(_) => {
                read.problem = Some("the CONNECT auth must be an object".into());
                return read;
            }
        };
        read.offset = match object.get("offset") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.parse()),
            Some(_) => Some(Err(BadOffset(
                "\"offset\" must be a string, as received in a message's metadata".into(),
            ))),
        };
        if let Some(Value::String(token)) = object.get("token") {
            read.token = Some(token.clone());
        }
        let (token, by_pid) = match object.get("session") {
            None | Some(Value::Null) => (object.get("pid"), true),
            given => (given, false),
        };
        match token {
            None | Some(Value::Null) => {}
            Some(Value::String(token)) if is_session_token(token) => {
                read.session = Some(token.clone());
                read.by_pid = by_pid;
            }
            Some(_) => {
                let key = if by_pid { "pid" } else { "session" };
                read.problem = Some(format!(
                    "\"{key}\" must be the {SESSION_TOKEN_LEN}-digit token from welcome (or the \
                     CONNECT reply's pid)"
                ))
            }
        }
        read
    }
}

/// Why a reconnecting client's missed messages could not be replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryFailure {
    /// The offset is older than the history still kept (or the history was lost with Redis).
    Expired,
    /// The offset is well formed but names no entry this cluster wrote.
    UnknownOffset,
    /// The offset cannot be read.
    MalformedOffset,
    /// The history cannot be read right now (Redis is away).
    HistoryUnavailable,
    /// The client took its replay too slowly (its buffer stayed full, or it could not catch up
    /// with live traffic): the server disconnects it; reconnecting with the last offset it
    /// received resumes the replay there.
    TooSlow,
}

/// The outcome of a reconnect with an offset, in [`Welcome::recovery`](crate::Welcome::recovery):
/// `{"recovered": true, "replayed": N}` or `{"recovered": false, "reason": ..,
/// "missed_at_least": N?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// Whether everything since the offset was delivered: true only once every replayed message
    /// was handed to the transport.
    pub recovered: bool,
    /// How many messages were replayed (they came before `welcome`; everything after it is
    /// live).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed: Option<u64>,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RecoveryFailure>,
    /// A lower bound of the messages missed for good, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_at_least: Option<u64>,
    /// Details fit to show to a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Recovery {
    /// `replayed` messages follow.
    pub fn recovered(replayed: u64) -> Self {
        Self {
            recovered: true,
            replayed: Some(replayed),
            reason: None,
            missed_at_least: None,
            detail: None,
        }
    }

    /// Nothing is replayed, because of `reason`.
    pub fn failed(reason: RecoveryFailure, detail: impl Into<String>) -> Self {
        Self {
            recovered: false,
            replayed: None,
            reason: Some(reason),
            missed_at_least: None,
            detail: Some(detail.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn offsets_round_trip() {
        for text in ["0-0", "1764150000000-3", "1764150000000-0.1a2b3c4d.12"] {
            let offset: Offset = text.parse().unwrap();
            assert_eq!(offset.to_string(), text);
        }
        let a: Offset = "5-1".parse().unwrap();
        let b: Offset = "5-2".parse().unwrap();
        assert!(a.at < b.at);
    }

    #[test]
    fn bad_offsets_are_told_not_panicked() {
        for text in [
            "",
            "-",
            "5",
            "5-",
            "-5",
            "a-1",
            "1-1.",
            "1-1.x.",
            "1-1.AB.1",
            "1-1.ab.1.2",
            "99999999999999999999999-1",
            "+1-1",
            " 1-1",
            &"1".repeat(200),
        ] {
            assert!(text.parse::<Offset>().is_err(), "{text:?} accepted");
        }
    }

    #[test]
    fn outbox_marks_cover_only_their_instance_up_to_their_count() {
        let offset: Offset = "7-0.aa.3".parse().unwrap();
        assert!(offset.covers("aa", Some(3)));
        assert!(!offset.covers("aa", Some(4)));
        assert!(!offset.covers("bb", Some(1)));
        assert!(!offset.covers("aa", None));
        assert!(!Offset::at(StreamId::ZERO).covers("aa", Some(1)));
    }

    #[test]
    fn auth_is_read_leniently() {
        assert_eq!(ConnectAuth::read(None), ConnectAuth::default());
        let token = "0123456789abcdef0123456789abcdef";
        let read = ConnectAuth::read(Some(&json!({"offset": "3-4", "session": token, "x": 1})));
        assert_eq!(
            read.offset,
            Some(Ok(Offset::at(StreamId { ms: 3, seq: 4 })))
        );
        assert_eq!(read.session.as_deref(), Some(token));
        assert!(read.problem.is_none());

        let read = ConnectAuth::read(Some(&json!({"offset": 12, "session": "nope"})));
        assert!(matches!(read.offset, Some(Err(_))));
        assert!(read.session.is_none());
        assert!(read.problem.unwrap().contains("session"));

        assert!(ConnectAuth::read(Some(&json!("x"))).problem.is_some());
        // The stock client's recovery: its `pid` is the session token.
        let read = ConnectAuth::read(Some(&json!({"pid": token, "offset": "3-4"})));
        assert_eq!(read.session.as_deref(), Some(token));
        assert!(read.by_pid);
        let other = "f".repeat(32);
        let read = ConnectAuth::read(Some(&json!({"pid": other, "session": token})));
        assert_eq!(
            read.session.as_deref(),
            Some(token),
            "the application's own key wins"
        );
        assert!(!read.by_pid);
        let token = "0123456789abcdef0123456789abcdef";
        let read = ConnectAuth::read(Some(&json!({"session": token})));
        assert!(
            !format!("{read:?}").contains(token),
            "the token is never printed"
        );
    }

    #[test]
    fn recovery_has_the_documented_shape() {
        assert_eq!(
            serde_json::to_value(Recovery::recovered(12)).unwrap(),
            json!({"recovered": true, "replayed": 12})
        );
        let mut failed = Recovery::failed(RecoveryFailure::Expired, "too old");
        failed.missed_at_least = Some(3);
        assert_eq!(
            serde_json::to_value(failed).unwrap(),
            json!({"recovered": false, "reason": "expired", "missed_at_least": 3, "detail": "too old"})
        );
    }
}
