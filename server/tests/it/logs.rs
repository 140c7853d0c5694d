//! What reaches a `gridcast` process's log, at the most verbose level an operator can ask for:
//! never a session token nor an Engine.IO session id (a polling session's credential), although
//! socketioxide, engineioxide and tungstenite log both at `debug` and `trace`.

use gridcast_server::tools::probe::Probe;
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::support::{WAIT, connect_with_retry, redis, request, spawn_gridcast_logging};

#[tokio::test]
async fn no_session_token_or_session_id_reaches_the_log_even_at_trace() {
    let redis = redis().await;
    let port = gridcast_server::free_port().unwrap();
    let mut server = spawn_gridcast_logging(port, &redis.url(), &[], None, true, "trace");
    let mut stderr = server.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut log = Vec::new();
        let _ = stderr.read_to_end(&mut log).await;
        String::from_utf8_lossy(&log).into_owned()
    });
    let base = format!("http://127.0.0.1:{port}");
    connect_with_retry(&base).await.close();

    // A WebSocket client is given a token, and comes back with it (in its CONNECT auth).
    let mut first = Probe::connect(&base).await.unwrap();
    let token = first.welcome(WAIT).await.unwrap().session;
    let mut sids = vec![first.sid().to_owned()];
    first.close();
    let mut again = Probe::connect_with(&base, Some(json!({ "session": token })))
        .await
        .unwrap();
    assert!(again.welcome(WAIT).await.unwrap().restored);
    sids.push(again.sid().to_owned());
    again
        .emit_with_ack("message", vec![json!("hello")], WAIT)
        .await
        .unwrap();

    // A polling client does the same, and reads its `welcome` (with the token) in a poll.
    let engine = format!("{base}/socket.io/?EIO=4&transport=polling");
    let (_, open) = request("GET", &engine, "").await;
    let sid = open.split('"').nth(3).unwrap().to_owned();
    let polled = format!("{engine}&sid={sid}");
    let connect = format!("40{}", json!({ "session": token }));
    assert_eq!(request("POST", &polled, &connect).await, (200, "ok".into()));
    let mut seen = String::new();
    while !seen.contains(&token) {
        let (status, body) = request("GET", &polled, "").await;
        assert_eq!(status, 200, "{body}");
        seen.push_str(&body);
    }
    sids.push(sid);

    server.start_kill().unwrap();
    let log = tokio::time::timeout(WAIT, log).await.unwrap().unwrap();
    // The log is as verbose as it gets (gridcast's own debug lines are there) ...
    assert!(log.contains("client connected"), "{log}");
    // ... and holds no secret.
    assert!(!log.contains(&token), "the session token was logged");
    for sid in sids {
        assert!(!log.contains(&sid), "session id {sid} was logged");
    }
}
