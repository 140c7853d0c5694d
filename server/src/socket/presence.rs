//! Display names, rooms, direct messages and the presence list, across instances.
//!
//! State lives in Redis ([`crate::redis::Presence`]); changes go to the clients that asked for
//! the list, as batches of [`PresenceDelta`]s ([`super::presence_batch`]). Room names are prefixed internally (`room:`) so that a
//! room can never be named like a socket's own room and receive someone's direct messages.

use gridcast_shared::{
    Changed, Members, Rejection, RejectionCode, Sent, event,
    presence::{
        MAX_ROOMS_PER_SOCKET, Member, PRESENCE_PAGE, PresenceDelta, PresencePage, RoomRef, Routed,
        SetName, ToRoom, ToSocket, check_display_name, check_room,
    },
    validate,
};

use super::request::{Arg, Request};
use crate::{
    hub::{Payload, Target},
    instance::Instance,
    redis::presence::PageCursor,
};

/// The socketioxide room of the user-facing room `room`.
pub fn room_key(room: &str) -> String {
    format!("room:{room}")
}

/// The room only the socket with public id `id` is in, joined at connect: the address of its
/// direct messages on every instance.
pub fn own_room(id: &str) -> String {
    format!("id:{id}")
}

fn unavailable(e: impl std::fmt::Display) -> Rejection {
    Rejection::new(
        RejectionCode::Unavailable,
        format!("the cluster state is unavailable right now ({e}); try again"),
    )
}

/// Records a newly connected or changed member and tells the subscribers (in the next batch).
pub async fn announce(instance: &Instance, member: Member) {
    if let Err(e) = instance.presence().upsert(&member).await {
        tracing::warn!(instance = %instance.info.id, "presence not recorded: {e}");
    }
    instance
        .presence_batch()
        .push(PresenceDelta::Upsert { member });
}

/// Forgets a disconnected member (by public id) and tells the subscribers (in the next batch).
pub async fn depart(instance: &Instance, id: &str) {
    if let Err(e) = instance.presence().remove(&instance.info.id, id).await {
        tracing::warn!(instance = %instance.info.id, "presence not removed: {e}");
    }
    instance
        .presence_batch()
        .push(PresenceDelta::Leave { id: id.to_owned() });
}

/// Answers a member-changing request and, when it was done, announces the change.
async fn finish_change(mut req: Request, event: &str, result: Result<Member, Rejection>) {
    let result = result.map(|member| Changed { member });
    if let Ok(Changed { member }) = req.respond(event, result) {
        super::save_session(&req.instance, &req.state).await;
        announce(&req.instance, member).await;
    }
}

/// Handles `set_name`.
pub async fn on_set_name(req: Request, arg: Arg<SetName>) {
    let result = req
        .rate_limit()
        .and_then(|()| arg.expect(r#"{"name": string}"#))
        .and_then(|SetName { name }| {
            check_display_name(&name)?;
            Ok(req.state.update(|m| m.name = name))
        });
    finish_change(req, event::SET_NAME, result).await;
}

/// Handles `join`.
pub async fn on_join(req: Request, arg: Arg<RoomRef>) {
    let result = req
        .rate_limit()
        .and_then(|()| arg.expect(r#"{"room": string}"#))
        .and_then(|RoomRef { room }| {
            check_room(&room)?;
            let member = req.state.member();
            if !member.rooms.contains(&room) && member.rooms.len() >= MAX_ROOMS_PER_SOCKET {
                return Err(Rejection::new(
                    RejectionCode::NotMember,
                    format!("already in {MAX_ROOMS_PER_SOCKET} rooms, leave one first"),
                ));
            }
            req.socket.join(room_key(&room));
            Ok(req.state.update(|m| {
                if !m.rooms.contains(&room) {
                    m.rooms.push(room);
                    m.rooms.sort();
                }
            }))
        });
    finish_change(req, event::JOIN, result).await;
}

/// Handles `leave`.
pub async fn on_leave(req: Request, arg: Arg<RoomRef>) {
    let result = req
        .rate_limit()
        .and_then(|()| arg.expect(r#"{"room": string}"#))
        .and_then(|RoomRef { room }| {
            check_room(&room)?;
            req.socket.leave(room_key(&room));
            Ok(req.state.update(|m| m.rooms.retain(|r| *r != room)))
        });
    finish_change(req, event::LEAVE, result).await;
}

/// Sends an accepted message with id `id` through the history; the sender's answer.
async fn publish(
    req: &Request,
    id: String,
    target: Target,
    payload: Payload,
) -> Result<Sent, Rejection> {
    let delivery = req.instance.hub().publish(target, payload).await;
    Ok(Sent { id, delivery })
}

/// Handles `room_message`: to every member of the room, on every instance.
pub async fn on_room_message(mut req: Request, arg: Arg<ToRoom>) {
    let result = room_message(&req, arg).await;
    let _ = req.respond(event::ROOM_MESSAGE, result);
}

async fn room_message(req: &Request, arg: Arg<ToRoom>) -> Result<Sent, Rejection> {
    req.rate_limit()?;
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
pub async fn on_direct(mut req: Request, arg: Arg<ToSocket>) {
    let result = direct(&req, arg).await;
    let _ = req.respond(event::DIRECT, result);
}

async fn direct(req: &Request, arg: Arg<ToSocket>) -> Result<Sent, Rejection> {
    req.rate_limit()?;
    let msg = arg.expect(r#"{"to": public id, "text": string}"#)?;
    validate::check_text(&msg.text)?;
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

/// Handles `presence`: the ack is a page of the cluster's members, and from then on the socket
/// gets the changes (joined before the first page is read, so no change falls between the two).
/// No argument and `null` (JavaScript's `emit("presence", undefined, ack)`) both ask for the
/// first page.
pub async fn on_presence(mut req: Request, arg: Arg<Option<PresencePage>>) {
    let result = presence_page(&req, arg).await;
    let _ = req.respond(event::PRESENCE, result);
}

async fn presence_page(
    req: &Request,
    arg: Arg<Option<PresencePage>>,
) -> Result<Members, Rejection> {
    req.rate_limit()?;
    let page = arg
        .optional(r#"nothing, or {"cursor"?: string, "limit"?: number}"#)?
        .flatten()
        .unwrap_or_default();
    let bad = |message: String| Rejection::new(RejectionCode::BadRequest, message);
    let limit = page.limit.unwrap_or(PRESENCE_PAGE);
    if !(1..=PRESENCE_PAGE).contains(&limit) {
        return Err(bad(format!("limit must be 1 to {PRESENCE_PAGE}")));
    }
    let from = page
        .cursor
        .map(|c| c.parse::<PageCursor>())
        .transpose()
        .map_err(bad)?;
    req.socket.join(super::presence_batch::SUBSCRIBED);
    let (members, next) = req
        .instance
        .presence()
        .page(from.as_ref(), limit)
        .await
        .map_err(unavailable)?;
    Ok(Members {
        members,
        next: next.map(|n| n.to_string()),
    })
}
