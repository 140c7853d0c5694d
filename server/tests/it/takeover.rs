//! A session is used by one socket at a time (issue 20, part 6): a second socket that comes with
//! a session token takes the session over, on any instance; the old socket is told
//! (`session_taken`) and closed, and only the new one gets the session's direct messages. Two
//! instances in separate `gridcast` processes on one Redis.

use std::time::Duration;

use gridcast_server::tools::probe::{Incoming, Probe};
use gridcast_shared::{Reply, Sent, Welcome, event};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    ghosts::{Pair, listed},
    support::{QUIET, WAIT, connect_with_retry},
};

/// The event that tells a socket its session was taken over (spelled out, so that this file
/// builds against servers without it, to show it failing there).
const SESSION_TAKEN: &str = "session_taken";

/// A probe connected to `base` with session `token`, and its welcome (`None` when it was closed
/// before its welcome came).
async fn with_token(base: &str, token: &str) -> (Probe, Option<Welcome>) {
    let mut probe = Probe::connect_with(base, Some(json!({ "session": token })))
        .await
        .unwrap();
    let welcome = probe.welcome(WAIT).await.ok();
    probe.ignore(event::PRESENCE);
    (probe, welcome)
}

/// Whether a probe welcomed as `welcome` (`None`: closed before) is closed within `within`.
async fn gone(probe: &mut Probe, welcome: &Option<Welcome>, within: Duration) -> bool {
    welcome.is_none() || closed(probe, within).await.0
}

/// Whether `probe` is closed within `within`: what it got until then (`session_taken`'s
/// payload, if it came).
async fn closed(probe: &mut Probe, within: Duration) -> (bool, Option<Value>) {
    let deadline = Instant::now() + within;
    let mut taken = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match probe.next(left).await {
            Ok(Incoming::Closed(_)) => return (true, taken),
            Ok(Incoming::Event { event, args, .. }) if event == SESSION_TAKEN => {
                taken = args.into_iter().next();
            }
            Ok(_) => {}
            Err(_) => return (false, taken),
        }
    }
}

async fn direct(from: &mut Probe, to: &str, text: &str) {
    let ack = from
        .emit_with_ack(event::DIRECT, vec![json!({"to": to, "text": text})], WAIT)
        .await
        .unwrap();
    assert!(
        matches!(
            serde_json::from_value(ack[0].clone()),
            Ok(Reply::<Sent>::Ok(_))
        ),
        "{ack:?}"
    );
}

#[tokio::test]
async fn a_second_socket_with_a_session_token_takes_it_over_and_the_first_is_told_and_closed() {
    let pair = Pair::start(&[], false).await;
    let mut first = Probe::connect(&pair.urls[0]).await.unwrap();
    let welcome = first.welcome(WAIT).await.unwrap();
    first.ignore(event::PRESENCE);
    let mut sender = connect_with_retry(&pair.urls[0]).await;
    let mut bystander = connect_with_retry(&pair.urls[1]).await;

    // The same token on the other instance: the same public id, and the session moves there.
    let (mut second, again) = with_token(&pair.urls[1], &welcome.session).await;
    let again = again.expect("the second socket is welcomed");
    assert!(again.restored);
    assert_eq!(again.id, welcome.id);
    let (gone, taken) = closed(&mut first, WAIT).await;
    let taken = taken.expect("the first socket is told its session was taken over");
    let port = pair.urls[1].rsplit(':').next().unwrap();
    let at = taken["instance_url"].as_str().unwrap_or_default();
    assert!(at.ends_with(&format!(":{port}")), "{taken}");
    assert!(gone, "the first socket is closed");

    // The session's direct messages reach the new socket; the bystander loses nothing.
    direct(&mut sender, &welcome.id, "for the session").await;
    let got = second.next_event(event::DIRECT, WAIT).await.unwrap();
    assert_eq!(got[0]["text"], "for the session");
    let ack = sender
        .emit_with_ack(event::MESSAGE, vec![json!("to all")], WAIT)
        .await
        .unwrap();
    assert_eq!(ack[0]["ok"], true);
    assert_eq!(
        bystander.next_event(event::MESSAGE, WAIT).await.unwrap()[0],
        "to all"
    );
    // Presence lists the session once, on its new instance, and keeps it there.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mine: Vec<_> = listed(&mut sender)
        .await
        .into_iter()
        .filter(|m| m.id == welcome.id)
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert!(
        mine[0].instance_url.ends_with(&format!(":{port}")),
        "{mine:?}"
    );
    let (second_gone, _) = closed(&mut second, QUIET).await;
    assert!(!second_gone, "the new socket stays");
}

/// Two sockets connecting with one token at the same moment (neither can see the other while it
/// is still connecting): at least one of them goes, never neither.
#[tokio::test]
async fn two_sockets_connecting_with_one_token_at_once_do_not_both_stay() {
    let pair = Pair::start(&[], false).await;
    let mut sender = connect_with_retry(&pair.urls[0]).await;
    for round in 0..4 {
        let mut owner = Probe::connect(&pair.urls[round % 2]).await.unwrap();
        let welcome = owner.welcome(WAIT).await.unwrap();
        // Listed once its session is saved (the connect handler saves, then announces).
        let deadline = Instant::now() + WAIT;
        while !listed(&mut sender).await.iter().any(|m| m.id == welcome.id) {
            assert!(Instant::now() < deadline, "never listed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        owner.close();
        let ((mut x, x_welcome), (mut y, y_welcome)) = tokio::join!(
            with_token(&pair.urls[0], &welcome.session),
            with_token(&pair.urls[1], &welcome.session)
        );
        for w in [&x_welcome, &y_welcome].into_iter().flatten() {
            assert!(w.restored && w.id == welcome.id, "{w:?}");
        }
        // One goes within WAIT (the other then has a moment to go too, rarely).
        let first_gone = tokio::select! {
            gone_x = gone(&mut x, &x_welcome, WAIT) => if gone_x { Some(true) } else { None },
            gone_y = gone(&mut y, &y_welcome, WAIT) => if gone_y { Some(false) } else { None },
        };
        let (x_gone, y_gone) = match first_gone {
            Some(true) => (true, gone(&mut y, &y_welcome, Duration::from_secs(1)).await),
            Some(false) => (gone(&mut x, &x_welcome, Duration::from_secs(1)).await, true),
            None => (false, false),
        };
        println!("round {round}: first gone {x_gone}, second gone {y_gone}");
        assert!(
            x_gone || y_gone,
            "round {round}: both sockets kept the session"
        );
        // Whichever stayed gets the session's direct messages alone.
        direct(&mut sender, &welcome.id, "still one").await;
        for (gone, probe) in [(x_gone, &mut x), (y_gone, &mut y)] {
            if !gone {
                let got = probe.next_event(event::DIRECT, WAIT).await.unwrap();
                assert_eq!(got[0]["text"], "still one");
            }
        }
    }
}
