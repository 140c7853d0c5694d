//! A token's life on a connection (`--auth jwt`): the connection is closed when its token
//! expires, unless the client sent a fresh one for the same user first (`refresh`).

use std::{sync::Arc, time::Duration};

use gridcast_shared::{
    Rejection, RejectionCode,
    auth::{Refresh, User},
    event,
    reply::Refreshed,
};
use socketioxide::extract::SocketRef;

use super::{
    request::{Arg, Request},
    state::SocketState,
};
use crate::{clock::now_ms, redis::adapter::ClusterAdapter};

/// Closes `socket` when its token expires (its `exp`, as `refresh` moves it), telling it why with
/// an `error` event; returns once the socket is gone either way.
pub(super) async fn expire(socket: SocketRef<ClusterAdapter>, state: Arc<SocketState>) {
    loop {
        let Some(exp) = state.claims().map(|c| c.exp) else {
            return;
        };
        // Saturating: a signed `exp` may be any u64 (10^17 s is a valid token).
        let left = Duration::from_millis(exp.saturating_mul(1000).saturating_sub(now_ms()));
        let gone = state.gone.notified();
        tokio::select! {
            () = tokio::time::sleep(left) => {}
            () = gone => return,
            // A refresh may bring an earlier expiry as well as a later one.
            () = state.refreshed.notified() => continue,
        }
        if !socket.connected() {
            return;
        }
        if state
            .claims()
            .is_some_and(|c| c.exp.saturating_mul(1000) > now_ms())
        {
            // Refreshed meanwhile.
            continue;
        }
        let error = Rejection::new(
            RejectionCode::TokenExpired,
            "your token expired: send a fresh one with `refresh` before it does; reconnect with a new token",
        )
        .into_event(event::REFRESH);
        let _ = socket.emit(event::ERROR, &error);
        let _ = socket.clone().disconnect();
        return;
    }
}

/// Handles `refresh`: a fresh token for the same user moves the connection's expiry (and its
/// permissions to the new claims'); rooms it may no longer join are left.
pub(super) async fn on_refresh(mut req: Request, arg: Arg<Refresh>) {
    let result = req.admit().await.and_then(|()| refresh(&req, arg));
    if let Ok(Refreshed { .. }) = req.respond(event::REFRESH, result) {
        let allowed = req.state.claims();
        for room in req.state.rooms() {
            if allowed.as_ref().is_some_and(|c| !c.may_join(&room)) {
                super::presence::drop_room(&req, &room).await;
            }
        }
    }
}

fn refresh(req: &Request, arg: Arg<Refresh>) -> Result<Refreshed, Rejection> {
    let Refresh { token } = arg.expect(r#"{"token": string}"#)?;
    let Some(current) = req.state.claims() else {
        return Err(Rejection::new(
            RejectionCode::BadRequest,
            "this server does not authenticate connections: there is no token to refresh",
        ));
    };
    let fresh = req
        .instance
        .auth()
        .verify(Some(&token))
        .map_err(|e| Rejection::new(RejectionCode::TokenExpired, e.to_string()))?
        .expect("a server that checks tokens gives claims");
    if fresh.sub != current.sub {
        return Err(Rejection::new(
            RejectionCode::Forbidden,
            "the fresh token is another user's: a connection keeps its user",
        ));
    }
    let user = User::from(&fresh);
    req.state.set_claims(fresh);
    req.state.refreshed.notify_one();
    Ok(Refreshed { user })
}
