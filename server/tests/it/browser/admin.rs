//! The official Socket.IO Admin UI (npm `@socket.io/admin-ui`, unmodified but for its font
//! links) served by the cluster at `/admin/`: logged in, it lists both instances, their sockets
//! and rooms, loads nothing from another site, and a room it joins a socket to shows in
//! gridcast's own page.

use fantoccini::elements::Element;

use super::*;
use crate::support::admin::PASSWORD;

/// Two instances in one process serving gridcast's UI and the Admin UI, its password set.
async fn admin_cluster(redis: &PrivateRedis) -> Cluster {
    let modules = crate::support::repo("admin/node_modules");
    assert!(
        modules
            .join("@socket.io/admin-ui/ui/dist/index.html")
            .is_file(),
        "the Admin UI is not installed: run `./dev test` (or `npm ci --prefix admin`)"
    );
    let mut config = ServeConfig::new(vec![0; 2], Some(redis.url()));
    config.static_dir = dist_dir();
    config.admin_ui_dir = modules;
    config.admin_password = Some(gridcast_server::cli::Secret::new(PASSWORD));
    Cluster::start(config).await.unwrap()
}

/// The public id of the client a gridcast page is, once its header shows it.
async fn own_id(page: &Client) -> String {
    let id = wait_js(
        page,
        "the page's public id in its header",
        "document.querySelector('#status')?.dataset.publicId || null",
        vec![],
    )
    .await;
    id.as_str().unwrap().to_owned()
}

async fn inputs(page: &Client, css: &str) -> Vec<Element> {
    page.find_all(Locator::Css(css)).await.unwrap()
}

#[tokio::test]
async fn the_official_admin_ui_sees_both_instances_and_its_joins_show_in_gridcasts_ui() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let cluster = admin_cluster(&redis).await;
    let urls = cluster.urls();
    let driver = Driver::start().await;

    // A gridcast page on each instance; the second joins #ops.
    let first = driver.browser().await;
    let second = driver.browser().await;
    first.goto(&urls[0]).await.unwrap();
    second.goto(&urls[1]).await.unwrap();
    wait_connected_to(&first, &urls[0]).await;
    wait_connected_to(&second, &urls[1]).await;
    type_into(&second, "#room-input", "ops").await;
    let (first_id, second_id) = (own_id(&first).await, own_id(&second).await);

    // The Admin UI, from instance 0, asks where to connect: there, as admin.
    let admin = driver.browser().await;
    admin.goto(&format!("{}/admin", urls[0])).await.unwrap();
    wait_js(
        &admin,
        "the Admin UI's login dialog",
        "document.querySelectorAll('.v-dialog--active input').length >= 3",
        vec![],
    )
    .await;
    assert!(
        admin
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/admin/#/")
    );
    let fields = inputs(&admin, ".v-dialog--active input").await;
    fields[0].send_keys(&urls[0]).await.unwrap();
    fields[1].send_keys("admin").await.unwrap();
    fields[2].send_keys(PASSWORD).await.unwrap();
    click(&admin, ".v-dialog--active button[type=submit]").await;
    wait_js(
        &admin,
        "the login dialog closed",
        "!document.querySelector('.v-dialog--active')",
        vec![],
    )
    .await;

    // Both instances report their stats.
    admin
        .execute("location.hash = '#/servers/'", vec![])
        .await
        .unwrap();
    wait_js(
        &admin,
        "both instances on the servers page",
        "document.body.innerText.includes(arguments[0]) && document.body.innerText.includes(arguments[1])",
        vec![json!(urls[0]), json!(urls[1])],
    )
    .await;
    wait_js(
        &admin,
        "both instances healthy",
        "[...document.querySelectorAll('tbody tr')].filter(tr => /healthy/i.test(tr.innerText) && !/unhealthy/i.test(tr.innerText)).length === 2",
        vec![],
    )
    .await;
    save_screenshot(&admin, "admin-ui-servers").await;
    // Both pages' sockets, by public id, and the room one joined.
    admin
        .execute("location.hash = '#/sockets/'", vec![])
        .await
        .unwrap();
    wait_js(
        &admin,
        "both gridcast pages on the sockets page",
        "document.body.innerText.includes(arguments[0]) && document.body.innerText.includes(arguments[1])",
        vec![json!(first_id), json!(second_id)],
    )
    .await;
    admin
        .execute("location.hash = '#/rooms/'", vec![])
        .await
        .unwrap();
    wait_js(
        &admin,
        "the room ops on the rooms page",
        "[...document.querySelectorAll('tbody td')].some(td => td.textContent.trim() === 'ops')",
        vec![],
    )
    .await;

    // Its fonts and icons came from this server, nothing from anywhere else.
    wait_js(
        &admin,
        "Roboto and the icon font loaded",
        "document.fonts.check('16px Roboto') && [...document.fonts].some(f => f.family.includes('Material Design Icons') && f.status === 'loaded')",
        vec![],
    )
    .await;
    let foreign = admin
        .execute(
            "return performance.getEntriesByType('resource').map(r => r.name).filter(n => !n.startsWith(location.origin))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(foreign, json!([]), "loaded from elsewhere");

    // Join the first page's socket (instance 0's Admin UI, the socket on instance 0) and the
    // second's (on instance 1) to #green from the socket's page.
    for id in [&first_id, &second_id] {
        // Through the list, so that the socket's page is built anew for each.
        admin
            .execute("location.hash = '#/sockets/'", vec![])
            .await
            .unwrap();
        wait_js(
            &admin,
            "the sockets page",
            "!document.querySelector('.select-room')",
            vec![],
        )
        .await;
        admin
            .execute(
                "location.hash = '#/n/%2F/sockets/' + arguments[0]",
                vec![json!(id)],
            )
            .await
            .unwrap();
        wait_js(
            &admin,
            "the socket's page",
            "document.querySelector('.select-room input') && document.body.innerText.includes(arguments[0]) && ![...document.querySelectorAll('tbody td')].some(td => td.textContent.trim() === 'green')",
            vec![json!(id)],
        )
        .await;
        let room = admin
            .find(Locator::Css(".select-room input"))
            .await
            .unwrap();
        room.send_keys("green").await.unwrap();
        click(&admin, "form:has(.select-room) button[type=submit]").await;
        wait_js(
            &admin,
            "green in the socket's rooms",
            "[...document.querySelectorAll('tbody td')].some(td => td.textContent.trim() === 'green')",
            vec![],
        )
        .await;
    }
    // README's picture: a socket of the other instance, described by it, in its rooms.
    save_screenshot(&admin, "admin-ui").await;
    // gridcast's own UI shows it: each page lists #green among its rooms.
    for page in [&first, &second] {
        wait_js(
            page,
            "#green in the page's rooms",
            "[...document.querySelectorAll('#my-rooms li .link')].some(e => e.textContent === '#green')",
            vec![],
        )
        .await;
    }
}
