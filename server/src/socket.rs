//! Socket.IO handlers of the default namespace.
//!
//! `message` with a string is broadcast to every client of every instance, the sender included, as
//! `message` with the same string and a [`MessageMeta`] beside it. Rejected input never reaches
//! other clients: the sender gets an ack (when it asked for one) or an `error` event.

use std::{convert::Infallible, sync::Arc};

use gridcast_shared::{
    Delivery, ErrorEvent, MessageMeta, Rejection, RejectionCode, SendAck, Welcome, event,
    limits::{Limits, RATE_BURST, RATE_PER_SECOND},
    validate,
};
use socketioxide::{
    adapter::Adapter,
    extract::{Extension, SocketRef, State, TryData},
    handler::FromMessageParts,
    socket::Socket,
};
use socketioxide_core::{Value, adapter::errors::BroadcastError};

use crate::{
    instance::{ClusterAdapter, Instance, Io},
    limit::RateLimit,
    now_ms,
};

/// Whether the client asked for an ack, read from the packet's ack id.
#[derive(Debug, Clone, Copy)]
pub struct AckRequested(pub bool);

impl<A: Adapter> FromMessageParts<A> for AckRequested {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<Socket<A>>,
        _: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(Self(ack_id.is_some()))
    }
}

/// Registers the namespace handlers on `io`; resolves once the Redis adapter is subscribed.
pub async fn register(
    io: &Io,
) -> Result<(), socketioxide_redis::InitError<crate::redis::LinkDriver>> {
    io.ns(event::NAMESPACE, on_connect).await
}

async fn on_connect(socket: SocketRef<ClusterAdapter>, State(instance): State<Arc<Instance>>) {
    tracing::debug!(instance = %instance.info.id, socket = %socket.id, "client connected");
    socket
        .extensions
        .insert(Arc::new(RateLimit::new(RATE_BURST, RATE_PER_SECOND)));
    let welcome = Welcome {
        instance: instance.info.clone(),
        limits: Limits::default(),
    };
    if let Err(e) = socket.emit(event::WELCOME, &welcome) {
        tracing::debug!(socket = %socket.id, "welcome not sent: {e}");
    }
    socket.on(event::MESSAGE, on_message);
}

async fn on_message(
    socket: SocketRef<ClusterAdapter>,
    io: Io,
    State(instance): State<Arc<Instance>>,
    Extension(limit): Extension<Arc<RateLimit>>,
    AckRequested(wants_ack): AckRequested,
    ack: socketioxide::extract::AckSender<ClusterAdapter>,
    TryData(data): TryData<serde_json::Value>,
) {
    let received_at = now_ms();
    let result = accept(&limit, data.as_ref().ok());
    let reply = match result {
        Ok(text) => {
            let meta = instance.stamp(socket.id.as_str(), received_at);
            let delivery = broadcast(&io, &instance, text, &meta).await;
            SendAck::ok(meta.id, delivery)
        }
        Err(rejection) => {
            tracing::debug!(socket = %socket.id, code = ?rejection.code, "message rejected");
            let error = rejection.into_event(event::MESSAGE);
            if !wants_ack {
                reject(&socket, &error);
                return;
            }
            SendAck::err(error)
        }
    };
    if wants_ack && let Err(e) = ack.send(&reply) {
        tracing::debug!(socket = %socket.id, "ack not sent: {e}");
    }
}

/// Rate limit first (a flood of invalid packets is still a flood), then validation.
fn accept<'a>(
    limit: &RateLimit,
    data: Option<&'a serde_json::Value>,
) -> Result<&'a str, Rejection> {
    if let Err(wait) = limit.take() {
        return Err(Rejection::new(
            RejectionCode::RateLimited,
            format!(
                "too many messages: at most {RATE_PER_SECOND}/s (bursts of {RATE_BURST}); retry in {} ms",
                wait.as_millis().max(1)
            ),
        ));
    }
    validate::message_text(data)
}

fn reject(socket: &SocketRef<ClusterAdapter>, error: &ErrorEvent) {
    if let Err(e) = socket.emit(event::ERROR, error) {
        tracing::debug!(socket = %socket.id, "error event not sent: {e}");
    }
}

/// Broadcasts through Redis; when Redis is unreachable, delivers to this instance's clients so a
/// Redis outage degrades the cluster to independent instances instead of silencing it.
async fn broadcast(io: &Io, instance: &Instance, text: &str, meta: &MessageMeta) -> Delivery {
    match io.emit(event::MESSAGE, &(text, meta)).await {
        Ok(()) => Delivery::Cluster,
        Err(BroadcastError::Adapter(e)) => {
            tracing::warn!(instance = %instance.info.id, "redis publish failed, delivering locally: {e}");
            instance.count_local_only();
            if let Err(e) = io.local().emit(event::MESSAGE, &(text, meta)).await {
                count_socket_errors(instance, e);
            }
            Delivery::LocalOnly
        }
        Err(e) => {
            count_socket_errors(instance, e);
            Delivery::Cluster
        }
    }
}

/// A full client buffer means that client misses this packet: count it and say so.
fn count_socket_errors(instance: &Instance, error: BroadcastError) {
    match error {
        BroadcastError::Socket(errors) => {
            let full = errors
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        socketioxide_core::adapter::errors::SocketError::InternalChannelFull
                    )
                })
                .count() as u64;
            if full > 0 {
                instance.count_dropped(full);
                tracing::warn!(instance = %instance.info.id, dropped = full, "client buffers full, packets dropped");
            }
        }
        other => tracing::warn!(instance = %instance.info.id, "broadcast failed: {other}"),
    }
}
