//! A token's expiry on a live connection (`--auth jwt`): the connection closes at `exp` unless a
//! `refresh` brought a fresh token for the same user first; a refresh to an earlier `exp` closes it
//! then; an `exp` far in the future is still watched.

use std::time::Duration;

use gridcast_server::tools::probe::{Incoming, ProbeError};
use gridcast_shared::{
    RejectionCode, event,
    reply::{Refreshed, Reply},
};
use serde_json::{Value, json};

use crate::{
    auth::{ack, connect, now, refused_with, token, with_jwt},
    presence::{member, op, refusal},
    support::{WAIT, redis},
};

#[tokio::test]
async fn an_expired_token_closes_its_connection_unless_refreshed_first() {
    let redis = redis().await;
    let cluster = with_jwt(&redis, 1).await;
    let short = |sub: &str, rooms: Value| {
        token(
            sub,
            json!({"aud": "gridcast-test", "exp": now() + 2, "rooms": rooms}),
        )
    };
    let (mut lazy, _) = connect(&cluster[0], &short("lazy", json!([])), json!({})).await;
    let (mut keen, welcome) = connect(
        &cluster[0],
        &short("keen", json!(["ops", "old-*"])),
        json!({}),
    )
    .await;
    assert!(welcome.user.unwrap().expires <= now() + 2);
    member(op(&mut keen, event::JOIN, json!({"room": "ops"})).await);
    member(op(&mut keen, event::JOIN, json!({"room": "old-news"})).await);

    // Another user's token, an expired one, garbage: refused, the connection stays.
    let other = token("lazy", json!({"aud": "gridcast-test"}));
    let (code, message) =
        refused_with(ack::<Refreshed>(&mut keen, event::REFRESH, json!({ "token": other })).await);
    assert_eq!(code, RejectionCode::Forbidden, "{message}");
    let stale = token("keen", json!({"aud": "gridcast-test", "exp": now() - 1}));
    let (code, message) =
        refused_with(ack::<Refreshed>(&mut keen, event::REFRESH, json!({ "token": stale })).await);
    assert_eq!(code, RejectionCode::TokenExpired, "{message}");
    assert!(message.contains("expired"), "{message}");
    let (code, _) = refused_with(ack::<Refreshed>(&mut keen, event::REFRESH, json!("nope")).await);
    assert_eq!(code, RejectionCode::BadRequest);

    // A fresh token for an hour, which no longer allows `old-*`.
    let fresh = token("keen", json!({"aud": "gridcast-test", "rooms": ["ops"]}));
    let Reply::Ok(Refreshed { user }) =
        ack::<Refreshed>(&mut keen, event::REFRESH, json!({ "token": fresh })).await
    else {
        panic!("a fresh token for the same user is taken")
    };
    assert!(user.expires > now() + 3000);

    // The lazy one is told why, then closed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    let mut told = None;
    loop {
        match tokio::time::timeout_at(deadline, lazy.next(WAIT)).await {
            Ok(Ok(Incoming::Event { event, args, .. })) if event == event::ERROR => {
                told = Some(args[0].clone());
            }
            Ok(Ok(Incoming::Closed(_)) | Err(ProbeError::Closed)) => break,
            Ok(Ok(Incoming::Event { .. })) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("still connected past its token's expiry"),
        }
    }
    let told = told.expect("an error event before the close");
    assert_eq!(told["code"], "token_expired", "{told}");
    assert!(
        told["message"].as_str().unwrap().contains("refresh"),
        "{told}"
    );

    // The keen one is still here, in `ops` only, and can act.
    let me = member(op(&mut keen, event::LEAVE, json!({"room": "ops"})).await);
    assert!(me.rooms.is_empty(), "{:?}", me.rooms);
    let (code, _) = refusal(op(&mut keen, event::JOIN, json!({"room": "old-news"})).await);
    assert_eq!(code, RejectionCode::Forbidden);
}

/// Attack review: `refresh` "moves the connection's expiry", also to an earlier one. A client
/// that refreshes to a token expiring sooner (or is handed one) must be closed when *that* token
/// expires, not when the one it connected with would have: otherwise it keeps sending and
/// joining on the claims of an expired token.
#[tokio::test]
async fn a_refresh_to_an_earlier_expiry_closes_the_connection_at_that_expiry() {
    let redis = redis().await;
    let cluster = with_jwt(&redis, 1).await;
    let long = token(
        "shrinking",
        json!({"aud": "gridcast-test", "exp": now() + 60, "rooms": ["ops"]}),
    );
    let (mut probe, _) = connect(&cluster[0], &long, json!({})).await;
    let short = token(
        "shrinking",
        json!({"aud": "gridcast-test", "exp": now() + 2, "rooms": ["ops"]}),
    );
    let Reply::Ok(Refreshed { user }) =
        ack::<Refreshed>(&mut probe, event::REFRESH, json!({ "token": short })).await
    else {
        panic!("a fresh token for the same user is taken")
    };
    assert!(user.expires <= now() + 2, "{user:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    loop {
        match tokio::time::timeout_at(deadline, probe.next(WAIT)).await {
            Ok(Ok(Incoming::Closed(_)) | Err(ProbeError::Closed)) => break,
            Ok(Ok(_) | Err(ProbeError::Timeout(..))) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!(
                "still connected 6 s after refreshing to a token that expired after 2 s \
                 (welcome/refresh told it expires at {})",
                user.expires
            ),
        }
    }
}

/// Attack review: an `exp` far in the future (a valid, signed token: 10^17 s) must not break the
/// watch on the connection's expiry: `exp * 1000` overflows u64 in `refresh::expire` (a panic
/// in debug builds, a wrapped deadline in release), so the connection is never closed when a
/// later `refresh` brings a token that expires.
#[tokio::test]
async fn a_token_with_an_exp_far_in_the_future_keeps_the_expiry_watched() {
    let redis = redis().await;
    let cluster = with_jwt(&redis, 1).await;
    let far = token(
        "far",
        json!({"aud": "gridcast-test", "exp": 100_000_000_000_000_000u64}),
    );
    let (mut probe, welcome) = connect(&cluster[0], &far, json!({})).await;
    assert_eq!(welcome.user.unwrap().expires, 100_000_000_000_000_000);
    let short = token("far", json!({"aud": "gridcast-test", "exp": now() + 2}));
    let Reply::Ok(Refreshed { .. }) =
        ack::<Refreshed>(&mut probe, event::REFRESH, json!({ "token": short })).await
    else {
        panic!("a fresh token for the same user is taken")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    loop {
        match tokio::time::timeout_at(deadline, probe.next(WAIT)).await {
            Ok(Ok(Incoming::Closed(_)) | Err(ProbeError::Closed)) => break,
            Ok(Ok(_) | Err(ProbeError::Timeout(..))) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("still connected past its refreshed token's expiry"),
        }
    }
}
