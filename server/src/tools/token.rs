//! `gridcast token`: a signed token (HS256) for a server started with `--auth jwt`, with the claims
//! gridcast reads (`gridcast_shared::auth::Claims`). For demos and tests: an application's own
//! backend issues the real ones, with its own signing key.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gridcast_shared::auth::Claims;
use jsonwebtoken::{EncodingKey, Header};

use crate::cli::TokenConfig;

/// Prints the token on stdout.
pub fn command(config: &TokenConfig) -> Result<ExitCode> {
    let secret = match (&config.jwt_secret, &config.jwt_secret_file) {
        (Some(secret), _) => secret.expose().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the secret file {}", path.display()))?,
        (None, None) => bail!("give the HS256 secret: GRIDCAST_JWT_SECRET, or --jwt-secret-file"),
    };
    crate::auth::hs256_secret_checked(secret.trim()).map_err(anyhow::Error::msg)?;
    println!("{}", sign(config, secret.trim().as_bytes())?);
    Ok(ExitCode::SUCCESS)
}

/// The token `config` describes, signed with `secret`.
pub fn sign(config: &TokenConfig, secret: &[u8]) -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = Claims {
        sub: config.sub.clone(),
        exp: now + config.ttl.as_secs(),
        nbf: None,
        aud: config
            .audience
            .clone()
            .map(gridcast_shared::auth::Audience::One),
        iss: config.issuer.clone(),
        rooms: config.rooms.clone(),
        broadcast: config.broadcast,
    };
    Ok(jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret),
    )?)
}
