//! The official Admin UI's protocol on `/admin`, spoken by the official socket.io-client under
//! Node.js (interop/admin-client.mjs): logins refused and accepted, read-only mode, `config`,
//! `server_stats` and `all_sockets` from two instances in separate processes, the live events,
//! every operation on a socket of the other instance, no Engine.IO session id anywhere, and no
//! admin traffic at all while no Admin UI is connected. The page itself: `browser::admin`.

use std::time::{Duration, Instant};

use gridcast_server::{
    Cluster, PrivateRedis, ServeConfig, cli::Secret, free_port, tools::probe::Probe,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{
    QUIET, WAIT,
    admin::{AdminClient, PASSWORD},
    connect_with_retry, redis, request, request_with,
    scenario::change,
    spawn_gridcast_with, url,
};

/// One in-process instance on `redis` under key prefix `prefix`, the Admin UI on with the tests'
/// password when `password`, read-only when `read_only`.
pub(crate) async fn instance(
    redis: &PrivateRedis,
    prefix: &str,
    password: bool,
    read_only: bool,
) -> Cluster {
    let mut config = ServeConfig::new(vec![0], Some(redis.url()));
    config.static_dir = "/nonexistent-gridcast-dist".into();
    config.redis_prefix = prefix.to_owned();
    config.admin_password = password.then(|| Secret::new(PASSWORD));
    config.admin_read_only = read_only;
    Cluster::start(config).await.expect("instance starts")
}

const ALL_FEATURES: [&str; 9] = [
    "EMIT",
    "JOIN",
    "LEAVE",
    "DISCONNECT",
    "MJOIN",
    "MLEAVE",
    "MDISCONNECT",
    "AGGREGATED_EVENTS",
    "ALL_EVENTS",
];

#[tokio::test]
async fn logins_are_refused_without_a_password_configured_or_with_wrong_credentials() {
    let redis = redis().await;
    let off = instance(&redis, "adm-login", false, false).await;
    let a = instance(&redis, "adm-login", true, false).await;
    let b = instance(&redis, "adm-login", true, false).await;

    let mut refused = AdminClient::start(
        &url(&off),
        "websocket",
        json!({"username": "admin", "password": PASSWORD}),
    )
    .await;
    let error = refused.next_of("connect_error").await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("--admin-password"), "{message}");

    for auth in [
        json!({"username": "admin", "password": "wrong"}),
        json!({"username": "root", "password": PASSWORD}),
        json!({}),
        json!({"sessionId": "0123456789abcdef0123456789abcdef"}),
    ] {
        let started = Instant::now();
        let mut refused = AdminClient::start(&url(&a), "websocket", auth.clone()).await;
        let error = refused.next_of("connect_error").await;
        assert_eq!(error["message"], "invalid credentials", "{auth}");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "a refusal is answered after a pause"
        );
    }

    // The password over polling, as the Admin UI connects by default.
    let mut admin = AdminClient::logged_in(&url(&a), "polling").await;
    let session = admin.event("session").await;
    let session = session[0].as_str().unwrap().to_owned();
    assert!(
        session.len() == 32 && session.bytes().all(|b| b.is_ascii_hexdigit()),
        "{session}"
    );
    assert_eq!(
        admin.event("config").await[0]["supportedFeatures"],
        json!(ALL_FEATURES)
    );
    assert!(admin.event("all_sockets").await[0].is_array());

    // The session logs in on the other instance too, without the password.
    let mut again =
        AdminClient::start(&url(&b), "websocket", json!({ "sessionId": session })).await;
    again.next_of("connected").await;
    assert_eq!(
        again.event("config").await[0]["supportedFeatures"],
        json!(ALL_FEATURES)
    );
    again.settle(QUIET).await;
    assert!(
        !again.transcript.contains("\"session\""),
        "{}",
        again.transcript
    );
}

#[tokio::test]
async fn read_only_mode_offers_and_does_no_operation() {
    let redis = redis().await;
    let cluster = instance(&redis, "adm-ro", true, true).await;
    let mut probe = connect_with_retry(&url(&cluster)).await;
    let mut admin = AdminClient::logged_in(&url(&cluster), "websocket").await;
    assert_eq!(
        admin.event("config").await[0]["supportedFeatures"],
        json!(["AGGREGATED_EVENTS", "ALL_EVENTS"])
    );
    let listed = admin.event("all_sockets").await;
    assert!(listed[0].to_string().contains(probe.id()), "{listed:?}");
    for op in [
        json!(["join", "/", "ops", probe.id()]),
        json!(["leave", "/", "ops", probe.id()]),
        json!(["_disconnect", "/", false, probe.id()]),
        json!(["emit", "/", probe.id(), "hello", {}]),
    ] {
        let reply = admin.emit_ack(op.clone()).await;
        assert_eq!(reply["ok"], false, "{op}: {reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .contains("read-only"),
            "{reply}"
        );
    }
    // Still connected, in no room.
    let page = probe.emit_with_ack("presence", vec![], WAIT).await.unwrap();
    let me = page[0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == probe.id())
        .cloned()
        .unwrap();
    assert_eq!(me["rooms"], json!([]), "{me}");
}

/// `gridcast serve` with the Admin UI on, in its own process; its URL.
fn admin_process(redis: &PrivateRedis) -> (tokio::process::Child, String) {
    let port = free_port().unwrap();
    let modules = crate::support::repo("admin/node_modules");
    let child = spawn_gridcast_with(
        port,
        &redis.url(),
        &[
            "--admin-password",
            PASSWORD,
            "--admin-ui-dir",
            &modules.to_string_lossy(),
        ],
        None,
        false,
    );
    (child, format!("http://localhost:{port}"))
}

/// Whether `socket` (an Admin UI socket object) is `id`, in `rooms` (and maybe others).
fn listed_as(socket: &Value, id: &str, rooms: &[&str]) -> bool {
    socket["id"] == id
        && rooms.iter().all(|r| {
            socket["rooms"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|x| x == r))
        })
}

/// Polls `probe`'s presence page until `member` is in `room` (or not, `in_room`).
async fn presence_shows(probe: &mut Probe, member: &str, room: &str, in_room: bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let page = probe.emit_with_ack("presence", vec![], WAIT).await.unwrap();
        let shown =
            page[0]["members"].as_array().unwrap().iter().any(|m| {
                m["id"] == member && m["rooms"].as_array().unwrap().iter().any(|r| r == room)
            });
        if shown == in_room {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "presence never showed {member} in {room}: {in_room}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_admin_ui_sees_and_acts_on_both_instances_of_a_cluster_in_two_processes() {
    let redis = redis().await;
    let (_one, url1) = admin_process(&redis);
    let (_two, url2) = admin_process(&redis);
    let mut a = connect_with_retry(&url1).await;
    let mut b = connect_with_retry(&url2).await;
    change(&mut b, "join", json!({"room": "ops"})).await;

    let mut admin = AdminClient::logged_in(&url1, "websocket").await;
    admin.event("session").await;
    assert_eq!(
        admin.event("config").await[0]["supportedFeatures"],
        json!(ALL_FEATURES)
    );

    // The whole cluster's sockets, by public id, with their rooms (the own one named after it).
    let listed = admin.event("all_sockets").await[0]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        listed.iter().any(|s| listed_as(s, a.id(), &[a.id()])),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|s| listed_as(s, b.id(), &["ops", b.id()])),
        "{listed:?}"
    );
    assert!(listed.iter().all(|s| s["nsp"] == "/"), "{listed:?}");
    // Described by its own instance a moment later: transport and handshake.
    let update = admin
        .event_where("socket_updated", |args| args[0]["id"] == b.id())
        .await;
    assert_eq!(update[0]["transport"], "websocket", "{update:?}");
    assert_eq!(update[0]["handshake"]["query"]["EIO"], "4", "{update:?}");

    // Stats from both instances, every 2 s.
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 {
        let stats = admin.event("server_stats").await.remove(0);
        assert!(
            stats["hostname"].as_str().is_some_and(|h| !h.is_empty()),
            "{stats}"
        );
        assert!(
            stats["pid"].as_u64().is_some() && stats["uptime"].as_f64().is_some(),
            "{stats}"
        );
        assert!(stats["clientsCount"].as_u64().unwrap() >= 1, "{stats}");
        assert!(stats["pollingClientsCount"].is_u64(), "{stats}");
        assert!(
            stats["namespaces"].to_string().contains("\"/admin\""),
            "{stats}"
        );
        seen.insert(stats["serverId"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        seen,
        [url1.clone(), url2.clone()].into_iter().collect(),
        "serverId is the URL"
    );

    // Live events of a socket of the other instance.
    let mut c = connect_with_retry(&url2).await;
    let connected = admin
        .event_where("socket_connected", |args| args[0]["id"] == c.id())
        .await;
    assert_eq!(connected[0]["transport"], "websocket", "{connected:?}");
    assert_eq!(
        connected[0]["data"]["instance"],
        url2.as_str(),
        "{connected:?}"
    );
    assert!(
        connected[1].as_str().unwrap().ends_with('Z'),
        "a date: {connected:?}"
    );
    change(&mut c, "join", json!({"room": "blue"})).await;
    let joined = admin
        .event_where("room_joined", |args| args[2] == c.id())
        .await;
    assert_eq!(joined[..3], [json!("/"), json!("blue"), json!(c.id())]);
    change(&mut c, "leave", json!({"room": "blue"})).await;
    let left = admin
        .event_where("room_left", |args| args[2] == c.id())
        .await;
    assert_eq!(left[..3], [json!("/"), json!("blue"), json!(c.id())]);
    let (c_id, c_sid) = (c.id().to_owned(), c.sid().to_owned());
    c.close();
    let gone = admin
        .event_where("socket_disconnected", |args| args[1] == c_id.as_str())
        .await;
    assert_eq!(gone[0], "/");
    assert!(gone[2].is_string(), "a reason: {gone:?}");
    // Counted per second by instance 2.
    admin
        .event_where("server_stats", |args| {
            args[0]["serverId"] == url2.as_str()
                && args[0]["aggregatedEvents"]
                    .to_string()
                    .contains("rawDisconnection")
        })
        .await;

    // The operations, from instance 1 on a socket of instance 2.
    let ok = json!({"ok": true});
    assert_eq!(
        admin.emit_ack(json!(["join", "/", "green", b.id()])).await,
        ok
    );
    admin
        .event_where("room_joined", |args| {
            args[1] == "green" && args[2] == b.id()
        })
        .await;
    // gridcast's own state follows: presence (what gridcast's UI shows) has b in the room.
    presence_shows(&mut a, b.id(), "green", true).await;

    assert_eq!(
        admin
            .emit_ack(json!(["emit", "/", b.id(), "admin_note", {"n": 1}]))
            .await,
        ok
    );
    assert_eq!(
        b.next_event("admin_note", WAIT).await.unwrap(),
        [json!({"n": 1})]
    );
    let refused = admin
        .emit_ack(json!(["emit", "/", b.id(), "admin_note", "text"]))
        .await;
    assert_eq!(refused["ok"], false, "a string last argument: {refused}");
    // A room as the filter: b is in `ops`, a is not.
    assert_eq!(
        admin
            .emit_ack(json!(["emit", "/", "ops", "admin_note", {"n": 2}]))
            .await,
        ok
    );
    assert_eq!(
        b.next_event("admin_note", WAIT).await.unwrap(),
        [json!({"n": 2})]
    );

    assert_eq!(
        admin.emit_ack(json!(["leave", "/", "green", b.id()])).await,
        ok
    );
    admin
        .event_where("room_left", |args| args[1] == "green" && args[2] == b.id())
        .await;
    presence_shows(&mut a, b.id(), "green", false).await;

    // As the Admin UI sends it: no ack.
    let (b_id, b_sid) = (b.id().to_owned(), b.sid().to_owned());
    admin.emit(json!(["_disconnect", "/", false, b_id])).await;
    admin
        .event_where("socket_disconnected", |args| args[1] == b_id.as_str())
        .await;
    let rest = b.drain(WAIT).await;
    assert!(
        matches!(
            rest.last(),
            Some(gridcast_server::tools::probe::Incoming::Closed(_))
        ),
        "b was disconnected: {rest:?}"
    );
    assert!(
        a.drain(QUIET)
            .await
            .iter()
            .all(|i| !format!("{i:?}").contains("admin_note")),
        "a got nothing meant for b"
    );

    // Nothing the Admin UI got names a socket by its Engine.IO session id.
    admin.settle(QUIET).await;
    for sid in [a.sid(), b_sid.as_str(), c_sid.as_str()] {
        assert!(
            !admin.transcript.contains(sid),
            "the session id {sid} reached the Admin UI"
        );
    }
}

#[tokio::test]
async fn no_admin_traffic_while_no_admin_ui_is_connected() {
    let redis = redis().await;
    let cluster = instance(&redis, "adm-quiet", true, false).await;
    // What the feed would publish: the adapter's broadcasts on `/admin`, and the admin bus.
    let mut listener = tokio::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "SSUBSCRIBE"])
        .args(["adm-quiet-request#/admin#", "adm-quiet:bus:admin"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-cli runs (apt-get install redis-tools)");
    let mut lines = BufReader::new(listener.stdout.take().unwrap()).lines();
    let mut next_line =
        async move |wait: Duration| match tokio::time::timeout(wait, lines.next_line()).await {
            Ok(Ok(line)) => line,
            _ => None,
        };
    // The two subscription confirmations (three lines each).
    for _ in 0..6 {
        next_line(WAIT).await.expect("subscribed");
    }

    for n in 0..10 {
        let mut probe = connect_with_retry(&url(&cluster)).await;
        change(&mut probe, "join", json!({"room": format!("r{n}")})).await;
        change(&mut probe, "leave", json!({"room": format!("r{n}")})).await;
        probe.close();
    }
    // Three stats periods: no stats either.
    let quiet = next_line(Duration::from_secs(5)).await;
    assert_eq!(quiet, None, "admin traffic with no Admin UI connected");

    // The same channels carry the Admin UI's traffic once one is connected.
    let _admin = AdminClient::logged_in(&url(&cluster), "websocket").await;
    assert!(
        next_line(WAIT).await.is_some(),
        "the listener hears the Admin UI's channels"
    );
}

#[tokio::test]
async fn the_page_is_served_with_its_fonts_from_npm_and_explains_when_it_is_not_installed() {
    let redis = redis().await;
    let modules = crate::support::repo("admin/node_modules");
    assert!(
        modules
            .join("@socket.io/admin-ui/ui/dist/index.html")
            .is_file(),
        "the Admin UI is not installed: run `./dev test` (or `npm ci --prefix admin`)"
    );
    let mut config = ServeConfig::new(vec![0], Some(redis.url()));
    config.static_dir = "/nonexistent-gridcast-dist".into();
    config.admin_ui_dir = modules;
    let cluster = Cluster::start(config).await.unwrap();
    let base = url(&cluster);

    let (status, head, _) = request_with("GET", &format!("{base}/admin"), "", &[]).await;
    assert_eq!(status, 308, "{head}");
    assert!(head.contains("location: /admin/"), "{head}");
    let (status, page) = request("GET", &format!("{base}/admin/"), "").await;
    assert_eq!(status, 200);
    assert!(page.contains("Socket.IO Admin UI"), "{page}");
    assert!(!page.contains("://"), "nothing from another site: {page}");
    // Every file the page names is served: scripts, styles, fonts.
    let linked: Vec<&str> = page
        .split(['"', '\''])
        .filter(|s| s.ends_with(".js") || s.ends_with(".css") || s.ends_with(".png"))
        .collect();
    assert!(linked.len() >= 6, "{linked:?}");
    for file in linked {
        let (status, _) = request("HEAD", &format!("{base}/admin/{file}"), "").await;
        assert_eq!(status, 200, "{file}");
    }
    let (status, css) = request("GET", &format!("{base}/admin/fonts/roboto/400.css"), "").await;
    assert_eq!(status, 200);
    let font = css
        .split("url(./")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let (status, _) = request("HEAD", &format!("{base}/admin/fonts/roboto/{font}"), "").await;
    assert_eq!(status, 200, "{font}");
    let (status, _) = request(
        "HEAD",
        &format!("{base}/admin/fonts/mdi/fonts/materialdesignicons-webfont.woff2"),
        "",
    )
    .await;
    assert_eq!(status, 200);

    let mut config = ServeConfig::new(vec![0], Some(redis.url()));
    config.static_dir = "/nonexistent-gridcast-dist".into();
    config.admin_ui_dir = "/nonexistent-admin-modules".into();
    let cluster = Cluster::start(config).await.unwrap();
    let (status, page) = request("GET", &format!("{}/admin/", url(&cluster)), "").await;
    assert_eq!(status, 503);
    assert!(page.contains("npm ci --prefix admin"), "{page}");
}
