//! The names of the socketioxide rooms gridcast uses, in one place.
//!
//! User rooms are `room:<name>` and every socket is in `id:<public id>` (its direct messages);
//! names are validated to `[A-Za-z0-9_.-]` (`gridcast_shared::presence::check_room`), so no user
//! room can alias a socket's own room or one of the internal rooms below, which start with `~`.

/// The room of sockets whose replay is not finished: live deliveries skip them (they are
/// buffered for them instead, see `hub::attach`).
pub(crate) const ATTACHING: &str = "~attaching";

/// The room of the sockets that asked for the presence list and get its changes.
pub(crate) const PRESENCE_SUBSCRIBED: &str = "~presence";

/// The socketioxide room of the user-facing room `room`.
pub(crate) fn room_key(room: &str) -> String {
    format!("room:{room}")
}

/// The room every socket of the user `sub` is in (with `--auth jwt`): the address of direct
/// messages to that user. A `sub` may hold any character; the `user:` prefix keeps it apart from
/// the other rooms.
pub(crate) fn user_room(sub: &str) -> String {
    format!("user:{sub}")
}

/// The room only the socket with public id `id` is in, joined at connect: the address of its
/// direct messages on every instance.
pub(crate) fn own_room(id: &str) -> String {
    format!("id:{id}")
}
