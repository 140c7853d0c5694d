//! Display names, rooms, direct messages and the presence list, across instances.
//!
//! State lives in Redis ([`crate::redis::Presence`]); changes are pushed to every client as
//! [`PresenceDelta`]s through the adapter. Room names are prefixed internally (`room:`) so that a
//! room can never be named like a socket id and receive someone's direct messages.

use std::sync::Arc;

use gridcast_shared::{
    ErrorEvent, Rejection, RejectionCode, SendAck, event,
    message::monostate,
    presence::{
        MAX_ROOMS_PER_SOCKET, Member, OpReply, PresenceDelta, RoomRef, Routed, SetName, ToRoom,
        ToSocket, check_display_name, check_room,
    },
    validate,
};
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};

use super::{AckRequested, SocketState, answer, emit_cluster, rate_limit};
use crate::{
    instance::{ClusterAdapter, Instance, Io},
    now_ms,
};

fn room_key(room: &str) -> String {
    format!("room:{room}")
}

/// The room only the socket with public id `id` is in, joined at connect: the address of its
/// direct messages on every instance.
pub fn own_room(id: &str) -> String {
    format!("id:{id}")
}

fn bad_request(expected: &str) -> Rejection {
    Rejection::new(RejectionCode::BadRequest, format!("expected {expected}"))
}

fn unavailable(e: impl std::fmt::Display) -> Rejection {
    Rejection::new(
        RejectionCode::Unavailable,
        format!("the cluster state is unavailable right now ({e}); try again"),
    )
}

/// Records a newly connected member and tells everyone.
pub async fn announce(io: &Io, instance: &Instance, member: Member) {
    if let Err(e) = instance.presence().upsert(&member).await {
        tracing::warn!(instance = %instance.info.id, "presence not recorded: {e}");
    }
    emit_cluster(
        instance,
        || io.broadcast(),
        event::PRESENCE,
        &PresenceDelta::Upsert { member },
    )
    .await;
}

/// Forgets a disconnected member (by public id) and tells everyone.
pub async fn depart(io: &Io, instance: &Instance, id: &str) {
    if let Err(e) = instance.presence().remove(&instance.info.id, id).await {
        tracing::warn!(instance = %instance.info.id, "presence not removed: {e}");
    }
    let delta = PresenceDelta::Leave { id: id.to_owned() };
    emit_cluster(instance, || io.broadcast(), event::PRESENCE, &delta).await;
}

/// Answers a member-changing request and announces the change.
async fn finish_op(
    socket: SocketRef<ClusterAdapter>,
    io: &Io,
    instance: &Instance,
    ack: AckSender<ClusterAdapter>,
    wants_ack: bool,
    name: &str,
    result: Result<Member, Rejection>,
) {
    match result {
        Ok(member) => {
            answer(
                &socket,
                ack,
                wants_ack,
                None,
                &OpReply::Ok {
                    ok: monostate::True,
                    member: member.clone(),
                },
            );
            announce(io, instance, member).await;
        }
        Err(rejection) => {
            let error = rejection.into_event(name);
            answer(
                &socket,
                ack,
                wants_ack,
                Some(&error),
                &OpReply::Err {
                    ok: monostate::False,
                    error: error.clone(),
                },
            );
        }
    }
}

/// Handles `set_name`.
pub async fn on_set_name(
    socket: SocketRef<ClusterAdapter>,
    io: Io,
    State(instance): State<Arc<Instance>>,
    Extension(state): Extension<Arc<SocketState>>,
    AckRequested(wants_ack): AckRequested,
    ack: AckSender<ClusterAdapter>,
    TryData(data): TryData<SetName>,
) {
    let result = rate_limit(&state)
        .and_then(|()| data.map_err(|_| bad_request(r#"{"name": string}"#)))
        .and_then(|SetName { name }| {
            check_display_name(&name)?;
            Ok(state.update(|m| m.name = name))
        });
    finish_op(
        socket,
        &io,
        &instance,
        ack,
        wants_ack,
        event::SET_NAME,
        result,
    )
    .await;
}

/// Handles `join`.
pub async fn on_join(
    socket: SocketRef<ClusterAdapter>,
    io: Io,
    State(instance): State<Arc<Instance>>,
    Extension(state): Extension<Arc<SocketState>>,
    AckRequested(wants_ack): AckRequested,
    ack: AckSender<ClusterAdapter>,
    TryData(data): TryData<RoomRef>,
) {
    let result = rate_limit(&state)
        .and_then(|()| data.map_err(|_| bad_request(r#"{"room": string}"#)))
        .and_then(|RoomRef { room }| {
            check_room(&room)?;
            let member = state.member();
            if !member.rooms.contains(&room) && member.rooms.len() >= MAX_ROOMS_PER_SOCKET {
                return Err(Rejection::new(
                    RejectionCode::NotMember,
                    format!("already in {MAX_ROOMS_PER_SOCKET} rooms, leave one first"),
                ));
            }
            socket.join(room_key(&room));
            Ok(state.update(|m| {
                if !m.rooms.contains(&room) {
                    m.rooms.push(room);
                    m.rooms.sort();
                }
            }))
        });
    finish_op(socket, &io, &instance, ack, wants_ack, event::JOIN, result).await;
}

/// Handles `leave`.
pub async fn on_leave(
    socket: SocketRef<ClusterAdapter>,
    io: Io,
    State(instance): State<Arc<Instance>>,
    Extension(state): Extension<Arc<SocketState>>,
    AckRequested(wants_ack): AckRequested,
    ack: AckSender<ClusterAdapter>,
    TryData(data): TryData<RoomRef>,
) {
    let result = rate_limit(&state)
        .and_then(|()| data.map_err(|_| bad_request(r#"{"room": string}"#)))
        .and_then(|RoomRef { room }| {
            check_room(&room)?;
            socket.leave(room_key(&room));
            Ok(state.update(|m| m.rooms.retain(|r| *r != room)))
        });
    finish_op(socket, &io, &instance, ack, wants_ack, event::LEAVE, result).await;
}

/// Answers a routed (room or direct) message request.
fn finish_send(
    socket: &SocketRef<ClusterAdapter>,
    ack: AckSender<ClusterAdapter>,
    wants_ack: bool,
    name: &str,
    result: Result<SendAck, Rejection>,
) {
    match result {
        Ok(reply) => answer(socket, ack, wants_ack, None, &reply),
        Err(rejection) => {
            let error: ErrorEvent = rejection.into_event(name);
            answer(
                socket,
                ack,
                wants_ack,
                Some(&error),
                &SendAck::err(error.clone()),
            );
        }
    }
}

/// Handles `room_message`: to every member of the room, on every instance.
pub async fn on_room_message(
    socket: SocketRef<ClusterAdapter>,
    io: Io,
    State(instance): State<Arc<Instance>>,
    Extension(state): Extension<Arc<SocketState>>,
    AckRequested(wants_ack): AckRequested,
    ack: AckSender<ClusterAdapter>,
    TryData(data): TryData<ToRoom>,
) {
    let received_at = now_ms();
    let result = async {
        rate_limit(&state)?;
        let msg = data.map_err(|_| bad_request(r#"{"room": string, "text": string}"#))?;
        check_room(&msg.room)?;
        validate::check_text(&msg.text)?;
        let member = state.member();
        if !member.rooms.contains(&msg.room) {
            return Err(Rejection::new(
                RejectionCode::NotMember,
                format!("join room {:?} before sending to it", msg.room),
            ));
        }
        let meta = instance.stamp(&state.id, received_at);
        let id = meta.id.clone();
        let key = room_key(&msg.room);
        let routed = Routed {
            room: Some(msg.room),
            to: None,
            from_name: member.name,
            text: msg.text,
            meta,
        };
        let delivery = emit_cluster(
            &instance,
            || io.to(key.clone()),
            event::ROOM_MESSAGE,
            &routed,
        )
        .await;
        Ok(SendAck::ok(id, delivery))
    }
    .await;
    finish_send(&socket, ack, wants_ack, event::ROOM_MESSAGE, result);
}

/// Handles `direct`: to one socket on any instance, and back to the sender.
pub async fn on_direct(
    socket: SocketRef<ClusterAdapter>,
    io: Io,
    State(instance): State<Arc<Instance>>,
    Extension(state): Extension<Arc<SocketState>>,
    AckRequested(wants_ack): AckRequested,
    ack: AckSender<ClusterAdapter>,
    TryData(data): TryData<ToSocket>,
) {
    let received_at = now_ms();
    let result = async {
        rate_limit(&state)?;
        let msg = data.map_err(|_| bad_request(r#"{"to": public id, "text": string}"#))?;
        validate::check_text(&msg.text)?;
        if instance
            .presence()
            .get(&msg.to)
            .await
            .map_err(unavailable)?
            .is_none()
        {
            return Err(no_such_client(&msg.to));
        }
        let meta = instance.stamp(&state.id, received_at);
        let id = meta.id.clone();
        let target = own_room(&msg.to);
        let to_self = msg.to == state.id;
        let routed = Routed {
            room: None,
            to: Some(msg.to),
            from_name: state.member().name,
            text: msg.text,
            meta,
        };
        let delivery =
            emit_cluster(&instance, || io.to(target.clone()), event::DIRECT, &routed).await;
        // The sender sees its own direct messages too (unless it wrote to itself).
        if !to_self && let Err(e) = socket.emit(event::DIRECT, &routed) {
            tracing::debug!(socket = %socket.id, "direct copy not sent: {e}");
        }
        Ok(SendAck::ok(id, delivery))
    }
    .await;
    finish_send(&socket, ack, wants_ack, event::DIRECT, result);
}

fn no_such_client(id: &str) -> Rejection {
    let shown: String = id.chars().take(64).collect();
    Rejection::new(
        RejectionCode::NoSuchClient,
        format!("no client {shown:?} is connected to the cluster"),
    )
}

/// Handles `presence`: the ack is every member of the cluster.
pub async fn on_presence(
    socket: SocketRef<ClusterAdapter>,
    State(instance): State<Arc<Instance>>,
    Extension(state): Extension<Arc<SocketState>>,
    AckRequested(wants_ack): AckRequested,
    ack: AckSender<ClusterAdapter>,
) {
    let result = async {
        rate_limit(&state)?;
        instance.presence().all().await.map_err(unavailable)
    }
    .await;
    match result {
        Ok(members) => answer(&socket, ack, wants_ack, None, &members),
        Err(rejection) => {
            let error = rejection.into_event(event::PRESENCE);
            answer(
                &socket,
                ack,
                wants_ack,
                Some(&error),
                &serde_json::json!({ "ok": false, "error": error }),
            );
        }
    }
}
