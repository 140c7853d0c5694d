//! What every handler needs: the [`Request`] (socket, its state, the instance, how to answer) and
//! the [`Arg`] it carries, so a handler reads as rate limit → validate → act → respond.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
};

use gridcast_shared::{Rejection, RejectionCode, Reply, Unreadable, event};
use serde::{Serialize, de::DeserializeOwned};
use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, SocketRef, State, TryData},
    handler::FromMessageParts,
    socket::Socket,
};
use socketioxide_core::Value;

use super::{
    state::SocketState,
    turn::{MAX_WAITING, Turn},
};
use crate::{
    clock::now_ms,
    instance::{Instance, Unsent},
    limit::{budget::OverBudget, report::Refused},
    redis::adapter::{ClusterAdapter, Io},
};

/// One request from a client: who sent it, to which instance, and how to answer it.
///
/// Answering goes through [`respond`](Self::respond) only: the ack when the client asked for one
/// (a [`Reply`]), otherwise, for a rejection, an `error` event. Dropping a `Request` without
/// responding answers nothing, which is right only for events without ack that succeeded.
pub(super) struct Request {
    /// The sending socket.
    pub(super) socket: SocketRef<ClusterAdapter>,
    /// The instance's Socket.IO handle (broadcasts are delivered through it while Redis is away).
    pub(super) io: Io,
    pub(super) instance: Arc<Instance>,
    /// The sender's state (public id, rate limit, member record).
    pub(super) state: Arc<SocketState>,
    /// When the request arrived, in milliseconds since the Unix epoch.
    pub(super) received_at: u64,
    ack: Option<AckSender<ClusterAdapter>>,
    /// Whether the rate limit (or the cap on requests in progress) refused it, decided on
    /// arrival, in arrival order: see [`admit`](Self::admit).
    admission: Result<(), Rejection>,
    /// Its turn among its socket's requests, until passed on ([`pass_turn`](Self::pass_turn)).
    turn: Mutex<Option<Turn>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the socket id: it is the Engine.IO session id, a polling session's credential.
        f.debug_struct("Request")
            .field("public_id", &self.state.id)
            .field("wants_ack", &self.ack.is_some())
            .finish()
    }
}

/// Why a [`Request`] could not be built (the handler is then not called).
#[derive(Debug, thiserror::Error)]
pub(super) enum RequestError {
    /// The socket has no [`SocketState`]: its connect handler did not run.
    #[error("the socket has no gridcast state")]
    NoSocketState,
    /// The Socket.IO handle carries no [`Instance`].
    #[error("the instance state is missing")]
    NoInstance,
}

impl FromMessageParts<ClusterAdapter> for Request {
    type Error = RequestError;
    fn from_message_parts(
        s: &Arc<Socket<ClusterAdapter>>,
        v: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, RequestError> {
        let Ok(socket) = SocketRef::from_message_parts(s, v, ack_id);
        let Ok(io) = Io::from_message_parts(s, v, ack_id);
        let State(instance) = State::<Arc<Instance>>::from_message_parts(s, v, ack_id)
            .map_err(|_| RequestError::NoInstance)?;
        let state = s
            .extensions
            .get::<Arc<SocketState>>()
            .ok_or(RequestError::NoSocketState)?;
        let ack = match ack_id {
            Some(_) => AckSender::from_message_parts(s, v, ack_id).ok(),
            None => None,
        };
        // Here, not in the handler: extractors run in arrival order, handlers' tasks in any.
        let mut turn = None;
        let admission = rate_limit(&instance, &state).and_then(|()| {
            turn = state.turns.take();
            turn.as_ref().map(|_| ()).ok_or_else(|| {
                Rejection::new(
                    RejectionCode::RateLimited,
                    format!(
                        "{MAX_WAITING} of your requests are in progress already: wait for their \
                         answers"
                    ),
                )
            })
        });
        Ok(Self {
            socket,
            io,
            instance,
            state,
            received_at: now_ms(),
            ack,
            admission,
            turn: Mutex::new(turn),
        })
    }
}

/// Takes one request from the sender's budgets: its client's and its address's.
fn rate_limit(instance: &Instance, state: &SocketState) -> Result<(), Rejection> {
    let budget = &state.budget;
    budget.take().map_err(|over| {
        let (what, rate, wait) = match over {
            OverBudget::Client(rate, wait) => (Refused::RequestOverClientBudget, rate, wait),
            OverBudget::Address(rate, wait) => (Refused::RequestOverAddressBudget, rate, wait),
        };
        instance.refusals().count(what, budget.address());
        let whose = match what {
            Refused::RequestOverAddressBudget => {
                " from your address (all its connections together)"
            }
            _ => "",
        };
        Rejection::new(
            RejectionCode::RateLimited,
            format!(
                "too many messages{whose}: at most {}/s (bursts of {}); retry in {} ms",
                rate.per_second,
                rate.burst,
                wait.as_millis().max(1)
            ),
        )
    })
}

impl Request {
    /// Lets the request act: at once if it was refused (the refusal), otherwise once every
    /// earlier request of its socket has passed its turn on (`super::turn`), so that one
    /// client's requests act in the order it sent them. Every handler calls it first.
    pub(super) async fn admit(&self) -> Result<(), Rejection> {
        self.admission.clone()?;
        let taken = self.turn.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut turn) = taken {
            turn.wait().await;
            *self.turn.lock().unwrap_or_else(|p| p.into_inner()) = Some(turn);
        }
        Ok(())
    }

    /// The request's turn, to be dropped once its place in the order is settled (the next
    /// request then goes); otherwise it passes on when the request ends.
    pub(super) fn pass_turn(&self) -> Option<Turn> {
        self.turn.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Answers the request for `event` with `result`: a [`Reply`] through the ack when the client
    /// asked for one; otherwise an `error` event when it was rejected, nothing when it was done.
    /// Returns the result for what the handler does next.
    pub(super) fn respond<T: Serialize>(
        &mut self,
        event: &str,
        result: Result<T, Rejection>,
    ) -> Result<T, Rejection> {
        let error = |r: &Rejection| r.clone().into_event(event);
        let sent = match (self.ack.take(), &result) {
            (Some(ack), Ok(body)) => ack.send(&Reply::Ok(body)).map_err(|e| e.to_string()),
            (Some(ack), Err(r)) => ack
                .send(&Reply::<()>::Err(error(r)))
                .map_err(|e| e.to_string()),
            (None, Err(r)) => self
                .socket
                .emit(event::ERROR, &error(r))
                .map_err(|e| e.to_string()),
            (None, Ok(_)) => Ok(()),
        };
        if let Err(e) = sent {
            // Counted and summarised (`Instance::report_unsent`): a client whose buffer is full
            // would otherwise make a warning of every request it sends.
            self.instance.count_unsent(Unsent::Reply);
            tracing::debug!(instance = %self.instance.info.id, public_id = %self.state.id, event, "reply not sent: {e}");
        }
        result
    }
}

/// The first argument of an event, or what made it unreadable (no argument, a binary
/// attachment, invalid JSON), so that the sender is told what the server received.
#[derive(Debug)]
pub(super) struct Arg<T>(pub(super) Result<T, Unreadable>);

impl<A: Adapter, T: DeserializeOwned> FromMessageParts<A> for Arg<T> {
    type Error = Infallible;
    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        value: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let binary = match value {
            Value::Str(_, attachments) => attachments.as_ref().is_some_and(|a| !a.is_empty()),
            Value::Bytes(_) => true,
        };
        if binary {
            return Ok(Self(Err(Unreadable::Binary)));
        }
        let Ok(TryData(data)) = TryData::<T>::from_message_parts(socket, value, ack_id);
        Ok(Self(data.map_err(|e| {
            // serde's position ("at line 1 column 13") means nothing to the sender.
            let e = e.to_string();
            let e = e.split(" at line ").next().unwrap_or_default().to_owned();
            // Only on failure: is it JSON at all, and how many items (the event name first)?
            let items = match value {
                Value::Str(raw, _) => {
                    // `Value`, not `IgnoredAny`: only decoding strings checks their escapes.
                    serde_json::from_str::<Vec<serde_json::Value>>(raw).map(|v| v.len())
                }
                Value::Bytes(_) => Ok(0),
            };
            match items {
                Ok(0 | 1) => Unreadable::Missing,
                Ok(_) => Unreadable::Unexpected(e),
                Err(_) => Unreadable::Invalid(e),
            }
        })))
    }
}

impl<T> Arg<T> {
    /// The argument, or a `bad_request` rejection saying what shape was `expected`.
    pub(super) fn expect(self, expected: &str) -> Result<T, Rejection> {
        self.0.map_err(|unreadable| {
            Rejection::new(
                RejectionCode::BadRequest,
                format!("expected {expected}, got {}", unreadable.describe()),
            )
        })
    }

    /// [`expect`](Self::expect) for an optional argument: none given is `None`.
    pub(super) fn optional(self, expected: &str) -> Result<Option<T>, Rejection> {
        match self.0 {
            Err(Unreadable::Missing) => Ok(None),
            other => Self(other).expect(expected).map(Some),
        }
    }
}

/// The rejection of a request that needs the cluster's shared state while Redis cannot give it.
pub(super) fn unavailable(e: impl std::fmt::Display) -> Rejection {
    Rejection::new(
        RejectionCode::Unavailable,
        format!("the cluster state is unavailable right now ({e}); try again"),
    )
}
