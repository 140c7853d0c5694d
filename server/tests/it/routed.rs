//! Rooms and direct messages across instances, with a real Redis: names and rooms validated,
//! room messages to members only, direct messages to one socket and back to its sender.

use gridcast_shared::{RejectionCode, Reply, event};
use serde_json::json;

use crate::{
    presence::{member, next_routed, op, refusal, send, snapshot},
    support::{QUIET, WAIT, client, instances, redis},
};

#[tokio::test]
async fn room_messages_reach_members_on_every_instance_and_nobody_else() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut a = client(&cluster[0]).await;
    let mut b = client(&cluster[1]).await;
    let mut c = client(&cluster[1]).await;

    assert_eq!(
        member(op(&mut a, event::JOIN, json!({"room": "ops"})).await).rooms,
        ["ops"]
    );
    assert_eq!(
        member(op(&mut b, event::JOIN, json!({"room": "ops"})).await).rooms,
        ["ops"]
    );

    let ack = send(
        &mut a,
        event::ROOM_MESSAGE,
        json!({"room": "ops", "text": "deploying"}),
    )
    .await;
    assert!(matches!(ack, Reply::Ok(_)), "{ack:?}");
    for member_probe in [&mut a, &mut b] {
        let got = next_routed(member_probe, event::ROOM_MESSAGE).await;
        assert_eq!(
            (got.room.as_deref(), got.text.as_str()),
            (Some("ops"), "deploying")
        );
    }
    assert!(
        c.drain(QUIET).await.is_empty(),
        "a non-member got the room message"
    );

    // Not a member: refused with a reason.
    let Reply::Err(error) = send(
        &mut c,
        event::ROOM_MESSAGE,
        json!({"room": "ops", "text": "hi"}),
    )
    .await
    else {
        panic!("non-member allowed to send")
    };
    assert_eq!(error.code, RejectionCode::NotMember);
    assert!(
        error.message.contains("join room \"ops\""),
        "{}",
        error.message
    );

    // Presence shows who is in the room, across instances.
    let all = snapshot(&mut c).await;
    let in_ops: Vec<&str> = all
        .iter()
        .filter(|m| m.rooms.contains(&"ops".to_owned()))
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(in_ops.len(), 2);
    assert!(in_ops.contains(&a.id()) && in_ops.contains(&b.id()));

    // After leaving, B no longer receives.
    assert!(
        member(op(&mut b, event::LEAVE, json!({"room": "ops"})).await)
            .rooms
            .is_empty()
    );
    send(
        &mut a,
        event::ROOM_MESSAGE,
        json!({"room": "ops", "text": "second"}),
    )
    .await;
    assert_eq!(
        next_routed(&mut a, event::ROOM_MESSAGE).await.text,
        "second"
    );
    assert!(b.drain(QUIET).await.is_empty());
}

#[tokio::test]
async fn a_direct_message_reaches_one_socket_on_another_instance() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let mut a = client(&cluster[0]).await;
    let mut b = client(&cluster[1]).await;
    let mut c = client(&cluster[1]).await;
    member(op(&mut a, event::SET_NAME, json!({"name": "Ada"})).await);

    let to = b.id().to_owned();
    let ack = send(&mut a, event::DIRECT, json!({"to": to, "text": "psst"})).await;
    assert!(matches!(ack, Reply::Ok(_)), "{ack:?}");
    let got = next_routed(&mut b, event::DIRECT).await;
    assert_eq!(
        (
            got.text.as_str(),
            got.from_name.as_str(),
            got.meta.sender.as_str()
        ),
        ("psst", "Ada", a.id())
    );
    assert_eq!(
        next_routed(&mut a, event::DIRECT).await.to.as_deref(),
        Some(to.as_str()),
        "sender gets a copy"
    );
    assert!(
        c.drain(QUIET).await.is_empty(),
        "a third client got the direct message"
    );

    let Reply::Err(error) = send(
        &mut a,
        event::DIRECT,
        json!({"to": "AAAAAAAAAAAAAAAA", "text": "hello?"}),
    )
    .await
    else {
        panic!("direct message to nobody accepted")
    };
    assert_eq!(error.code, RejectionCode::NoSuchClient);
}

#[tokio::test]
async fn names_and_rooms_are_validated_with_readable_errors() {
    let redis = redis().await;
    let cluster = instances(&redis, 1).await;
    let mut a = client(&cluster[0]).await;
    let cases = [
        (
            event::SET_NAME,
            json!({"name": "<b>x</b>"}),
            RejectionCode::BadName,
            "display name may not contain '<'",
        ),
        (
            event::SET_NAME,
            json!({"name": "x".repeat(40)}),
            RejectionCode::BadName,
            "display name is 40 characters, the limit is 32",
        ),
        (
            event::JOIN,
            json!({"room": "two words"}),
            RejectionCode::BadRoom,
            "room name may not contain ' '",
        ),
        (
            event::JOIN,
            json!({"room": ""}),
            RejectionCode::BadRoom,
            "room name is empty",
        ),
        (
            event::JOIN,
            json!("ops"),
            RejectionCode::BadRequest,
            "expected {\"room\": string}, got another shape (invalid type: string \"ops\", expected struct RoomRef)",
        ),
    ];
    for (name, arg, code, text) in cases {
        assert_eq!(
            refusal(op(&mut a, name, arg.clone()).await),
            (code, text.to_owned()),
            "{name} {arg}"
        );
    }
    // Without an ack, the same refusal comes as an `error` event.
    a.emit(event::JOIN, vec![json!({"room": "a/b"})]).unwrap();
    let error = a.next_event(event::ERROR, WAIT).await.unwrap();
    assert_eq!(error[0]["code"], "bad_room");
    assert!(a.drain(QUIET).await.is_empty(), "nothing was broadcast");
}
