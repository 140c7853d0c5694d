//! What the server sends: events, `welcome`, the Redis link's changes, and the lines and notices
//! they make.

use gridcast_shared::{
    ErrorEvent, MessageMeta, RedisLink, Welcome, event,
    message::{Draining, RedisLinkStatus, ReplayWaiting, SessionTaken},
    presence::{PresenceDelta, Routed},
};
use leptos::prelude::*;
use serde_json::Value;

use super::state::{Connection, now};
use crate::{
    model::{self, Arrival, Arrived, Channel, Notice, Phase, Until},
    storage,
};

/// The first argument of an event as `T`, or a notice saying what could not be read.
fn first<T: serde::de::DeserializeOwned>(
    conn: Connection,
    what: &str,
    args: &mut Vec<Value>,
) -> Option<T> {
    let value = if args.is_empty() {
        Value::Null
    } else {
        args.remove(0)
    };
    serde_json::from_value(value)
        .inspect_err(|e| conn.notify(Notice::unreadable(what, e, now())))
        .ok()
}

/// The session spoke gridcast: it is not a plain server.
fn gridcast(conn: Connection) {
    conn.going.update_value(|g| g.gridcast = true);
}

/// Remembers `offset` as the last one received, when the page is on this cluster.
fn seen(conn: Connection, offset: Option<String>) {
    if let Some(offset) = offset
        && conn.going.with_value(|g| g.own)
    {
        storage::set_offset(offset);
    }
}

pub(super) fn on_event(conn: Connection, name: &str, mut args: Vec<Value>) {
    match name {
        event::MESSAGE => {
            // Arguments by position: the text, gridcast's metadata (an object), and whatever
            // later servers add after them.
            let Some(text) = first::<String>(conn, "a message", &mut args) else {
                return;
            };
            let meta = match args.into_iter().next() {
                Some(meta @ Value::Object(_)) => {
                    match serde_json::from_value::<MessageMeta>(meta) {
                        Ok(meta) => Some(meta),
                        Err(e) => {
                            conn.notify(Notice::unreadable("message metadata", e, now()));
                            None
                        }
                    }
                }
                _ => None,
            };
            if meta.is_some() {
                gridcast(conn);
            }
            seen(
                conn,
                meta.as_ref()
                    .and_then(|m| m.offset.as_ref())
                    .map(ToString::to_string),
            );
            // Grid-check probes use the plain broadcast contract; keep them out of the history.
            if !gridcast_shared::grid::is_tag(&text) {
                push_line(conn, text, meta, Channel::All);
            }
        }
        event::ROOM_MESSAGE | event::DIRECT => {
            if let Some(routed) = first::<Routed>(conn, "a room or direct message", &mut args) {
                gridcast(conn);
                seen(conn, routed.meta.offset.as_ref().map(ToString::to_string));
                if !routed.from_name.is_empty() {
                    conn.names.update(|n| {
                        n.insert(routed.meta.sender.clone(), routed.from_name.clone());
                    });
                }
                let channel = model::routed_channel(&routed);
                push_line(conn, routed.text, Some(routed.meta), channel);
            }
        }
        event::PRESENCE => {
            if let Some(deltas) = first::<Vec<PresenceDelta>>(conn, "presence changes", &mut args) {
                conn.members.update(|members| {
                    for delta in deltas {
                        model::apply(members, delta);
                    }
                });
                conn.members.with_untracked(|ms| conn.learn_names(ms));
            }
        }
        event::WELCOME => {
            if let Some(welcome) = first::<Welcome>(conn, "a welcome", &mut args) {
                welcomed(conn, welcome);
            }
        }
        event::REDIS_LINK => {
            if let Some(status) = first::<RedisLinkStatus>(conn, "a Redis link change", &mut args) {
                gridcast(conn);
                redis_link(conn, status);
            }
        }
        event::REPLAY_WAITING => {
            if let Some(waiting) = first::<ReplayWaiting>(conn, "a replay queue notice", &mut args)
            {
                gridcast(conn);
                conn.notify(
                    Notice::info(
                        format!(
                            "catching up: {} other replays are ahead of yours on this instance",
                            waiting.ahead
                        ),
                        now(),
                    )
                    .until(Until::Connected),
                );
            }
        }
        event::DRAINING => {
            if let Some(draining) = first::<Draining>(conn, "a draining notice", &mut args) {
                conn.going
                    .update_value(|g| g.drained_to = Some(draining.instances));
            }
        }
        event::SESSION_TAKEN => {
            if let Some(taken) = first::<SessionTaken>(conn, "a session takeover", &mut args) {
                conn.going
                    .update_value(|g| g.taken = Some(taken.instance_url));
            }
        }
        event::ERROR => {
            if let Some(error) = first::<ErrorEvent>(conn, "an error report", &mut args) {
                conn.notify(Notice::error(error.message, now()));
            }
        }
        // A plain server's own events are none of this page's business.
        _ if conn.link.with_untracked(|l| l.plain) => {}
        other => conn.notify(Notice::error(
            format!("the server sent an event this page does not know: \"{other}\""),
            now(),
        )),
    }
}

/// `welcome`: the page is attached; say how it got here and what it recovered.
fn welcomed(conn: Connection, welcome: Welcome) {
    gridcast(conn);
    conn.max_message_bytes.set(welcome.limits.max_message_bytes);
    conn.user.set(welcome.user.clone());
    let (arrived, own) = conn
        .going
        .try_update_value(|g| (std::mem::replace(&mut g.arrived, Arrived::Fresh), g.own))
        .unwrap_or((Arrived::Fresh, false));
    if own {
        storage::set_session(&welcome.session);
    }
    let now_ms = now();
    let at = Arrival {
        now_ms,
        time: clock(now_ms),
    };
    // The instance names itself: behind a load balancer, or opened at 127.0.0.1, the page still
    // says which instance of the cluster it is attached to.
    let url = if welcome.instance.url.is_empty() {
        conn.link.with_untracked(|l| l.url.clone())
    } else {
        welcome.instance.url.clone()
    };
    let (notice, gap) = model::on_recovery(
        welcome.recovery.as_ref(),
        welcome.restored,
        &arrived,
        &url,
        at,
    );
    if let Some(gap) = gap {
        let holding = conn.holding.get_value();
        conn.lines.update(|lines| {
            model::push_line(lines, gap, holding);
        });
        conn.received.update(|n| *n += 1);
    }
    conn.ended(Until::Connected);
    if let Some(notice) = notice {
        conn.notify(notice);
    }
    conn.link.update(|l| {
        l.id = welcome.id;
        l.url = url;
        l.plain = false;
        l.enter(Phase::Connected, now_ms);
    });
    if let Some(status) = welcome.redis {
        redis_link(conn, status);
    }
    // The list now, and its changes from now on (asking subscribes).
    conn.refresh_presence();
}

/// The instance's Redis link went down or came back (or is as `welcome` said).
fn redis_link(conn: Connection, status: RedisLinkStatus) {
    let now_ms = now();
    let down = status.state == RedisLink::Reconnecting;
    let was_down = conn.link.with_untracked(|l| l.redis_down.is_some());
    if down == was_down {
        return;
    }
    conn.link.update(|l| {
        // The instance's clock says since when; never later than now on this page's clock.
        l.redis_down = down.then_some((status.since as f64).min(now_ms));
    });
    if !down {
        conn.ended(Until::RedisBack);
        // The other instances' presence changes did not arrive meanwhile.
        conn.refresh_presence();
    }
}

fn push_line(conn: Connection, text: String, meta: Option<MessageMeta>, channel: Channel) {
    let now_ms = now();
    let (my_id, url, plain) = conn
        .link
        .with_untracked(|l| (l.id.clone(), l.url.clone(), l.plain));
    let at = Arrival {
        now_ms,
        time: clock(now_ms),
    };
    let fallback = format!(
        "plain-{}-{}",
        now_ms as u64,
        (js_sys::Math::random() * 1e15) as u64
    );
    let echo = if meta.is_none() && plain {
        conn.echoes
            .try_update_value(|e| e.arrived(&text, now_ms))
            .flatten()
    } else {
        None
    };
    let mut line = model::line(text, meta, channel, &my_id, at, fallback);
    if let Some(round_trip) = echo {
        line.mine = true;
        line.latency_ms = Some(round_trip.round() as i64);
    }
    let origin = if line.origin_url.is_empty() {
        url
    } else {
        line.origin_url.clone()
    };
    let latency = line.latency_ms.map(|ms| ms as f64);
    let holding = conn.holding.get_value();
    let mut added = false;
    conn.lines.update(|lines| {
        added = model::push_line(lines, line, holding);
    });
    if added {
        conn.received.update(|n| *n += 1);
        conn.traffic
            .update_value(|t| t.record(&origin, latency, now_ms));
    }
}

/// `HH:MM:SS` of a time in ms since the epoch, on the page's clock.
pub fn clock(ms: f64) -> String {
    let date = js_sys::Date::new(&ms.into());
    format!(
        "{:02}:{:02}:{:02}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}
