//! Authenticated connections (`--auth jwt`): checking the token a client sends in its CONNECT
//! auth (`{"token": ...}`) and in `refresh`, and what its claims allow
//! (`gridcast_shared::auth::Claims`).
//!
//! Invariant: with `--auth jwt` no socket exists without a verified token (the connect
//! middleware refuses it first, with a readable reason), and nothing about a token is logged:
//! neither the token nor its claims, only that a connect was refused and why in general terms.

use std::{
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

use gridcast_shared::auth::Claims;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};

use crate::{
    cli::{AuthMode, ServeConfig},
    error::Error,
};

/// How connections are authenticated.
pub(crate) enum Auth {
    /// Anyone who reaches an instance may connect (the demo's default).
    Off,
    /// A signed token is required.
    Jwt(Box<Jwt>),
}

/// Verifying tokens: the key and what is checked besides the signature.
pub(crate) struct Jwt {
    key: DecodingKey,
    validation: Validation,
    /// Tokens refused, by [`AuthError::index`].
    refused: [AtomicU64; AuthError::CAUSES.len()],
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Off => "Auth::Off",
            Auth::Jwt(_) => "Auth::Jwt(***)",
        })
    }
}

/// Why a token was refused: fit to tell the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    #[error(
        "this server requires a token: connect with the auth {{\"token\": \"<JWT>\"}} (see the server's README)"
    )]
    Missing,
    #[error("the token expired: get a fresh one")]
    Expired,
    #[error("the token is not valid yet (its nbf is in the future)")]
    NotYet,
    #[error("the token was not issued for this server (its audience or issuer)")]
    Elsewhere,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token is not a JWT gridcast can read: {0}")]
    Malformed(String),
}

impl AuthError {
    /// The causes as `/metrics` labels them, in [`index`](Self::index) order.
    pub(crate) const CAUSES: [&'static str; 6] = [
        "missing",
        "expired",
        "not_yet",
        "elsewhere",
        "signature",
        "malformed",
    ];

    fn index(&self) -> usize {
        match self {
            AuthError::Missing => 0,
            AuthError::Expired => 1,
            AuthError::NotYet => 2,
            AuthError::Elsewhere => 3,
            AuthError::Signature => 4,
            AuthError::Malformed(_) => 5,
        }
    }
}

impl Auth {
    /// The authentication `config` asks for, its key read from the flag, the environment or the
    /// file.
    pub(crate) fn from_config(config: &ServeConfig) -> Result<Self, Error> {
        if config.auth == AuthMode::Off {
            return Ok(Auth::Off);
        }
        let bad = |reason: String| Error::Config(reason);
        let (key, algorithms) = match (
            &config.jwt_secret,
            &config.jwt_secret_file,
            &config.jwt_public_key,
        ) {
            (Some(secret), None, None) => (hs256(secret.expose().trim())?, vec![Algorithm::HS256]),
            (None, Some(path), None) => (hs256(read(path)?.trim())?, vec![Algorithm::HS256]),
            (None, None, Some(path)) => {
                let pem = read(path)?;
                if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
                    (key, vec![Algorithm::RS256])
                } else {
                    let key = DecodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| {
                        bad(format!(
                            "{} is neither an RSA nor an EC public key in PEM: {e}",
                            path.display()
                        ))
                    })?;
                    (key, vec![Algorithm::ES256])
                }
            }
            (None, None, None) => {
                return Err(bad(
                    "--auth jwt needs a key: --jwt-secret-file (or GRIDCAST_JWT_SECRET) for HS256, \
                     or --jwt-public-key for RS256/ES256"
                        .into(),
                ));
            }
            _ => {
                return Err(bad(
                    "give one JWT key: a secret or a public key, once".into()
                ));
            }
        };
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.leeway = 0;
        validation.validate_nbf = true;
        // A token without the audience or issuer the server checks is not for it:
        // jsonwebtoken only refuses a missing one when it is required.
        let mut required = vec!["exp", "sub"];
        match &config.jwt_audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &config.jwt_issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        Ok(Auth::Jwt(Box::new(Jwt {
            key,
            validation,
            refused: Default::default(),
        })))
    }

    /// Whether connections need a token.
    pub(crate) fn required(&self) -> bool {
        matches!(self, Auth::Jwt(_))
    }

    /// Tokens refused so far by cause ([`AuthError::CAUSES`]); `None` when connections are not
    /// authenticated.
    pub(crate) fn refusals(&self) -> Option<[u64; AuthError::CAUSES.len()]> {
        let Auth::Jwt(jwt) = self else {
            return None;
        };
        Some(std::array::from_fn(|i| {
            jwt.refused[i].load(Ordering::Relaxed)
        }))
    }

    /// The claims of `token`; `Ok(None)` when connections are not authenticated. A refusal is
    /// counted.
    pub(crate) fn verify(&self, token: Option<&str>) -> Result<Option<Claims>, AuthError> {
        let Auth::Jwt(jwt) = self else {
            return Ok(None);
        };
        jwt.verify(token).map(Some).inspect_err(|e| {
            jwt.refused[e.index()].fetch_add(1, Ordering::Relaxed);
        })
    }
}

/// The longest token read, in bytes: a real one is a few hundred; a longer one is refused
/// before any decoding or signature work.
pub(crate) const MAX_TOKEN_BYTES: usize = 8 * 1024;

impl Jwt {
    fn verify(&self, token: Option<&str>) -> Result<Claims, AuthError> {
        let token = token.ok_or(AuthError::Missing)?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed(format!(
                "it is {} bytes, more than the {MAX_TOKEN_BYTES} read",
                token.len()
            )));
        }
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) => {
                gridcast_shared::auth::check_sub(&data.claims.sub).map_err(AuthError::Malformed)?;
                Ok(data.claims)
            }
            Err(e) => Err(match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYet,
                ErrorKind::InvalidAudience | ErrorKind::InvalidIssuer => AuthError::Elsewhere,
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => AuthError::Signature,
                ErrorKind::MissingRequiredClaim(claim) if claim == "aud" || claim == "iss" => {
                    AuthError::Elsewhere
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::Malformed(format!("it has no {claim} claim"))
                }
                // Signed and valid, but its claims do not fit (checked after the signature).
                ErrorKind::Json(e) => AuthError::Malformed(claims_problem(e)),
                // Not the token's text: only what kind of trouble.
                _ => AuthError::Malformed("its header, claims or encoding".into()),
            }),
        }
    }
}

/// What is wrong with a signed token's claims, without their values: a missing claim by name, or
/// the types gridcast reads.
fn claims_problem(e: &serde_json::Error) -> String {
    let said = e.to_string();
    if let Some(claim) = said
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        return format!("it has no {claim} claim");
    }
    "a claim has the wrong type (sub and iss are text, exp and nbf whole seconds, aud text or a \
     list of text, rooms a list of text, broadcast true or false)"
        .into()
}

/// The shortest HS256 secret accepted, in bytes: RFC 7518 asks for a key as long as the hash.
pub(crate) const MIN_SECRET_BYTES: usize = 32;

/// Whether `secret` is long enough for HS256; if not, why, fit to show to an operator.
pub(crate) fn hs256_secret_checked(secret: &str) -> Result<(), String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "the JWT secret is {} bytes: use at least {MIN_SECRET_BYTES} random ones (e.g. \
             `openssl rand -hex 32`)",
            secret.len()
        ));
    }
    Ok(())
}

fn hs256(secret: &str) -> Result<DecodingKey, Error> {
    hs256_secret_checked(secret).map_err(Error::Config)?;
    Ok(DecodingKey::from_secret(secret.as_bytes()))
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))
}
