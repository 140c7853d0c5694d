//! One session after another: opening it with the CONNECT auth, and retrying or moving it when it
//! ends (capped exponential backoff with jitter; the next live instance after two failures).

use std::collections::HashMap;

use gloo_timers::future::TimeoutFuture;
use gridcast_shared::{event, instance::same_instance, presence::PresencePage, session::Happening};
use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;

use super::{
    events::on_event,
    state::{Connection, PLAIN_AFTER_MS, now, payload},
};
use crate::{
    model::{self, AckOutcome, Arrived, Awaiting, Phase},
    storage,
    transport::{self, Ended},
};

/// Keeps a session alive until superseded: to `base`, or, when it stops answering, to another
/// live instance.
pub(super) async fn run(conn: Connection, mut base: String, generation: u64) {
    let mut attempt: u32 = 0;
    loop {
        if !conn.is_current(generation) {
            return;
        }
        let (outbox, outgoing) = transport::outbox();
        conn.out.set_value(Some(outbox));
        let (own, session) = conn
            .going
            .try_update_value(|g| {
                g.gridcast = false;
                g.session += 1;
                (g.own, g.session)
            })
            .unwrap_or((false, 0));
        let auth = own.then(auth).flatten();
        let ended = transport::session(&base, auth, outgoing, |happening| {
            if conn.is_current(generation) {
                on_happening(conn, happening, &mut attempt, session);
            }
        })
        .await;
        let reason = match ended {
            Ended::Lost(reason) => reason,
            Ended::Superseded => return,
            Ended::Refused(why) => {
                // Not an outage: the instance answered, and would refuse the same auth again.
                if conn.is_current(generation) {
                    conn.out.set_value(None);
                    let reason = format!(
                        "sign-in refused by {}: {why}. Open the page with a valid token \
                         (?token=…), or pick an instance to try again",
                        model::label(&base)
                    );
                    conn.link
                        .update(|l| l.enter(Phase::Offline { reason }, now()));
                }
                return;
            }
        };
        if !conn.is_current(generation) {
            return;
        }
        conn.out.set_value(None);
        conn.pending.update_value(HashMap::clear);
        if let Some(at) = conn.going.try_update_value(|g| g.taken.take()).flatten() {
            let reason = format!(
                "this session is now in use on {} (another tab or device). This page stopped \
                 so that the two do not take it from each other: pick an instance to take it \
                 back, or reload for a new session",
                model::label(&at)
            );
            conn.link
                .update(|l| l.enter(Phase::Offline { reason }, now()));
            return;
        }
        attempt += 1;
        let drained_to = conn
            .going
            .try_update_value(|g| g.drained_to.take())
            .flatten();
        let next = if own {
            model::next_instance(
                &base,
                attempt,
                &conn.live.get_untracked(),
                drained_to.as_deref(),
            )
        } else {
            base.clone()
        };
        if same_instance(&next, &base) {
            conn.going.update_value(|g| {
                if matches!(g.arrived, Arrived::Fresh) {
                    g.arrived = Arrived::Retry;
                }
            });
            conn.link
                .update(|l| l.enter(Phase::Reconnecting { attempt, reason }, now()));
        } else {
            let from = std::mem::replace(&mut base, next);
            conn.going.update_value(|g| {
                g.arrived = Arrived::Failover { from: from.clone() };
            });
            storage::set_url(&base);
            conn.link.update(|l| {
                l.url = base.clone();
                l.enter(Phase::Moving { from }, now());
            });
        }
        if drained_to.is_none() {
            TimeoutFuture::new(backoff_ms(attempt)).await;
        }
    }
}

/// The CONNECT auth of this cluster's instances: the last offset, the session token, and the
/// sign-in token the page was opened with.
fn auth() -> Option<Value> {
    let saved = storage::load();
    let mut auth = serde_json::Map::new();
    if let Some(token) = storage::token() {
        auth.insert("token".into(), Value::from(token));
    }
    if let Some(offset) = saved.offset {
        auth.insert("offset".into(), Value::from(offset));
    }
    if let Some(session) = saved.session {
        auth.insert("session".into(), Value::from(session));
    }
    (!auth.is_empty()).then_some(Value::Object(auth))
}

/// 500 ms doubling to 5 s, with ±20 % jitter so that many tabs do not retry in step.
fn backoff_ms(attempt: u32) -> u32 {
    let base = (500u32 << attempt.saturating_sub(1).min(4)).min(5_000);
    let jitter = 0.8 + 0.4 * js_sys::Math::random();
    (f64::from(base) * jitter) as u32
}

fn on_happening(conn: Connection, happening: Happening, attempt: &mut u32, session: u64) {
    match happening {
        Happening::Connected { .. } => {
            *attempt = 0;
            conn.link.update(|l| l.enter(Phase::Joining, now()));
            // A server that never says `welcome` and shows no sign of gridcast is a plain one.
            spawn_local(async move {
                TimeoutFuture::new(PLAIN_AFTER_MS).await;
                let still = conn
                    .going
                    .try_with_value(|g| g.session == session && !g.gridcast)
                    .unwrap_or(false);
                if still && conn.link.with_untracked(|l| l.phase == Phase::Joining) {
                    conn.link.update(|l| {
                        l.plain = true;
                        l.enter(Phase::Connected, now());
                    });
                }
            });
        }
        Happening::Event { event, args } => on_event(conn, &event, args),
        Happening::Ack { id, mut args } => {
            let Some(awaiting) = conn.pending.try_update_value(|p| p.remove(&id)).flatten() else {
                return;
            };
            match model::on_ack(awaiting, args.pop(), now()) {
                AckOutcome::Notice(notice) => conn.notify(notice),
                AckOutcome::RedisDown(notice) => {
                    conn.link.update(|l| {
                        l.redis_down.get_or_insert(now());
                    });
                    conn.notify(notice);
                }
                AckOutcome::Members {
                    members,
                    first,
                    next,
                } => {
                    conn.learn_names(&members);
                    if first {
                        conn.members.set(model::distinct(members));
                    } else {
                        conn.members.update(|ms| {
                            for member in members {
                                model::upsert(ms, member);
                            }
                        });
                    }
                    // A large cluster's list comes in pages: ask for the next one.
                    if let Some(cursor) = next {
                        let page = PresencePage {
                            cursor: Some(cursor),
                            limit: None,
                        };
                        conn.request(
                            event::PRESENCE,
                            vec![payload(&page)],
                            Awaiting::Presence { first: false },
                        );
                    }
                }
                AckOutcome::Member(member) => {
                    conn.learn_names(std::slice::from_ref(&member));
                    conn.members.update(|ms| model::upsert(ms, member));
                }
            }
        }
        Happening::Send(_) => {}
    }
}
