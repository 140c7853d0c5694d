//! A session is used by one socket at a time: a socket that comes with a session token takes it
//! over, and the sockets that held it, on any instance, are told (`session_taken`) and
//! disconnected.
//!
//! One token used by two sockets at once gave both the same public id, and both got every direct
//! message to it: a leaked token let a second socket read the victim's messages beside it. The
//! newest use wins rather than the oldest because a client that reconnects (after a network
//! change, or moving to another instance) comes back with its token while its old socket may
//! still look alive to the server for up to a heartbeat timeout; refusing the newcomer would lock
//! the real client out of its own session until then.
//!
//! Every socket is in its own room (`crate::rooms::own_room`), and the adapter routes
//! `to(room).emit(..)` and `.disconnect()` to the sockets of every instance, in order on one
//! channel, so a remote holder gets `session_taken` before its disconnect. It is done twice:
//!
//! 1. In the connect middleware, before the new socket joins its room: every socket connected
//!    with the session then is told and disconnected, so the two never share the room.
//! 2. Once the new socket is connected (spawned by the connect handler), after a random delay of
//!    up to [`SETTLE`], if it is still connected: the same, the new socket excepted.
//!    socketioxide adds a socket to its namespace only after the middleware, so two sockets
//!    connecting with one token at once cannot see each other in the first step. Each one's
//!    second step is sent after it was added, and reaches the other if that was added by then.
//!    If A's did not reach B, B was added after it was handled, so B's was sent after A was
//!    added and reaches A: at least one of the two goes, never neither. Both go (each told) only
//!    when both second steps are sent before either lands, within about a millisecond; the
//!    random delay makes that rare, and the first to run then removes the other, which finds
//!    itself disconnected and stays quiet.
//!
//! While Redis cannot take the requests, the holders on this instance are still disconnected;
//! one on another instance keeps its socket until it reconnects (then it takes the session back,
//! and the newer one is told).

use std::{sync::Arc, time::Duration};

use gridcast_shared::{event, message::SessionTaken};
use socketioxide::{extract::SocketRef, operators::BroadcastOperators};
use socketioxide_core::adapter::errors::BroadcastError;

use crate::{instance::Instance, redis::adapter::ClusterAdapter, rooms::own_room};

/// Longest random delay of the second step.
const SETTLE: Duration = Duration::from_millis(100);

/// The second step for `socket` (public id `id`), which just connected with a session token: in a
/// task of its own, after a random delay of up to [`SETTLE`].
pub(super) fn settle(socket: SocketRef<ClusterAdapter>, instance: Arc<Instance>, id: String) {
    tokio::spawn(async move {
        let delay = rand::random_range(0..SETTLE.as_millis() as u64);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if socket.connected() {
            take_over(&socket, &instance, &id).await;
        }
    });
}

/// Tells every other socket with public id `id`, on any instance, that `socket` took its
/// session over, and disconnects them.
pub(super) async fn take_over(socket: &SocketRef<ClusterAdapter>, instance: &Instance, id: &str) {
    let taken = SessionTaken {
        instance_url: instance.info.url.clone(),
    };
    let room = own_room(id);
    if let Err(e) = tell_and_close(|| socket.to(room.clone()), &taken).await {
        tracing::debug!(instance = %instance.info.id, public_id = %id, "session takeover reached this instance only: {e}");
        let _ = tell_and_close(|| socket.to(room.clone()).local(), &taken).await;
    }
}

async fn tell_and_close(
    others: impl Fn() -> BroadcastOperators<ClusterAdapter>,
    taken: &SessionTaken,
) -> Result<(), BroadcastError> {
    match others().emit(event::SESSION_TAKEN, taken).await {
        // A full buffer only loses the notice; the disconnect below still closes that socket.
        Ok(()) | Err(BroadcastError::Socket(_)) => {}
        Err(e) => return Err(e),
    }
    others().disconnect().await
}
