//! Messages to part of the cluster, through the history like `message`: `room_message` (to the
//! members of a room) and `direct` (to one client by public id, and back to its sender).

use gridcast_shared::{
    Rejection, RejectionCode, Sent, event,
    presence::{Routed, ToRoom, ToSocket, check_room},
    validate,
};

use super::request::{Arg, Request, unavailable};
use crate::hub::{Payload, Target};

/// Sends an accepted message with id `id` through the history; the sender's answer.
async fn publish(
    req: &Request,
    id: String,
    target: Target,
    payload: Payload,
) -> Result<Sent, Rejection> {
    let delivery = req
        .instance
        .hub()
        .publish(&req.io, target, payload, req.pass_turn())
        .await
        .delivery;
    Ok(Sent { id, delivery })
}

/// Handles `room_message`: to every member of the room, on every instance.
pub(super) async fn on_room_message(mut req: Request, arg: Arg<ToRoom>) {
    let result = room_message(&req, arg).await;
    let _ = req.respond(event::ROOM_MESSAGE, result);
}

async fn room_message(req: &Request, arg: Arg<ToRoom>) -> Result<Sent, Rejection> {
    req.admit().await?;
    let msg = arg.expect(r#"{"room": string, "text": string}"#)?;
    check_room(&msg.room)?;
    validate::check_text(&msg.text)?;
    let member = req.state.member();
    if !member.rooms.contains(&msg.room) {
        return Err(Rejection::new(
            RejectionCode::NotMember,
            format!("join room {:?} before sending to it", msg.room),
        ));
    }
    let meta = req.instance.stamp(&req.state.id, req.received_at);
    let id = meta.id.clone();
    let target = Target::Room(msg.room.clone());
    let routed = Routed {
        room: Some(msg.room),
        to: None,
        from_name: member.name,
        text: msg.text,
        meta,
    };
    publish(
        req,
        id,
        target,
        Payload::Routed(event::ROOM_MESSAGE, routed),
    )
    .await
}

/// Handles `direct`: to one client (by public id) on any instance, and back to the sender.
pub(super) async fn on_direct(mut req: Request, arg: Arg<ToSocket>) {
    let result = direct(&req, arg).await;
    let _ = req.respond(event::DIRECT, result);
}

async fn direct(req: &Request, arg: Arg<ToSocket>) -> Result<Sent, Rejection> {
    req.admit().await?;
    let msg = arg.expect(r#"{"to": public id, "text": string}"#)?;
    validate::check_text(&msg.text)?;
    if req.instance.auth().required() {
        // Users are addressed by who they are: every socket of the user gets it, now or on its
        // replay.
        let shown: String = msg.to.chars().take(64).collect();
        if msg.to.is_empty() || msg.to.chars().count() > 256 {
            return Err(Rejection::new(
                RejectionCode::BadRequest,
                format!("{shown:?} is not a user: 1 to 256 characters, a token's sub"),
            ));
        }
        let meta = req.instance.stamp(&req.state.id, req.received_at);
        let id = meta.id.clone();
        let target = Target::User {
            to: msg.to.clone(),
            from: req.state.id.clone(),
        };
        let routed = Routed {
            room: None,
            to: Some(msg.to),
            from_name: req.state.member().name,
            text: msg.text,
            meta,
        };
        return publish(req, id, target, Payload::Routed(event::DIRECT, routed)).await;
    }
    // Connected now, or away with a session it can come back to (then it gets it on replay).
    let known = req
        .instance
        .presence()
        .get(&msg.to)
        .await
        .map_err(unavailable)?
        .is_some()
        || req
            .instance
            .sessions()
            .is_known(&msg.to)
            .await
            .map_err(unavailable)?;
    if !known {
        let shown: String = msg.to.chars().take(64).collect();
        return Err(Rejection::new(
            RejectionCode::NoSuchClient,
            format!("no client {shown:?} is connected to the cluster"),
        ));
    }
    let meta = req.instance.stamp(&req.state.id, req.received_at);
    let id = meta.id.clone();
    // The sender gets its own copy through the history too, in order with everything else.
    let target = Target::Direct {
        to: msg.to.clone(),
        from: req.state.id.clone(),
    };
    let routed = Routed {
        room: None,
        to: Some(msg.to),
        from_name: req.state.member().name,
        text: msg.text,
        meta,
    };
    publish(req, id, target, Payload::Routed(event::DIRECT, routed)).await
}
