//! The server side of the official Socket.IO Admin UI (`@socket.io/admin-ui`), on the `/admin`
//! namespace of every instance, and its page at `/admin/`.
//!
//! - [`auth`]: the password (hashed), the login of the CONNECT, sessions.
//! - [`namespace`]: `/admin`'s middleware and connect handler: `session`, `config`,
//!   `all_sockets` (from presence).
//! - [`feed`]: what the instance tells the Admin UIs of its sockets as it happens (carried by the
//!   [`Instance`](crate::instance::Instance); nothing while no Admin UI is connected).
//! - [`stats`]: `server_stats` every 2 s, transports and handshakes (`socket_updated`).
//! - [`ops`]: the operations (`emit`, `join`, `leave`, `_disconnect`): checked, then told to
//!   every instance on the [`bus`] (read by [`listen`], which also keeps the feeds on), and
//!   [`apply`]: applied by each to its own sockets.
//! - [`wire`]: the Admin UI's payloads, and how a gridcast socket is shown (by its public id).
//! - [`context`]: what the handlers and tasks of one instance share; [`start()`]: starting them.
//! - [`ui`]: the page, with its fonts from npm packages.
//!
//! Dependencies: `feed` and `wire` know only socketioxide, the adapter and the clock (the
//! instance carries the feed); the others use the instance, Redis (through `crate::redis`), and
//! gridcast's own room change (`crate::socket::admin_room`), which the Admin UI's join goes
//! through.

mod apply;
pub(crate) mod auth;
mod bus;
mod context;
pub(crate) mod feed;
mod listen;
mod namespace;
mod ops;
mod start;
mod stats;
pub(crate) mod ui;
mod wire;

pub(crate) use auth::Access;
pub(crate) use context::Admin;
pub(crate) use start::start;
