//! A page of a cluster that authenticates connections (`--auth jwt`): opened with `?token=`, it
//! says who it is signed in as and what it may do, and offers no name form; what the token does
//! not allow is refused readably; without a token the header says why it cannot connect.

use super::*;

const SECRET: &str = "a-browser-test-secret-of-32-bytes-or-more";

fn token(sub: &str, rooms: &[&str], broadcast: bool) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": sub, "exp": exp, "rooms": rooms, "broadcast": broadcast}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn a_page_opened_with_a_token_is_its_user_and_without_one_says_why_it_cannot_connect() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = redis().await;
    let mut config = ServeConfig::new(vec![0], Some(redis.url()));
    config.static_dir = dist_dir();
    config.auth = gridcast_server::cli::AuthMode::Jwt;
    config.jwt_secret = Some(gridcast_server::cli::Secret::new(SECRET));
    let cluster = Cluster::start(config).await.unwrap();
    let url = cluster.urls().remove(0);
    let driver = Driver::start().await;

    let alice = driver.browser().await;
    let alices = token("alice", &["ops"], true);
    alice.goto(&format!("{url}/?token={alices}")).await.unwrap();
    wait_connected_to(&alice, &url).await;
    let said = wait_js(
        &alice,
        "the page to say who it is signed in as",
        "document.querySelector('#signed-in')?.textContent",
        vec![],
    )
    .await;
    assert_eq!(
        said,
        "signed in as alice · may join #ops · may send to everyone"
    );
    wait_js(
        &alice,
        "its name to be the token's sub",
        "document.querySelector('#who')?.textContent.startsWith('alice')",
        vec![],
    )
    .await;
    let name_forms = alice
        .execute(
            "return document.querySelectorAll('#name-input').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(name_forms, json!(0), "no name form for a signed-in page");

    // A room the token allows is joined; another is refused with the reason.
    type_into(&alice, "#room-input", "ops").await;
    wait_js(
        &alice,
        "#ops among its rooms",
        "document.querySelector('#my-rooms')?.textContent.includes('#ops')",
        vec![],
    )
    .await;
    type_into(&alice, "#room-input", "payroll").await;
    wait_js(
        &alice,
        "the refusal of #payroll",
        "document.querySelector('#notice')?.textContent.includes('does not let you join')",
        vec![],
    )
    .await;
    send(&alice, "hello from alice").await;
    wait_message(&alice, "hello from alice").await;
    // The token left the address once read (history, bookmarks, screenshots).
    let address = alice
        .execute("return window.location.href", vec![])
        .await
        .unwrap();
    assert!(!address.as_str().unwrap().contains("token"), "{address}");

    // A direct message from the page reaches the other user's page (by its sub).
    let bob = driver.browser().await;
    bob.goto(&format!("{url}/?token={}", token("bob", &["ops"], false)))
        .await
        .unwrap();
    wait_connected_to(&bob, &url).await;
    wait_js(
        &alice,
        "bob in alice's clients panel",
        "[...document.querySelectorAll('#presence li[data-id]:not(.me)')].some(li => li.textContent.includes('bob'))",
        vec![],
    )
    .await;
    alice
        .execute(
            "[...document.querySelectorAll('#presence li[data-id]:not(.me)')].find(li => li.textContent.includes('bob')).click()",
            vec![],
        )
        .await
        .unwrap();
    send(&alice, "just for bob").await;
    wait_message(&bob, "just for bob").await;

    // No token: the header says the sign-in was refused and why, and the page stops there
    // (it is not an outage: no moving between instances).
    let anonymous = driver.browser().await;
    anonymous.goto(&url).await.unwrap();
    wait_js(
        &anonymous,
        "the header to say a token is required",
        "document.querySelector('#status')?.textContent.includes('sign-in refused') && document.querySelector('#status').textContent.includes('requires a token')",
        vec![],
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = anonymous
        .execute(
            "return document.querySelector('#status').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        status.as_str().unwrap().contains("sign-in refused"),
        "still refused, not retried as an outage: {status}"
    );
    let public_id = anonymous
        .execute(
            "return document.querySelector('#status').dataset.publicId",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(public_id, json!(""), "no identity without a token");
}
