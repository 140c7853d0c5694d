//! `message`: a string from any client goes to every client on every instance, the sender
//! included, with a [`MessageMeta`](gridcast_shared::MessageMeta) beside it.

use gridcast_shared::{Rejection, Sent, event, validate};

use super::{
    deliver::emit_cluster,
    request::{Arg, Request},
};

/// Handles `message`.
pub async fn on_message(mut req: Request, arg: Arg<serde_json::Value>) {
    let result = message(&req, arg).await;
    let _ = req.respond(event::MESSAGE, result);
}

async fn message(req: &Request, Arg(data): Arg<serde_json::Value>) -> Result<Sent, Rejection> {
    // Rate limit first: a flood of invalid packets is still a flood.
    req.rate_limit()?;
    let text = validate::message_text(data.as_ref())?;
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
