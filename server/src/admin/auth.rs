//! Who may use the Admin UI: the password (`--admin-password`, hashed when the cluster starts,
//! never logged), the login of the `/admin` CONNECT (`{username, password}` or `{sessionId}`, as
//! `@socket.io/admin-ui` sends it), and the sessions a login opens.
//!
//! The password is kept as a salted SHA-256 digest and compared in constant time (`subtle`); the
//! plain text is dropped with the parsed configuration once the instances are up. A slow hash
//! (argon2) protects stored hashes from offline guessing; this one is never stored or sent, so
//! the threat is guessing online, which the caller limits: each address has [`LOGIN_RATE`]
//! password tries per instance (the CONNECTs of many connections run at once, so a pause alone
//! limited nothing: 395 guesses/s from one address), a refused login is answered after
//! [`REFUSED_PAUSE`], and a password has at least [`MIN_PASSWORD_CHARS`] characters. A session id is 128 random bits, handed to the UI once (`session`); Redis keeps its
//! digest for [`SESSION_TTL`] (`crate::redis::admin_sessions`), so it logs in on every instance;
//! the digest is bound to the user name and password, so changing either ends every session.

use std::{path::Path, time::Duration};

use gridcast_shared::limits::Rate;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    cli::ServeConfig, error::Error, limit::bucket::RateLimit, redis::admin_sessions::AdminSessions,
};

/// How long an Admin UI session logs in without the password (as socket.io's `RedisStore`).
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// How long a refused login waits before it is answered.
pub(crate) const REFUSED_PAUSE: Duration = Duration::from_secs(1);

/// Password logins one address may try, per instance: [`LOGIN_BURST`] at once, then one a
/// second; a successful login gives its try back. The pause alone limited nothing per address:
/// the CONNECTs of many connections run at once (395 guesses/s from one address, measured).
pub(crate) const LOGIN_RATE: Rate = Rate {
    per_second: 1,
    burst: LOGIN_BURST,
};

/// Password logins one address may try at once (see [`LOGIN_RATE`]).
pub(crate) const LOGIN_BURST: u32 = 10;

/// The shortest Admin UI password accepted.
pub(crate) const MIN_PASSWORD_CHARS: usize = 12;

/// Whether and how the Admin UI may be used, the same for every instance of a process.
#[derive(Debug)]
pub(crate) enum Access {
    /// No password configured: `/admin` refuses every connection.
    Off,
    /// Logins with these credentials; operations unless `read_only`.
    On {
        credentials: Credentials,
        read_only: bool,
    },
}

/// Why a CONNECT to `/admin` was refused (its text is the `connect_error` message the UI shows).
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Refused {
    /// No password is configured.
    #[error(
        "the Admin UI is off on this cluster: start gridcast with --admin-password \
         (or GRIDCAST_ADMIN_PASSWORD, or --admin-password-file)"
    )]
    Off,
    /// Wrong user name or password, or an unknown or expired session (the exact text the UI
    /// recognises).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many password logins from the client's address.
    #[error("too many login attempts from your address: try again in {0} s")]
    TooManyAttempts(u64),
}

/// The user name and a salted digest of the password.
pub(crate) struct Credentials {
    username: String,
    salt: [u8; 16],
    digest: [u8; 32],
    /// What a session is bound to: a digest of the user name and the password, the same on
    /// every instance with the same credentials, so that a session opened with a password ends
    /// when the password (or the user name) changes.
    sessions: [u8; 32],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials of `username` with `password` (only its digest is kept).
    pub(crate) fn new(username: &str, password: &str) -> Self {
        let salt = rand::random();
        let mut sessions = Sha256::new();
        sessions.update(b"gridcast admin sessions\0");
        sessions.update((username.len() as u64).to_le_bytes());
        sessions.update(username.as_bytes());
        sessions.update(password.as_bytes());
        Self {
            username: username.to_owned(),
            digest: salted(&salt, password),
            salt,
            sessions: sessions.finalize().into(),
        }
    }

    /// What Redis keeps of session `id`: a digest of it bound to these credentials.
    fn session_key(&self, id: &str) -> String {
        digest_hex(&self.sessions, id)
    }

    /// Whether `username` and `password` are these (the password compared in constant time).
    pub(crate) fn matches(&self, username: &str, password: &str) -> bool {
        let password_ok = salted(&self.salt, password).ct_eq(&self.digest);
        let username_ok = username.as_bytes().ct_eq(self.username.as_bytes());
        bool::from(password_ok & username_ok)
    }
}

fn salted(salt: &[u8; 16], password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

impl Access {
    /// The Admin UI access `config` asks for: the password from `--admin-password` or the first
    /// line of `--admin-password-file`.
    pub(crate) fn from_config(config: &ServeConfig) -> Result<Self, Error> {
        let password = match (&config.admin_password, &config.admin_password_file) {
            (Some(password), _) => Some(password.expose().to_owned()),
            (None, Some(file)) => Some(read_password(file)?),
            (None, None) => None,
        };
        Ok(match password {
            None => Self::Off,
            Some(password) if password.chars().count() < MIN_PASSWORD_CHARS => {
                return Err(Error::Config(format!(
                    "the Admin UI password has {} characters: use at least {MIN_PASSWORD_CHARS} \
                     (it can be guessed online, one try a second per address)",
                    password.chars().count()
                )));
            }
            Some(password) => Self::On {
                credentials: Credentials::new(&config.admin_username, &password),
                read_only: config.admin_read_only,
            },
        })
    }

    /// Whether operations are refused.
    pub(crate) fn read_only(&self) -> bool {
        matches!(
            self,
            Self::On {
                read_only: true,
                ..
            }
        )
    }
}

fn read_password(file: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Error::Config(format!(
            "cannot read the Admin UI password file {}: {e}",
            file.display()
        ))
    })?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// The CONNECT auth of the Admin UI.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Login {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "sessionId")]
    session_id: Option<String>,
}

/// A successful login.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LoggedIn {
    /// With the password: the new session's id, for the UI to keep.
    Password(String),
    /// With a session id it had.
    Session,
}

/// Checks `login` against `access`, and opens a session for a password login.
/// A password login first takes a try from `tries` (its address's), given back when it succeeds.
pub(crate) async fn log_in(
    access: &Access,
    sessions: &AdminSessions,
    login: Login,
    tries: Option<&RateLimit>,
) -> Result<LoggedIn, Refused> {
    let Access::On { credentials, .. } = access else {
        return Err(Refused::Off);
    };
    if let Some(id) = login.session_id.as_deref().filter(|id| is_session_id(id)) {
        match sessions.exists(&credentials.session_key(id)).await {
            Ok(true) => return Ok(LoggedIn::Session),
            Ok(false) => {}
            Err(e) => tracing::debug!("admin session not checked: {e}"),
        }
    }
    let (Some(username), Some(password)) = (login.username, login.password) else {
        return Err(Refused::InvalidCredentials);
    };
    if let Some(Err(wait)) = tries.map(RateLimit::take) {
        return Err(Refused::TooManyAttempts(wait.as_secs_f64().ceil() as u64));
    }
    if !credentials.matches(&username, &password) {
        return Err(Refused::InvalidCredentials);
    }
    if let Some(tries) = tries {
        tries.refund();
    }
    let id = format!("{:032x}", rand::random::<u128>());
    if let Err(e) = sessions
        .save(&credentials.session_key(&id), SESSION_TTL)
        .await
    {
        // The login stands; only a reload will ask for the password again.
        tracing::debug!("admin session not saved: {e}");
    }
    Ok(LoggedIn::Password(id))
}

/// Whether `id` looks like a session id this server gives (anything else is not looked up).
fn is_session_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The hex SHA-256 of a session id after `bound` (the credentials it was opened with): what
/// Redis keeps of it.
fn digest_hex(bound: &[u8; 32], id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(bound);
    hasher.update(id.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Secret;

    #[test]
    fn short_passwords_are_refused_at_start() {
        let mut config = ServeConfig::new(vec![0], None);
        for (password, ok) in [("", false), ("pw1234", false), ("twelve chars", true)] {
            config.admin_password = Some(Secret::new(password));
            match Access::from_config(&config) {
                Ok(Access::On { .. }) => assert!(ok, "{password:?} accepted"),
                Err(Error::Config(why)) => {
                    assert!(!ok, "{password:?}: {why}");
                    assert!(why.contains("at least 12"), "{why}");
                }
                other => panic!("{password:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn credentials_match_only_themselves_and_hide_the_password() {
        let credentials = Credentials::new("admin", "s3cret pass");
        assert!(credentials.matches("admin", "s3cret pass"));
        assert!(!credentials.matches("admin", "s3cret pas"));
        assert!(!credentials.matches("admin", ""));
        assert!(!credentials.matches("Admin", "s3cret pass"));
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        // Two salts, two digests of one password.
        assert_ne!(
            credentials.digest,
            Credentials::new("admin", "s3cret pass").digest
        );
    }

    #[test]
    fn session_ids_are_checked_before_redis_sees_them() {
        assert!(is_session_id(&format!("{:032x}", 7u128)));
        for bad in ["", "x", &"g".repeat(32), &"a".repeat(33)] {
            assert!(!is_session_id(bad), "{bad:?}");
        }
        assert_eq!(digest_hex(&[0; 32], "abc").len(), 64);
        // A session is bound to the credentials it was opened with.
        let id = format!("{:032x}", 7u128);
        let one = Credentials::new("admin", "one password");
        assert_eq!(
            one.session_key(&id),
            Credentials::new("admin", "one password").session_key(&id)
        );
        assert_ne!(
            one.session_key(&id),
            Credentials::new("admin", "another password").session_key(&id)
        );
        assert_ne!(
            one.session_key(&id),
            Credentials::new("root", "one password").session_key(&id)
        );
    }
}
