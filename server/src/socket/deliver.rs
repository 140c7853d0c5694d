//! Emitting across the cluster. When Redis is unreachable, a broadcast is delivered on this
//! instance only, so an outage degrades the cluster to independent instances instead of silencing
//! it; full client buffers are counted, never dropped silently.

use gridcast_shared::Delivery;
use serde::Serialize;
use socketioxide::operators::BroadcastOperators;
use socketioxide_core::adapter::errors::{BroadcastError, SocketError};

use crate::instance::{ClusterAdapter, Instance};

/// Emits `event` with `data` to the sockets `target` selects across the cluster; says how far it
/// went.
pub async fn emit_cluster<T: ?Sized + Serialize>(
    instance: &Instance,
    target: impl Fn() -> BroadcastOperators<ClusterAdapter>,
    event: &str,
    data: &T,
) -> Delivery {
    match target().emit(event, data).await {
        Ok(()) => Delivery::Cluster,
        Err(BroadcastError::Adapter(e)) => {
            tracing::warn!(instance = %instance.info.id, event, "redis publish failed, delivering locally: {e}");
            instance.count_local_only();
            if let Err(e) = target().local().emit(event, data).await {
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

/// A full client buffer means that client misses this packet: count it (summarised in the log
/// by [`crate::drops::report`]).
fn count_socket_errors(instance: &Instance, error: BroadcastError) {
    if let Some(full) = full_buffers(&instance.info.id, error)
        && full > 0
    {
        instance.count_dropped(full);
        tracing::debug!(instance = %instance.info.id, dropped = full, "client buffers full, packets dropped");
    }
}

/// How many clients missed a broadcast because their buffer was full; other failures are
/// logged (for `instance`) and give `None`.
pub fn full_buffers(instance: &str, error: BroadcastError) -> Option<u64> {
    match error {
        BroadcastError::Socket(errors) => Some(
            errors
                .iter()
                .filter(|e| matches!(e, SocketError::InternalChannelFull))
                .count() as u64,
        ),
        other => {
            tracing::warn!(instance, "broadcast failed: {other}");
            None
        }
    }
}
