//! Socket.IO handlers of the default namespace, one module per feature.
//!
//! - [`connect`]: the connect middleware and handler, disconnect, unknown events.
//! - [`state`]: what a connected socket carries (public id, session token, rate limit, member).
//! - [`request`]: the [`Request`](request::Request) every handler takes, and how it answers.
//! - [`broadcast`]: `message` to everyone on every instance (the seed-compatible contract).
//! - [`routed`]: `room_message` and `direct`.
//! - [`presence`]: display names, rooms, and the presence list.
//! - [`refresh`]: a token's life on a connection (`--auth jwt`): `refresh`, expiry.
//! - [`takeover`]: a session is used by one socket at a time, the newest.
//! - [`turn`]: one socket's requests act in the order they arrived.
//!
//! Every request is rate limited per socket, acts after the ones its socket sent before it, validated with the rules in `gridcast_shared`, and
//! answered: through the ack when the client asked for one, otherwise (only on rejection) with an
//! `error` event. Rejected input never reaches other clients. Unknown events are answered the
//! same way (`unknown_event`) and count against the rate limit.
//!
//! **Identity.** socketioxide uses the Engine.IO session id as the socket id, and with HTTP
//! long-polling that id is the session's only credential: whoever knows it can post packets as
//! that client, close it, or upgrade its session to a WebSocket of their own. So the socket id
//! never leaves the server. Each socket gets a random *public id* at connect
//! ([`SocketState::id`](state::SocketState::id)); presence, message metadata and direct-message
//! addressing use only that, and the room a socket joins for its direct messages is named after it
//! (`crate::rooms::own_room`).

mod broadcast;
mod connect;
mod presence;
mod refresh;
mod request;
mod routed;
mod state;
mod takeover;
mod turn;

use gridcast_shared::event;
use socketioxide::handler::ConnectHandler;

pub(crate) use connect::local_sessions;
pub(crate) use presence::by_admin as admin_room;
pub(crate) use state::SocketState;

use crate::redis::adapter::{InitError, Io};

/// Registers the namespace handlers on `io`; resolves once the Redis adapter is subscribed.
pub(crate) async fn register(io: &Io) -> Result<(), InitError> {
    io.ns(event::NAMESPACE, connect::on_connect.with(connect::arrive))
        .await
}
