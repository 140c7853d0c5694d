//! `message`: a string from any client goes to every client on every instance, the sender
//! included, with a [`MessageMeta`](gridcast_shared::MessageMeta) beside it.

use gridcast_shared::{Sent, event, validate};

use super::{
    deliver::emit_cluster,
    request::{Arg, Request},
};

/// Handles `message`.
pub async fn on_message(mut req: Request, Arg(data): Arg<serde_json::Value>) {
    // Rate limit first: a flood of invalid packets is still a flood.
    let text = req
        .rate_limit()
        .and_then(|()| validate::message_text(data.as_ref()));
    let result = match text {
        Ok(text) => {
            let meta = req.instance.stamp(&req.state.id, req.received_at);
            let delivery = emit_cluster(
                &req.instance,
                || req.io.broadcast(),
                event::MESSAGE,
                &(text, &meta),
            )
            .await;
            Ok(Sent {
                id: meta.id,
                delivery,
            })
        }
        Err(rejection) => Err(rejection),
    };
    let _ = req.respond(event::MESSAGE, result);
}
