//! The Admin UI's operations, as its socket sends them: `emit(nsp, filter, event, ...args)`,
//! `join(nsp, room, filter?)`, `leave(nsp, room, filter?)`, `_disconnect(nsp, close, filter?)`
//! (`filter`: a room name or a socket's public id; none: every socket).
//!
//! Each reads as gridcast's handlers do: rate limit (the admin socket's own token bucket, as any
//! client's) → validate → submit to every instance (`super::bus`) → answer. The Admin UI asks for
//! no ack; a tool that does gets a `Reply` (`{"ok":true}`, or `{"ok":false,"error"}`), and a
//! refusal without ack is an `error` event, as for gridcast's own events. In read-only mode every
//! operation is refused.
//!
//! Only the namespace `/` may be acted on (the admin sockets of `/admin` are not listed). An emit
//! whose last argument is a string is refused: socket.io's stock client takes such a string for a
//! history offset (connection state recovery), and gridcast ends only history-backed events so.
//! `_disconnect` closes the socket whatever `close` says: a gridcast client has one socket per
//! connection.

use std::{convert::Infallible, sync::Arc};

use gridcast_shared::{Rejection, RejectionCode, Reply, event, presence::check_room};
use serde_json::Value as Json;
use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, SocketRef, State},
    handler::FromMessageParts,
    socket::Socket,
};
use socketioxide_core::Value;

use super::{
    bus::{Command, Op},
    context::Admin,
    wire::CLIENTS,
};
use crate::{limit::bucket::RateLimit, redis::adapter::ClusterAdapter};

/// What an admin socket carries: its rate limit.
#[derive(Debug)]
pub(crate) struct AdminSocketState {
    pub(crate) limit: RateLimit,
}

/// Registers the operations on an admin socket (in the connect middleware, before the CONNECT
/// ack, like gridcast's own handlers).
pub(crate) fn register(socket: &SocketRef<ClusterAdapter>) {
    socket.on("emit", on_emit);
    socket.on("join", on_join);
    socket.on("leave", on_leave);
    socket.on("_disconnect", on_disconnect);
    socket.on_fallback(on_unknown);
}

/// An event's arguments as JSON, the event name first (or why they could not be read), and
/// whether the sender asked for an ack.
pub(crate) struct Raw {
    args: Result<Vec<Json>, &'static str>,
    wants_ack: bool,
}

impl<A: Adapter> FromMessageParts<A> for Raw {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<Socket<A>>,
        value: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let args = match value {
            Value::Str(raw, attachments) if attachments.as_ref().is_none_or(|a| a.is_empty()) => {
                serde_json::from_str(raw).map_err(|_| "arguments that are not JSON")
            }
            _ => Err("binary arguments"),
        };
        Ok(Self {
            args,
            wants_ack: ack_id.is_some(),
        })
    }
}

async fn on_emit(s: SocketRef<ClusterAdapter>, a: State<Arc<Admin>>, r: Raw, k: Ack) {
    operation(s, a, r, k, "emit").await;
}

async fn on_join(s: SocketRef<ClusterAdapter>, a: State<Arc<Admin>>, r: Raw, k: Ack) {
    operation(s, a, r, k, "join").await;
}

async fn on_leave(s: SocketRef<ClusterAdapter>, a: State<Arc<Admin>>, r: Raw, k: Ack) {
    operation(s, a, r, k, "leave").await;
}

async fn on_disconnect(s: SocketRef<ClusterAdapter>, a: State<Arc<Admin>>, r: Raw, k: Ack) {
    operation(s, a, r, k, "_disconnect").await;
}

async fn on_unknown(s: SocketRef<ClusterAdapter>, a: State<Arc<Admin>>, r: Raw, k: Ack) {
    operation(s, a, r, k, "").await;
}

type Ack = AckSender<ClusterAdapter>;

async fn operation(
    socket: SocketRef<ClusterAdapter>,
    State(admin): State<Arc<Admin>>,
    Raw { args, wants_ack }: Raw,
    ack: Ack,
    name: &'static str,
) {
    let result = decide(&socket, &admin, args, name);
    let result = match result {
        Ok(command) => admin.submit(command).await.map_err(|e| {
            Rejection::new(
                RejectionCode::Unavailable,
                format!("done on this instance only: the others could not be told ({e})"),
            )
        }),
        Err(rejection) => Err(rejection),
    };
    let name = if name.is_empty() { "unknown" } else { name };
    let sent = match (&result, wants_ack) {
        (Ok(()), _) => ack.send(&Reply::Ok(serde_json::json!({}))),
        (Err(r), true) => ack.send(&Reply::<()>::Err(r.clone().into_event(name))),
        (Err(r), false) => socket.emit(event::ERROR, &r.clone().into_event(name)),
    };
    if let Err(e) = sent {
        tracing::debug!(instance = %admin.instance.info.id, "admin reply not sent: {e}");
    }
}

/// The command an operation asks for, or why it is refused.
fn decide(
    socket: &SocketRef<ClusterAdapter>,
    admin: &Admin,
    args: Result<Vec<Json>, &'static str>,
    name: &'static str,
) -> Result<Command, Rejection> {
    let bad = |message: String| Rejection::new(RejectionCode::BadRequest, message);
    if let Some(state) = socket.extensions.get::<Arc<AdminSocketState>>() {
        state.limit.take().map_err(|wait| {
            Rejection::new(
                RejectionCode::RateLimited,
                format!(
                    "too many operations; retry in {} ms",
                    wait.as_millis().max(1)
                ),
            )
        })?;
    }
    if name.is_empty() {
        return Err(Rejection::new(
            RejectionCode::UnknownEvent,
            "unknown event; the Admin UI's namespace accepts: emit, join, leave, _disconnect",
        ));
    }
    if admin.access.read_only() {
        return Err(Rejection::new(
            RejectionCode::BadRequest,
            "the Admin UI is read-only on this cluster (--admin-read-only)",
        ));
    }
    let args = args.map_err(|what| bad(format!("{name} got {what}")))?;
    let mut args = args.into_iter().skip(1);
    match args.next() {
        Some(Json::String(nsp)) if nsp == CLIENTS => {}
        Some(other) => {
            return Err(bad(format!(
                "namespace {other}: the Admin UI may act on \"/\" only"
            )));
        }
        None => return Err(bad(format!("{name} needs a namespace first"))),
    }
    let command = |op, filter| Ok(Command { op, filter });
    match name {
        "emit" => {
            let filter = filter(args.next())?;
            let event = match args.next() {
                Some(Json::String(event)) if !event.is_empty() && !is_reserved(&event) => event,
                _ => return Err(bad("emit needs an event name (not a reserved one)".into())),
            };
            let args: Vec<Json> = args.collect();
            if matches!(args.last(), Some(Json::String(_))) {
                return Err(bad(
                    "an emit may not end with a string: socket.io's client would take it for \
                     a history offset; end with another value"
                        .into(),
                ));
            }
            command(Op::Emit { event, args }, filter)
        }
        "join" | "leave" => {
            let room = match args.next() {
                Some(Json::String(room)) => room,
                _ => return Err(bad(format!("{name} needs a room name"))),
            };
            check_room(&room)?;
            let filter = filter(args.next())?;
            let op = if name == "join" {
                Op::Join { room }
            } else {
                Op::Leave { room }
            };
            command(op, filter)
        }
        _ => {
            // `close` (the next argument) changes nothing here.
            let filter = filter(args.nth(1))?;
            command(Op::Disconnect, filter)
        }
    }
}

/// A filter argument: nothing, `null` or `""` (every socket), a room name or a public id.
fn filter(arg: Option<Json>) -> Result<Option<String>, Rejection> {
    match arg {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(filter)) if filter.is_empty() => Ok(None),
        Some(Json::String(filter)) => {
            check_room(&filter).map_err(|_| {
                Rejection::new(
                    RejectionCode::BadRequest,
                    "the filter must be a room name or a socket id",
                )
            })?;
            Ok(Some(filter))
        }
        Some(_) => Err(Rejection::new(
            RejectionCode::BadRequest,
            "the filter must be a string: a room name or a socket id",
        )),
    }
}

/// Event names socket.io's client keeps for itself.
fn is_reserved(event: &str) -> bool {
    matches!(
        event,
        "connect"
            | "connect_error"
            | "disconnect"
            | "disconnecting"
            | "newListener"
            | "removeListener"
    )
}
