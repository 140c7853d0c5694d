//! Applying the Admin UI's commands to this instance's sockets, one at a time in the order the
//! bus gave them (a join then a leave of one room end with the socket out of it everywhere).
//!
//! A filter selects the sockets in the user room of that name and the socket with that public id
//! (its own room, `crate::rooms::own_room`), as Node.js' `io.in(filter)` selects a room and a
//! socket id alike. A join or leave goes through gridcast's own room change
//! (`crate::socket::admin_room`): the socket's member record, session and presence change with
//! it, so gridcast's UI shows it. An emit skips sockets still attaching (their replay is not
//! done; a live event before `welcome` would break their order).

use std::sync::Arc;

use serde::{Serialize, Serializer, ser::SerializeTuple};
use socketioxide::extract::SocketRef;

use super::{
    bus::{Command, Op},
    context::{Admin, Commands},
};
use crate::{
    redis::adapter::{ClusterAdapter, Io},
    rooms::{ATTACHING, own_room, room_key},
    socket::admin_room,
};

/// Applies the commands queued for this instance until the queue closes.
pub(crate) async fn run(admin: Arc<Admin>, io: Io, Commands(mut commands): Commands) {
    while let Some(command) = commands.recv().await {
        apply(&admin, &io, command).await;
    }
}

async fn apply(admin: &Admin, io: &Io, Command { op, filter }: Command) {
    let instance = &admin.instance;
    match op {
        Op::Emit { event, args } => {
            for socket in selected(io, filter.as_deref(), true) {
                if let Err(e) = socket.emit(&event, &Args(&args)) {
                    tracing::debug!(instance = %instance.info.id, "admin emit not sent: {e}");
                }
            }
        }
        Op::Join { room } | Op::Leave { room }
            if gridcast_shared::presence::check_room(&room).is_err() =>
        {
            tracing::debug!(instance = %instance.info.id, "admin command with a bad room skipped");
        }
        Op::Join { room } => {
            for socket in selected(io, filter.as_deref(), false) {
                if let Err(e) = admin_room(instance, io, socket, &room, true).await {
                    tracing::debug!(instance = %instance.info.id, "admin join not done: {e}");
                }
            }
        }
        Op::Leave { room } => {
            for socket in selected(io, filter.as_deref(), false) {
                if let Err(e) = admin_room(instance, io, socket, &room, false).await {
                    tracing::debug!(instance = %instance.info.id, "admin leave not done: {e}");
                }
            }
        }
        Op::Disconnect => {
            for socket in selected(io, filter.as_deref(), false) {
                let _ = socket.disconnect();
            }
        }
    }
}

/// This instance's sockets of `/` that `filter` selects (all when `None`), without those still
/// attaching when `live_only`.
fn selected(io: &Io, filter: Option<&str>, live_only: bool) -> Vec<SocketRef<ClusterAdapter>> {
    // `of("/")`, not `local()`: the namespace is gone once the instance stops, and socketioxide's
    // shorthand panics then.
    let Some(operators) = io.of("/").map(|ns| ns.local()) else {
        return Vec::new();
    };
    let operators = match filter {
        Some(filter) => operators.to([own_room(filter), room_key(filter)]),
        None => operators,
    };
    let operators = if live_only {
        operators.except(ATTACHING)
    } else {
        operators
    };
    operators.sockets()
}

/// An emit's arguments, sent as separate arguments (socketioxide sends a serde tuple that way,
/// a sequence as one array).
struct Args<'a>(&'a [serde_json::Value]);

impl Serialize for Args<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for arg in self.0 {
            tuple.serialize_element(arg)?;
        }
        tuple.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_go_as_a_tuple() {
        let args = [serde_json::json!({"a": 1}), serde_json::json!(2)];
        assert!(socketioxide_core::parser::is_ser_tuple(&Args(&args)));
        assert_eq!(
            serde_json::to_string(&Args(&args)).unwrap(),
            r#"[{"a":1},2]"#
        );
    }
}
