//! Display names, rooms and the presence list, across instances.
//!
//! State lives in Redis (`crate::redis::presence`); changes go to the clients that asked for the
//! list, as batches of [`PresenceDelta`]s (`crate::presence_batch`). Room names are prefixed
//! internally (`crate::rooms::room_key`) so that a room can never be named like a socket's own
//! room and receive someone's direct messages.
//!
//! A socket's presence writes are ordered ([`Phase`]): a disconnect that comes before the connect
//! handler announced the socket makes that announce a no-op, so a fast disconnect cannot leave a
//! ghost behind. The instance's roster (`crate::roster`) lists what was announced; its heartbeat
//! repairs whatever a failed write left wrong.

use gridcast_shared::{
    Changed, Members, Rejection, RejectionCode, event,
    presence::{
        MAX_ROOMS_PER_SOCKET, Member, PRESENCE_PAGE, PresenceDelta, PresencePage, RoomRef, SetName,
        check_display_name, check_room,
    },
};

use gridcast_shared::recovery::StreamId;
use socketioxide::{extract::SocketRef, socket::Sid};

use super::{
    request::{Arg, Request, unavailable},
    state::{Phase, SocketState, save_session},
};
use crate::{
    admin::feed::RoomChange,
    instance::Instance,
    redis::{
        adapter::{ClusterAdapter, Io},
        presence::PageCursor,
    },
    rooms::{PRESENCE_SUBSCRIBED, room_key},
};

/// Records socket `sid`'s member as it is now (newly connected or changed) and tells the
/// subscribers (in the next batch); nothing once it departed.
pub(super) async fn announce(instance: &Instance, sid: Sid, state: &SocketState) {
    let asked = state.announces.ask();
    let mut phase = state.presence.lock().await;
    // Queued behind earlier writes while the socket left: listing it again would make it the
    // holder of an id that a newer socket of the same session may hold now, and its departure
    // would then remove that socket's member. And a later announce queued behind this one
    // writes the newer member.
    if *phase == Phase::Gone
        || state.left.load(std::sync::atomic::Ordering::SeqCst)
        || state.announces.superseded(asked)
    {
        return;
    }
    *phase = Phase::Listed;
    instance
        .roster()
        .list(&state.id, sid, state.shared_member());
    // Read under the lock: of two changes announced at once, the later write carries both.
    let member = state.member();
    if let Err(e) = instance.presence().upsert(&member).await {
        instance.warnings().warn("presence not recorded", &e);
    }
    instance
        .presence_batch()
        .push(PresenceDelta::Upsert { member });
}

/// Forgets disconnected socket `sid`'s member (its field leaves the hash with the other
/// departures of the moment: `crate::roster::remove_departed`) and tells the subscribers (in the
/// next batch), unless it was never announced or a newer socket of this instance holds its
/// session now.
pub(super) async fn depart(instance: &Instance, sid: Sid, state: &SocketState) {
    let mut phase = state.presence.lock().await;
    let was = std::mem::replace(&mut *phase, Phase::Gone);
    if was != Phase::Listed || !instance.roster().unlist(&state.id, sid) {
        return;
    }
    let own = &instance.info.id;
    instance.roster().departed(state.id.clone());
    instance.presence_batch().push(PresenceDelta::Leave {
        id: state.id.clone(),
        instance: Some(own.clone()),
    });
}

/// Answers a member-changing request and, when it was done, announces the change (and tells the
/// Admin UI of a room `change`).
async fn finish_change(
    mut req: Request,
    event: &str,
    result: Result<Member, Rejection>,
    change: Option<RoomChange<'_>>,
) {
    let result = result.map(|member| Changed { member });
    let done = req.respond(event, result).is_ok();
    // Made in memory and answered: the next request goes while Redis is told.
    drop(req.pass_turn());
    // A socket gone meanwhile was saved when it left: its own later save would overwrite what a
    // reconnected client (same session) saved since.
    if done && req.socket.connected() {
        save_session(&req.instance, &req.state).await;
        announce(&req.instance, req.socket.id, &req.state).await;
        if let Some(change) = change {
            let admin = req.instance.admin();
            admin.room_changed(&req.io, &req.state.id, change).await;
        }
    }
}

/// Handles `set_name`.
pub(super) async fn on_set_name(req: Request, arg: Arg<SetName>) {
    let result = req
        .admit()
        .await
        .and_then(|()| arg.expect(r#"{"name": string}"#))
        .and_then(|SetName { name }| {
            if req.state.claims().is_some() {
                return Err(Rejection::new(
                    RejectionCode::Forbidden,
                    "your name is your token's subject (sub): it cannot be changed here",
                ));
            }
            check_display_name(&name)?;
            Ok(req.state.update(|m| m.name = name))
        });
    finish_change(req, event::SET_NAME, result, None).await;
}

/// Puts `socket` in user room `room` (its history position `at`): the member record with it, and
/// whether it was not in it before. The client's `join` and the Admin UI's both come here.
fn enter(
    socket: &SocketRef<ClusterAdapter>,
    state: &SocketState,
    room: &str,
    at: StreamId,
) -> Result<(Member, bool), Rejection> {
    check_room(room)?;
    let member = state.member();
    let new = !member.rooms.iter().any(|r| r == room);
    if new && member.rooms.len() >= MAX_ROOMS_PER_SOCKET {
        return Err(Rejection::new(
            RejectionCode::NotMember,
            format!("already in {MAX_ROOMS_PER_SOCKET} rooms, leave one first"),
        ));
    }
    socket.join(room_key(room));
    state.joined_at(room, at);
    let member = state.update(|m| {
        if !m.rooms.iter().any(|r| r == room) {
            m.rooms.push(room.to_owned());
            m.rooms.sort();
        }
    });
    Ok((member, new))
}

/// Takes `socket` out of user room `room`: the member record without it, and whether it was in
/// it. The client's `leave` and the Admin UI's both come here.
fn exit(
    socket: &SocketRef<ClusterAdapter>,
    state: &SocketState,
    room: &str,
) -> Result<(Member, bool), Rejection> {
    check_room(room)?;
    let was = state.member().rooms.iter().any(|r| r == room);
    socket.leave(room_key(room));
    state.left(room);
    Ok((state.update(|m| m.rooms.retain(|r| r != room)), was))
}

/// Handles `join`.
pub(super) async fn on_join(req: Request, arg: Arg<RoomRef>) {
    let admitted = req.admit().await;
    // Where the history stands: a replay gives this socket the room's messages after it only.
    let at = req.instance.hub().position().await;
    let result = admitted
        .and_then(|()| arg.expect(r#"{"room": string}"#))
        .and_then(|RoomRef { room }| {
            if req.state.claims().is_some_and(|c| !c.may_join(&room)) {
                return Err(Rejection::new(
                    RejectionCode::Forbidden,
                    format!("your token does not let you join {room:?}"),
                ));
            }
            enter(&req.socket, &req.state, &room, at).map(|(m, new)| (m, new.then_some(room)))
        });
    let (result, joined) = split(result);
    let change = joined.as_deref().map(RoomChange::Joined);
    finish_change(req, event::JOIN, result, change).await;
}

/// Leaves `room` for the socket of `req` and tells the others (a room its refreshed token no
/// longer allows).
pub(super) async fn drop_room(req: &Request, room: &str) {
    if let Ok((_, true)) = exit(&req.socket, &req.state, room) {
        save_session(&req.instance, &req.state).await;
        announce(&req.instance, req.socket.id, &req.state).await;
        let admin = req.instance.admin();
        admin
            .room_changed(&req.io, &req.state.id, RoomChange::Left(room))
            .await;
    }
}

/// Handles `leave`.
pub(super) async fn on_leave(req: Request, arg: Arg<RoomRef>) {
    let result = req
        .admit()
        .await
        .and_then(|()| arg.expect(r#"{"room": string}"#))
        .and_then(|RoomRef { room }| {
            exit(&req.socket, &req.state, &room).map(|(m, was)| (m, was.then_some(room)))
        });
    let (result, left) = split(result);
    let change = left.as_deref().map(RoomChange::Left);
    finish_change(req, event::LEAVE, result, change).await;
}

fn split<T>(
    result: Result<(Member, Option<T>), Rejection>,
) -> (Result<Member, Rejection>, Option<T>) {
    match result {
        Ok((member, changed)) => (Ok(member), changed),
        Err(e) => (Err(e), None),
    }
}

/// The Admin UI joins (`join: true`) or takes out of `room` this instance's `socket`, as if it
/// had asked itself: its member record, session and presence change with it, and every Admin UI
/// hears of it.
pub(crate) async fn by_admin(
    instance: &Instance,
    io: &Io,
    socket: SocketRef<ClusterAdapter>,
    room: &str,
    join: bool,
) -> Result<(), Rejection> {
    let Some(state) = socket.extensions.get::<std::sync::Arc<SocketState>>() else {
        return Ok(());
    };
    let changed = if join {
        let at = instance.hub().position().await;
        enter(&socket, &state, room, at)?.1
    } else {
        exit(&socket, &state, room)?.1
    };
    if changed {
        save_session(instance, &state).await;
        announce(instance, socket.id, &state).await;
        let change = if join {
            RoomChange::Joined(room)
        } else {
            RoomChange::Left(room)
        };
        instance.admin().room_changed(io, &state.id, change).await;
    }
    Ok(())
}

/// Handles `presence`: the ack is a page of the cluster's members, and from then on the socket
/// gets the changes (joined before the first page is read, so no change falls between the two).
/// No argument and `null` (JavaScript's `emit("presence", undefined, ack)`) both ask for the
/// first page.
pub(super) async fn on_presence(mut req: Request, arg: Arg<Option<PresencePage>>) {
    let result = presence_page(&req, arg).await;
    let _ = req.respond(event::PRESENCE, result);
}

async fn presence_page(
    req: &Request,
    arg: Arg<Option<PresencePage>>,
) -> Result<Members, Rejection> {
    req.admit().await?;
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
    req.socket.join(PRESENCE_SUBSCRIBED);
    // A read: the socket's later requests need not wait for its round trips.
    drop(req.pass_turn());
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
