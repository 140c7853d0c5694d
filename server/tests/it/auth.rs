//! Authenticated connections (`--auth jwt`, issue 23 part 1): a missing, expired, forged or
//! foreign token is refused at connect with a reason the client reads (the official client too)
//! and counted; the claims decide the name, the rooms and whether the user may send to everyone;
//! a direct message reaches every socket of the user on every instance; a session cannot be
//! resumed under another user; an expired token closes its connection unless refreshed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gridcast_server::{
    Cluster, PrivateRedis, ServeConfig,
    cli::{AuthMode, Secret},
    tools::probe::{Incoming, Probe, ProbeError},
};
use gridcast_shared::{
    RejectionCode, Welcome, event,
    reply::{Reply, Sent},
    session::SessionEnd,
};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use crate::{
    presence::{member, op, refusal},
    support::{QUIET, WAIT, get, js::JsClient, redis, request_with, url},
};

const SECRET: &str = "a-test-secret-that-is-32-bytes-or-more";
const API_KEY: &str = "a-backend-key-0123456789-abcdefghijklmnop";

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token for `sub` signed with the instances' secret, with `claims` added (or replacing).
pub(crate) fn token(sub: &str, claims: Value) -> String {
    signed(sub, claims, SECRET)
}

/// A token of exactly `claims`, signed with the tests' secret.
fn raw(claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn signed(sub: &str, claims: Value, secret: &str) -> String {
    let mut all = json!({"sub": sub, "exp": now() + 3600});
    all.as_object_mut()
        .unwrap()
        .extend(claims.as_object().unwrap().clone());
    jsonwebtoken::encode(
        &Header::default(),
        &all,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// `n` instances on `redis` requiring tokens signed with [`SECRET`] for the audience
/// `gridcast-test`, with the publish API on.
pub(crate) async fn with_jwt(redis: &PrivateRedis, n: usize) -> Vec<Cluster> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut config = ServeConfig::new(vec![0], Some(redis.url()));
        config.static_dir = "/nonexistent-gridcast-dist".into();
        config.publish_timeout = Duration::from_millis(300);
        config.auth = AuthMode::Jwt;
        config.jwt_secret = Some(Secret::new(SECRET));
        config.jwt_audience = Some("gridcast-test".into());
        config.api_key = Some(Secret::new(API_KEY));
        out.push(Cluster::start(config).await.expect("instance starts"));
    }
    out
}

/// A client of `cluster` with `token` (and `auth` besides), past its `welcome`.
pub(crate) async fn connect(cluster: &Cluster, token: &str, auth: Value) -> (Probe, Welcome) {
    let mut all = json!({ "token": token });
    all.as_object_mut()
        .unwrap()
        .extend(auth.as_object().unwrap().clone());
    let mut probe = Probe::connect_with(&url(cluster), Some(all))
        .await
        .expect("a good token connects");
    let welcome = probe.welcome(WAIT).await.unwrap();
    probe.ignore(event::PRESENCE);
    (probe, welcome)
}

/// The reason the server gives for refusing a connection with `auth`.
async fn refused(cluster: &Cluster, auth: Option<Value>) -> String {
    match Probe::connect_with(&url(cluster), auth.clone()).await {
        Err(ProbeError::Session(SessionEnd::Refused(reason))) => reason,
        Err(other) => panic!("{auth:?}: not refused but {other}"),
        Ok(_) => panic!("{auth:?}: connected"),
    }
}

pub(crate) async fn ack<T: serde::de::DeserializeOwned>(
    probe: &mut Probe,
    name: &str,
    arg: Value,
) -> Reply<T> {
    let args = probe.emit_with_ack(name, vec![arg], WAIT).await.unwrap();
    serde_json::from_value(args[0].clone()).unwrap()
}

pub(crate) fn refused_with<T: std::fmt::Debug>(reply: Reply<T>) -> (RejectionCode, String) {
    match reply {
        Reply::Err(error) => (error.code, error.message),
        Reply::Ok(body) => panic!("accepted: {body:?}"),
    }
}

/// The next `direct` a probe gets: its text.
async fn next_direct(probe: &mut Probe) -> String {
    let args = probe.next_event(event::DIRECT, WAIT).await.unwrap();
    args[0]["text"].as_str().unwrap().to_owned()
}

/// A JWT of `header` and `claims` as JSON, with an empty signature.
fn unsigned(header: &str, claims: &str) -> String {
    format!(
        "{}.{}.",
        base64url(header.as_bytes()),
        base64url(claims.as_bytes())
    )
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn bad_tokens_are_refused_readably_at_connect_and_counted() {
    let redis = redis().await;
    let cluster = with_jwt(&redis, 1).await;
    let instance = &cluster[0];
    let aud = json!({"aud": "gridcast-test"});
    let claims = format!(
        r#"{{"sub":"mallory","exp":{},"aud":"gridcast-test"}}"#,
        now() + 60
    );
    for (auth, says) in [
        (None, "requires a token"),
        (Some(json!({"session": "0123"})), "requires a token"),
        (Some(json!({"token": 42})), "requires a token"),
        (
            Some(json!({"token": token("ada", json!({"aud": "gridcast-test", "exp": now() - 5}))})),
            "expired",
        ),
        (
            Some(
                json!({"token": token("ada", json!({"aud": "gridcast-test", "nbf": now() + 600}))}),
            ),
            "not valid yet",
        ),
        (
            Some(
                json!({"token": signed("ada", aud.clone(), "another-secret-that-is-32-bytes-long!!")}),
            ),
            "signature does not verify",
        ),
        (
            Some(json!({"token": token("ada", json!({"aud": "another-server"}))})),
            "not issued for this server",
        ),
        (
            Some(json!({"token": token("ada", json!({}))})),
            "not issued for this server",
        ),
        // The classic forgeries: no signature at all, and no algorithm.
        (
            Some(json!({"token": unsigned(r#"{"alg":"none","typ":"JWT"}"#, &claims)})),
            "not a JWT gridcast can read",
        ),
        (
            Some(json!({"token": unsigned(r#"{"alg":"HS256","typ":"JWT"}"#, &claims)})),
            "signature does not verify",
        ),
        (
            Some(json!({"token": "not.a.jwt"})),
            "not a JWT gridcast can read",
        ),
        // Signed, but its claims do not fit: each told what is wrong, none of its values.
        (
            Some(json!({"token": raw(json!({"aud": "gridcast-test", "exp": now() + 60}))})),
            "it has no sub claim",
        ),
        (
            Some(json!({"token": token("adm\u{202E}nimda", aud.clone())})),
            "invisible or control character (U+202E)",
        ),
        (
            Some(json!({"token": token("", aud.clone())})),
            "its sub is empty",
        ),
        (
            Some(json!({"token": token("ada", json!({"aud": "gridcast-test", "rooms": "ops"}))})),
            "a claim has the wrong type",
        ),
        // Longer than the 8 KiB read: refused before any decoding.
        (
            Some(json!({"token": "x".repeat(10_000)})),
            "10000 bytes, more than the 8192 read",
        ),
    ] {
        let reason = refused(instance, auth.clone()).await;
        assert!(reason.contains(says), "{auth:?}: {reason}");
        assert!(
            !reason.contains("mallory") && reason.len() < 200,
            "{reason}"
        );
    }

    // The official client reads the same reason in its `connect_error`.
    for transport in ["websocket", "polling"] {
        let message = JsClient::refused(&url(instance), transport, None).await;
        assert!(message.contains("requires a token"), "{message}");
        let expired = token("ada", json!({"aud": "gridcast-test", "exp": now() - 5}));
        let message = JsClient::refused(&url(instance), transport, Some(&expired)).await;
        assert!(message.contains("token expired"), "{message}");
    }

    let metrics = get(&format!("{}/metrics", url(instance))).await;
    for (cause, count) in [
        ("missing", 5),
        ("expired", 3),
        ("not_yet", 1),
        ("elsewhere", 2),
        ("signature", 2),
        ("malformed", 7),
    ] {
        let line = format!("gridcast_refused_tokens_total{{cause=\"{cause}\"}} {count}");
        assert!(metrics.contains(&line), "no {line:?} in\n{metrics}");
    }
    // Nobody got in.
    assert!(metrics.contains("gridcast_clients 0"), "{metrics}");

    // An audience may also be a list (RFC 7519): one of them is this server.
    let listed = token("ada", json!({"aud": ["another-server", "gridcast-test"]}));
    let (_, welcome) = connect(instance, &listed, json!({})).await;
    assert_eq!(welcome.user.unwrap().sub, "ada");
}

#[tokio::test]
async fn the_claims_decide_the_name_the_rooms_and_who_sends_to_everyone() {
    let redis = redis().await;
    let cluster = with_jwt(&redis, 2).await;
    let ops_only = json!({"aud": "gridcast-test", "rooms": ["ops", "team-*"]});
    let (mut alice, welcome) =
        connect(&cluster[0], &token("alice", ops_only.clone()), json!({})).await;
    let user = welcome.user.expect("welcome tells who the client is");
    assert_eq!(
        (user.sub.as_str(), user.rooms.clone(), user.broadcast),
        ("alice", vec!["ops".to_owned(), "team-*".to_owned()], false)
    );
    assert!(user.expires > now() + 3000);
    let everyone = json!({"aud": "gridcast-test", "broadcast": true});
    let (mut bob, _) = connect(&cluster[1], &token("bob", everyone), json!({})).await;

    // The name is the token's subject.
    let me = member(op(&mut alice, event::JOIN, json!({"room": "ops"})).await);
    assert_eq!(me.name, "alice");
    let (code, message) = refusal(op(&mut alice, event::SET_NAME, json!({"name": "bob"})).await);
    assert_eq!(code, RejectionCode::Forbidden, "{message}");
    assert!(message.contains("sub"), "{message}");

    // Rooms: exact names and prefixes, nothing else.
    let me = member(op(&mut alice, event::JOIN, json!({"room": "team-blue"})).await);
    assert_eq!(me.rooms, vec!["ops", "team-blue"]);
    for room in ["secrets", "team", "opsx", "Ops"] {
        let (code, message) = refusal(op(&mut alice, event::JOIN, json!({ "room": room })).await);
        assert_eq!(code, RejectionCode::Forbidden, "{room}: {message}");
        assert!(message.contains(room), "{message}");
    }
    // Bob's token names no room.
    let (code, _) = refusal(op(&mut bob, event::JOIN, json!({"room": "ops"})).await);
    assert_eq!(code, RejectionCode::Forbidden);

    // Sending to everyone takes the broadcast claim.
    let (code, message) =
        refused_with(ack::<Sent>(&mut alice, event::MESSAGE, json!("hi all")).await);
    assert_eq!(code, RejectionCode::Forbidden, "{message}");
    assert!(message.contains("broadcast"), "{message}");
    let Reply::Ok(_) = ack::<Sent>(&mut bob, event::MESSAGE, json!("bob to all")).await else {
        panic!("bob may broadcast")
    };
    assert_eq!(alice.next_message(WAIT).await.unwrap().0, "bob to all");
    // Alice's refused broadcast reached nobody.
    assert!(
        bob.drain(QUIET).await.iter().all(
            |e| !matches!(e, Incoming::Event { args, .. } if args.first() == Some(&json!("hi all")))
        ),
        "a refused broadcast was delivered"
    );

    // The official client connects with a token too, and sends a plain string as the reference
    // setup does.
    let carol = token("carol", json!({"aud": "gridcast-test", "broadcast": true}));
    let mut js = JsClient::connect_with_token(&url(&cluster[1]), "websocket", &carol).await;
    js.command(json!({"emit": ["message", "from the stock client"]}))
        .await;
    assert_eq!(
        alice.next_message(WAIT).await.unwrap().0,
        "from the stock client"
    );
    let echoed = js.next_event(event::MESSAGE).await;
    assert_eq!(echoed[0], "from the stock client");
}

#[tokio::test]
async fn a_direct_message_reaches_every_socket_of_its_user_on_every_instance() {
    let redis = redis().await;
    let cluster = with_jwt(&redis, 2).await;
    let aud = json!({"aud": "gridcast-test"});
    let alice = token("alice", aud.clone());
    let (mut phone, _) = connect(&cluster[0], &alice, json!({})).await;
    let (mut laptop, _) = connect(&cluster[1], &alice, json!({})).await;
    let (mut bob, _) = connect(&cluster[1], &token("bob", aud.clone()), json!({})).await;
    let (mut eve, _) = connect(&cluster[0], &token("eve", aud), json!({})).await;

    let Reply::Ok(_) = ack::<Sent>(
        &mut bob,
        event::DIRECT,
        json!({"to": "alice", "text": "psst"}),
    )
    .await
    else {
        panic!("a direct to a user is taken")
    };
    assert_eq!(next_direct(&mut phone).await, "psst");
    assert_eq!(next_direct(&mut laptop).await, "psst");
    // The sender gets its copy; nobody else does.
    assert_eq!(next_direct(&mut bob).await, "psst");

    // A backend reaches the user the same way.
    let (status, _, answer) = request_with(
        "POST",
        &format!("{}/api/publish", url(&cluster[1])),
        r#"{"to":{"user":"alice"},"text":"from the backend"}"#,
        &[("Authorization", &format!("Bearer {API_KEY}"))],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(next_direct(&mut phone).await, "from the backend");
    assert_eq!(next_direct(&mut laptop).await, "from the backend");

    for probe in [&mut phone, &mut laptop, &mut bob, &mut eve] {
        let extra: Vec<_> = probe
            .drain(QUIET)
            .await
            .into_iter()
            .filter(|e| matches!(e, Incoming::Event { event, .. } if event == event::DIRECT))
            .collect();
        assert!(extra.is_empty(), "more directs: {extra:?}");
    }
}

#[tokio::test]
async fn a_session_is_resumed_only_by_the_user_it_was_made_for() {
    let redis = redis().await;
    let cluster = with_jwt(&redis, 1).await;
    let aud = json!({"aud": "gridcast-test", "rooms": ["*"]});
    let alice = token("alice", aud.clone());
    let (mut first, welcome) = connect(&cluster[0], &alice, json!({})).await;
    member(op(&mut first, event::JOIN, json!({"room": "ops"})).await);
    drop(first);

    // Mallory holds alice's session token (leaked): with her own token she is a new client.
    let mallory = token("mallory", aud);
    let (_m, stolen) = connect(&cluster[0], &mallory, json!({"session": welcome.session})).await;
    assert!(!stolen.restored);
    assert_ne!(stolen.id, welcome.id);
    assert_eq!(stolen.user.unwrap().sub, "mallory");

    // Alice gets her identity back.
    let (mut back, again) = connect(&cluster[0], &alice, json!({"session": welcome.session})).await;
    assert!(again.restored);
    assert_eq!(again.id, welcome.id);
    let mut me = member(op(&mut back, event::JOIN, json!({"room": "more"})).await);
    me.rooms.sort();
    assert_eq!(me.rooms, vec!["more", "ops"]);
}

#[tokio::test]
async fn gridcast_token_makes_a_token_the_server_takes() {
    let redis = redis().await;
    let cluster = with_jwt(&redis, 1).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridcast"))
        .args([
            "token",
            "--sub",
            "ops-bot",
            "--rooms",
            "ops,alerts-*",
            "--ttl",
            "10m",
        ])
        .args(["--audience", "gridcast-test"])
        .env("GRIDCAST_JWT_SECRET", SECRET)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let (_probe, welcome) = connect(&cluster[0], printed.trim(), json!({})).await;
    let user = welcome.user.unwrap();
    assert_eq!(user.sub, "ops-bot");
    assert_eq!(user.rooms, vec!["ops", "alerts-*"]);
    assert!(
        (now() + 590..=now() + 600).contains(&user.expires),
        "{}",
        user.expires
    );

    // A short secret is refused by both commands.
    for args in [
        &["serve", "--auth", "jwt", "--ports", "0"][..],
        &["token", "--sub", "ops-bot"],
    ] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridcast"))
            .args(args)
            .env("GRIDCAST_JWT_SECRET", "short")
            .env("REDIS_URL", redis.url())
            .output()
            .await
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(said.contains("at least 32"), "{args:?}: {said}");
    }
}
