//! Event names on the default namespace `/`.
//!
//! Frames below are Socket.IO packets as they travel inside an Engine.IO `4` (message) packet over
//! a WebSocket text frame, e.g. the full frame for the first example is `42["message","hi"]`.

/// `message`, both directions.
///
/// - **Client to server**: one string argument, the text. An ack callback is optional; when present it
///   receives a [`Reply`](crate::Reply)`<`[`Sent`](crate::Sent)`>`.
///   Example: `2["message","hello"]`, or with ack id 7: `27["message","hello"]`.
/// - **Server to every client on every instance, the sender included**: the text as the first
///   argument, exactly as received, a [`MessageMeta`](crate::MessageMeta) as the second, and the
///   offset again as a string, last: the stock `socket.io-client` keeps the last string argument
///   of an event as the offset it sends back on reconnect (connection state recovery), so every
///   history-backed event (`message`, [`ROOM_MESSAGE`], [`DIRECT`]) ends with its offset and no
///   other event ends with a string. Clients that only know the plain string contract read the
///   first argument and ignore the rest.
///   Example: `2["message","hello",{"id":"a1b2c3d4-42","origin":"a1b2c3d4",
///   "origin_url":"http://127.0.0.1:3000","sender":"3f9c2a7e5b1d48c6a0e4f7b2d9c1e8a5","received_at":1764110000123,
///   "offset":"1764110000123-0"},"1764110000123-0"]` (a message delivered only by its instance
///   because Redis was away and its outbox full has no offset, and then no last string).
pub const MESSAGE: &str = "message";

/// `error`, server to one client: a rejected input, when the client did not ask for an ack.
///
/// Payload: an [`ErrorEvent`](crate::ErrorEvent).
/// Example: `2["error",{"event":"message","code":"too_large","message":"message is 5000 bytes, the limit is 4096"}]`.
pub const ERROR: &str = "error";

/// `welcome`, server to one client once it is attached: who the client is talking to, and how
/// catching up went. It is the last packet of attaching: what came before it (after the CONNECT
/// ack) is the replay of what the client missed and what was sent while it attached; everything
/// after it is live.
///
/// Payload: a [`Welcome`](crate::Welcome).
/// Example: `2["welcome",{"id":"3f9c2a7e5b1d48c6a0e4f7b2d9c1e8a5","instance":{"id":"a1b2c3d4","url":"http://127.0.0.1:3000","port":3000},"limits":{"max_message_bytes":4096},"session":"<32 hex digits>","restored":false}]`.
pub const WELCOME: &str = "welcome";

/// `replay_waiting`, server to one client that reconnected with an offset while every replay slot
/// of its instance was taken: its replay waits until `ahead` replays before it are done (its
/// `welcome` follows the replay as usual).
///
/// Payload: a [`ReplayWaiting`](crate::message::ReplayWaiting).
/// Example: `2["replay_waiting",{"ahead":3}]`.
pub const REPLAY_WAITING: &str = "replay_waiting";

/// `draining`, server to its clients when it is about to stop (SIGTERM): move to one of these
/// instances now (sending the last offset and the session token in the CONNECT auth); the
/// server disconnects right after.
///
/// Payload: a [`Draining`](crate::message::Draining).
/// Example: `2["draining",{"instances":["http://127.0.0.1:3001"]}]`.
pub const DRAINING: &str = "draining";

/// `session_taken`, server to one client: another connection (another tab, device or process)
/// came with this client's session token, and the session is now in use there; the server
/// disconnects this socket right after. A session is used by one socket at a time, the newest.
/// A client should not reconnect with the same token on its own after this, or two holders of
/// one token would take it from each other in a loop; the official client does not reconnect
/// after a server-side disconnect anyway.
///
/// Payload: a [`SessionTaken`](crate::message::SessionTaken).
/// Example: `2["session_taken",{"instance_url":"http://127.0.0.1:3001"}]`.
pub const SESSION_TAKEN: &str = "session_taken";

/// `redis_link`, server to each of its clients whenever the instance's link to Redis goes down or
/// comes back (its current state is also in [`Welcome::redis`](crate::Welcome::redis)). While it
/// is down, broadcasts still reach the instance's own clients at once and are queued for the
/// others (acks say `queued`), and presence changes of other instances do not arrive.
///
/// Payload: a [`RedisLinkStatus`](crate::message::RedisLinkStatus), an object (never a string,
/// so a client reading arguments by position cannot take it for an offset).
/// Example: `2["redis_link",{"state":"reconnecting","since":1764110000123}]`.
pub const REDIS_LINK: &str = "redis_link";

/// `set_name`, client to server, with ack: set this client's display name.
///
/// Payload: a [`SetName`](crate::presence::SetName); ack: `{"ok":true,"member":{..}}` or
/// `{"ok":false,"error":{..}}` (a [`Reply`](crate::Reply)`<`[`Changed`](crate::Changed)`>`).
/// Example: `21["set_name",{"name":"Ada"}]`, ack `31[{"ok":true,"member":{"id":"..","name":"Ada",..}}]`.
pub const SET_NAME: &str = "set_name";

/// `join`, client to server, with ack: join a room (its members may be on any instance).
///
/// Payload: a [`RoomRef`](crate::presence::RoomRef). Example: `22["join",{"room":"ops"}]`.
pub const JOIN: &str = "join";

/// `leave`, client to server, with ack: leave a room. Payload: a [`RoomRef`](crate::presence::RoomRef).
/// Example: `23["leave",{"room":"ops"}]`.
pub const LEAVE: &str = "leave";

/// `room_message`, both directions.
///
/// - **Client to server**, with optional ack ([`Reply`](crate::Reply)`<`[`Sent`](crate::Sent)`>`): a
///   [`ToRoom`](crate::presence::ToRoom); the sender must be in the room.
///   Example: `24["room_message",{"room":"ops","text":"deploying"}]`.
/// - **Server to every member of the room, on every instance**: a
///   [`Routed`](crate::presence::Routed) with `room` set, then its offset as a string (see
///   [`MESSAGE`]).
pub const ROOM_MESSAGE: &str = "room_message";

/// `direct`, both directions.
///
/// - **Client to server**, with optional ack ([`Reply`](crate::Reply)`<`[`Sent`](crate::Sent)`>`): a
///   [`ToSocket`](crate::presence::ToSocket) naming a client's public id, on any instance.
///   Example: `25["direct",{"to":"3f9c2a7e5b1d48c6a0e4f7b2d9c1e8a5","text":"hi"}]`.
/// - **Server to that socket, and to the sender**: a [`Routed`](crate::presence::Routed) with `to`
///   set, then its offset as a string (see [`MESSAGE`]).
pub const DIRECT: &str = "direct";

/// `presence`, both directions.
///
/// - **Client to server**, with ack: no payload (or `null`), or a [`PresencePage`](crate::presence::PresencePage);
///   the ack is a page of the cluster's [`Member`](crate::presence::Member)s,
///   `{"ok":true,"members":[..],"next":".."}` (a [`Reply`](crate::Reply)`<`[`Members`](crate::Members)`>`;
///   `next` absent on the last page, otherwise ask again with `{"cursor": next}`). Examples:
///   `26["presence"]`, `27["presence",{"cursor":"0:5f1c..","limit":100}]`. Asking subscribes the
///   socket to the changes.
/// - **Server to the clients that asked**: an array of
///   [`PresenceDelta`](crate::presence::PresenceDelta)s, the changes of one instance within
///   100 ms (a later change of a member replaces an earlier one). Example:
///   `2["presence",[{"op":"leave","id":"3f9c2a7e5b1d48c6a0e4f7b2d9c1e8a5","instance":"a1b2c3d4"}]]`.
pub const PRESENCE: &str = "presence";

/// `refresh`, client to server, with ack: a fresh token for the same user, before the current one
/// expires (with `--auth jwt`; otherwise the connection is closed when it expires).
///
/// Payload: a [`Refresh`](crate::auth::Refresh); ack: `{"ok":true,"user":{..}}` (a
/// [`Reply`](crate::Reply)`<`[`Refreshed`](crate::reply::Refreshed)`>`) or `{"ok":false,"error":{..}}`.
/// Example: `28["refresh",{"token":"eyJ..."}]`.
pub const REFRESH: &str = "refresh";

/// Every event a client may send. Any other event name is answered with
/// [`RejectionCode::UnknownEvent`](crate::RejectionCode::UnknownEvent) (through the ack, or an
/// [`ERROR`] event) and counts against the sender's rate limit.
pub const CLIENT_EVENTS: [&str; 8] = [
    MESSAGE,
    SET_NAME,
    JOIN,
    LEAVE,
    ROOM_MESSAGE,
    DIRECT,
    PRESENCE,
    REFRESH,
];

/// The namespace every gridcast event lives on.
pub const NAMESPACE: &str = "/";

/// The HTTP path of the Engine.IO endpoint (the Socket.IO default).
pub const ENGINE_IO_PATH: &str = "/socket.io/";
