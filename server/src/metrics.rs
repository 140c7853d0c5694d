//! `GET /metrics`: the instance's counters in the Prometheus/OpenMetrics text format
//! (prometheus-client). Each instance serves its own; a scraper adds the target's labels.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `gridcast_clients` | gauge | connected clients |
//! | `gridcast_redis_up` | gauge | 1 while the Redis link is up |
//! | `gridcast_broadcasts_total` | counter | broadcasts this instance originated (`message`, `room_message`, `direct`) |
//! | `gridcast_local_only_broadcasts_total` | counter | of those, delivered on this instance only (Redis away) |
//! | `gridcast_dropped_packets_total{cause}` | counter | packets dropped for a full client buffer: `origin` (broadcasts of this instance), `relayed` (from other instances) |
//! | `gridcast_slow_clients_closed_total` | counter | clients closed because a packet did not fit in their buffer (each reconnects and replays what it missed) |
//! | `gridcast_unsent_total{cause}` | counter | packets for one client not sent, or Redis entries not readable: `welcome`, `reply`, `bad_registry_entry`, `bad_presence_member`, `bad_history_entry` |
//! | `gridcast_api_requests_total{outcome}` | counter | publish API requests: `accepted`, or refused for their `key`, `body` or `rate` |
//! | `gridcast_refused_tokens_total{cause}` | counter | with `--auth jwt`: tokens refused at connect or `refresh`: `missing`, `expired`, `not_yet`, `elsewhere` (audience or issuer), `signature`, `malformed` |
//! | `gridcast_redis_publish_seconds` | histogram | time to publish a broadcast to Redis, failures included |

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::{api::key::Refused, auth::AuthError, instance::Instance};

/// The content type of the text this module renders.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type ByCause = Family<Vec<(String, String)>, Counter>;

fn by_cause(values: &[(&str, u64)]) -> ByCause {
    let family = ByCause::default();
    for (cause, value) in values {
        family
            .get_or_create(&vec![("cause".to_owned(), (*cause).to_owned())])
            .inc_by(*value);
    }
    family
}

fn counter(value: u64) -> Counter {
    let counter = Counter::default();
    counter.inc_by(value);
    counter
}

fn gauge(value: i64) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(value);
    gauge
}

/// The current values of `instance` (with `clients` connected, and its publish API's
/// `(refused by cause, accepted)`) as OpenMetrics text.
pub(crate) fn render(instance: &Instance, clients: usize, api: ([u64; 3], u64)) -> String {
    let health = instance.health(clients);
    let mut registry = Registry::with_prefix("gridcast");
    registry.register("clients", "Connected clients", gauge(clients as i64));
    registry.register(
        "redis_up",
        "1 while the Redis link is up",
        gauge(i64::from(health.redis == gridcast_shared::RedisLink::Up)),
    );
    registry.register(
        "broadcasts",
        "Broadcasts this instance originated (message, room_message, direct)",
        counter(instance.broadcasts()),
    );
    registry.register(
        "local_only_broadcasts",
        "Broadcasts delivered on this instance only because Redis was away",
        counter(health.local_only_broadcasts),
    );
    registry.register(
        "dropped_packets",
        "Packets dropped because a client's buffer was full",
        by_cause(&[
            ("origin", health.dropped_packets - health.dropped_relayed),
            ("relayed", health.dropped_relayed),
        ]),
    );
    registry.register(
        "slow_clients_closed",
        "Clients closed because a packet did not fit in their buffer",
        counter(health.slow_clients_closed),
    );
    let unsent = &health.unsent;
    registry.register(
        "unsent",
        "Packets for one client not sent, or Redis entries not readable",
        by_cause(&[
            ("welcome", unsent.welcome),
            ("reply", unsent.reply),
            ("bad_registry_entry", unsent.bad_registry_entries),
            ("bad_presence_member", unsent.bad_presence_members),
            ("bad_history_entry", unsent.bad_history_entries),
        ]),
    );
    let (refused, accepted) = api;
    let mut outcomes: Vec<(&str, u64)> = Refused::ALL
        .iter()
        .map(|why| why.name())
        .zip(refused)
        .collect();
    outcomes.push(("accepted", accepted));
    let family = ByCause::default();
    for (outcome, value) in outcomes {
        family
            .get_or_create(&vec![("outcome".to_owned(), outcome.to_owned())])
            .inc_by(value);
    }
    registry.register(
        "api_requests",
        "Publish API requests: accepted, or refused for their key, body or rate",
        family,
    );
    if let Some(refused) = instance.auth().refusals() {
        let causes: Vec<(&str, u64)> = AuthError::CAUSES.into_iter().zip(refused).collect();
        registry.register(
            "refused_tokens",
            "Tokens refused at connect or refresh, by cause",
            by_cause(&causes),
        );
    }
    registry.register(
        "redis_busy_probes",
        "Health probes that found Redis slower than the command timeout but answering (a deep command queue or a busy instance): the link stayed up",
        counter(instance.link().busy_probes()),
    );
    registry.register(
        "redis_publish_seconds",
        "Time to publish a broadcast to Redis, failures included",
        instance.link().publish_latency().clone(),
    );
    let mut out = String::new();
    encode(&mut out, &registry).expect("writing to a String cannot fail");
    out
}
