//! `message`: a string from any client goes to every client on every instance, the sender
//! included, with a [`MessageMeta`](gridcast_shared::MessageMeta) beside it, through the history
//! ([`crate::hub`]).

use gridcast_shared::{Rejection, RejectionCode, Sent, event, validate};

use super::request::{Arg, Request};
use crate::hub::{Payload, Target};

/// Handles `message`.
pub(super) async fn on_message(mut req: Request, arg: Arg<serde_json::Value>) {
    let result = message(&req, arg).await;
    let _ = req.respond(event::MESSAGE, result);
}

async fn message(req: &Request, Arg(data): Arg<serde_json::Value>) -> Result<Sent, Rejection> {
    req.admit().await?;
    let text = validate::message_text(data.as_ref())?;
    if req.state.claims().is_some_and(|c| !c.broadcast) {
        return Err(Rejection::new(
            RejectionCode::Forbidden,
            "your token does not let you send to everyone (its broadcast claim): send to a room \
             or a user",
        ));
    }
    let meta = req.instance.stamp(&req.state.id, req.received_at);
    let id = meta.id.clone();
    let published = req
        .instance
        .hub()
        .publish(
            &req.io,
            Target::All,
            Payload::Message(text.to_owned(), meta),
            req.pass_turn(),
        )
        .await;
    Ok(Sent {
        id,
        delivery: published.delivery,
    })
}
