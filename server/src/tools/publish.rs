//! `gridcast publish`: one message through an instance's publish API (`POST /api/publish`), as
//! an application's backend sends it; the instances are tried in order until one answers.

use std::{process::ExitCode, time::Duration};

use anyhow::{Context, Result, bail};
use gridcast_shared::api::PublishRequest;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::cli::PublishConfig;

/// How long one instance may take to answer.
const WAIT: Duration = Duration::from_secs(5);

/// Runs the command: prints the API's answer (JSON) on stdout; success when one instance took
/// the message (`200`, or `202` while Redis is away).
pub async fn command(config: &PublishConfig) -> Result<ExitCode> {
    let key = match (&config.api_key, &config.api_key_file) {
        (Some(key), _) => key.expose().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the API key file {}", path.display()))?,
        (None, None) => bail!("give the API key: GRIDCAST_API_KEY, or --api-key-file"),
    };
    let body = serde_json::to_string(&PublishRequest {
        to: config.to.clone(),
        text: config.text.clone(),
    })?;
    let mut last_error = None;
    for url in &config.urls {
        match post(url, "/api/publish", key.trim(), &body).await {
            Ok((status, answer)) => {
                println!("{answer}");
                return Ok(if status == 200 || status == 202 {
                    ExitCode::SUCCESS
                } else {
                    eprintln!("{url}: HTTP {status}");
                    ExitCode::FAILURE
                });
            }
            Err(e) => {
                eprintln!("{url}: {e:#}");
                last_error = Some(e);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no URL given")))
}

/// `POST`s `body` (JSON) to `path` of the instance at `base` (`http://host:port`) with the key;
/// the status and the body of the answer.
async fn post(base: &str, path: &str, key: &str, body: &str) -> Result<(u16, String)> {
    let host = base
        .strip_prefix("http://")
        .context("only http:// URLs (terminate TLS in front of gridcast)")?
        .trim_end_matches('/');
    let exchange = async {
        let mut stream = TcpStream::connect(host).await?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(WAIT, exchange)
        .await
        .context("no answer in time")??;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("not an HTTP answer")?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    Ok((status, body.to_owned()))
}
