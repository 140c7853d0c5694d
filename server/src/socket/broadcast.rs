//! `message`: a string from any client goes to every client on every instance, the sender
//! included, with a [`MessageMeta`](gridcast_shared::MessageMeta) beside it.

use std::sync::Arc;

use gridcast_shared::{SendAck, event, validate};
use socketioxide::extract::{AckSender, Extension, SocketRef, State};

use super::{AckRequested, Arg, SocketState, answer, emit_cluster, rate_limit};
use crate::{
    instance::{ClusterAdapter, Instance, Io},
    now_ms,
};

/// Handles `message`.
pub async fn on_message(
    socket: SocketRef<ClusterAdapter>,
    io: Io,
    State(instance): State<Arc<Instance>>,
    Extension(state): Extension<Arc<SocketState>>,
    AckRequested(wants_ack): AckRequested,
    ack: AckSender<ClusterAdapter>,
    Arg(data): Arg<serde_json::Value>,
) {
    let received_at = now_ms();
    // Rate limit first: a flood of invalid packets is still a flood.
    let accepted = rate_limit(&state).and_then(|()| validate::message_text(data.as_ref()));
    match accepted {
        Ok(text) => {
            let meta = instance.stamp(&state.id, received_at);
            let delivery =
                emit_cluster(&instance, || io.broadcast(), event::MESSAGE, &(text, &meta)).await;
            answer(
                &socket,
                ack,
                wants_ack,
                None,
                &SendAck::ok(meta.id, delivery),
            );
        }
        Err(rejection) => {
            tracing::debug!(socket = %socket.id, code = ?rejection.code, "message rejected");
            let error = rejection.into_event(event::MESSAGE);
            answer(
                &socket,
                ack,
                wants_ack,
                Some(&error),
                &SendAck::err(error.clone()),
            );
        }
    }
}
