//! The task that reads the Admin UI's bus (`super::bus`) on one instance: it turns the feed on
//! when an Admin UI is connected somewhere, has the instance describe its sockets to a new one,
//! and queues the other instances' commands (this instance queued its own already).

use std::sync::Arc;

use futures_util::{Stream, StreamExt};

use super::{
    bus::{Envelope, Message},
    context::Admin,
};

/// Reads the bus until it ends: turns the feed on when an Admin UI is connected somewhere, and
/// queues the other instances' commands. Never waits on anything but the bus (the link's router
/// would wait behind it).
pub(crate) async fn listen(admin: Arc<Admin>, mut bus: impl Stream<Item = Vec<u8>> + Unpin) {
    let own = admin.instance.info.id.clone();
    while let Some(payload) = bus.next().await {
        let Envelope { from, message } = match serde_json::from_slice(&payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                admin
                    .instance
                    .warnings()
                    .warn("unreadable admin bus message skipped", &e);
                continue;
            }
        };
        match message {
            Message::Watch { fresh } => {
                if admin.feed().watch() {
                    admin.wake.notify_one();
                }
                if fresh {
                    admin.describe_soon();
                }
            }
            Message::Command(command) if from != own => admin.queue(command),
            Message::Command(_) => {}
        }
    }
}
