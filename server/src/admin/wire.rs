//! What the Admin UI reads: its events' payloads (`config`, `server_stats`, socket objects,
//! `socket_updated`), as `@socket.io/admin-ui` 0.5.1's server half sends them
//! (`lib/typed-events.ts`, `lib/index.ts`), and how a gridcast socket becomes one of its socket
//! objects.
//!
//! **Identity.** A socket's `id` (and `clientId`) is its public id, never socketioxide's
//! `socket.id` (the Engine.IO session id, a polling session's only credential). Its rooms are the
//! user rooms by their user-facing names, and its own room under its public id (the UI marks a
//! room named like the socket as private, as Node.js' server puts every socket in a room named
//! after its id); gridcast's internal rooms (`~attaching`, `~presence`) are not shown.
//!
//! **What the handshake shows.** Only headers on an allow-list (no `Cookie`, no
//! `Authorization`, nothing an application may have put a secret in) and the Engine.IO query
//! parameters `EIO` and `transport`. The CONNECT auth (which carries the session token) is
//! never shown, as Node.js' server does not show it either.

use std::collections::BTreeMap;

use gridcast_shared::presence::Member;
use serde::Serialize;
use socketioxide::{TransportType, socket::DisconnectReason};

/// The namespace the Admin UI connects to.
pub(crate) const NAMESPACE: &str = "/admin";

/// The namespace of gridcast's clients, the one the Admin UI may act on.
pub(crate) const CLIENTS: &str = "/";

/// Argument of `config`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Config {
    /// The features the UI may offer: the operations (none in read-only mode), the per-second
    /// counts in `server_stats`, and the live socket list and events ("development mode").
    #[serde(rename = "supportedFeatures")]
    pub(crate) supported_features: Vec<&'static str>,
}

impl Config {
    /// The features of a read-write or read-only Admin UI.
    pub(crate) fn new(read_only: bool) -> Self {
        let mut features = if read_only {
            Vec::new()
        } else {
            vec![
                "EMIT",
                "JOIN",
                "LEAVE",
                "DISCONNECT",
                "MJOIN",
                "MLEAVE",
                "MDISCONNECT",
            ]
        };
        features.extend(["AGGREGATED_EVENTS", "ALL_EVENTS"]);
        Self {
            supported_features: features,
        }
    }
}

/// Argument of `server_stats`: one instance, every 2 s.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerStats {
    /// The instance's URL (two instances of one process share host name and pid).
    pub(crate) server_id: String,
    pub(crate) hostname: String,
    pub(crate) pid: u32,
    /// Seconds since the instance started.
    pub(crate) uptime: f64,
    /// Connected sockets of every namespace of this instance.
    pub(crate) clients_count: usize,
    /// Of those, the ones on HTTP long-polling.
    pub(crate) polling_clients_count: usize,
    pub(crate) namespaces: Vec<NamespaceDetails>,
    pub(crate) aggregated_events: Vec<AggregatedEvent>,
}

/// One namespace's socket count in `server_stats`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NamespaceDetails {
    pub(crate) name: &'static str,
    pub(crate) sockets_count: usize,
}

/// How many times something happened in one second (`timestamp`: its start, in milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AggregatedEvent {
    pub(crate) timestamp: u64,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    #[serde(rename = "subType", skip_serializing_if = "Option::is_none")]
    pub(crate) sub_type: Option<&'static str>,
    pub(crate) count: u64,
}

/// A socket as the Admin UI shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdminSocket {
    /// The public id.
    pub(crate) id: String,
    /// The public id too: one gridcast socket per client connection.
    pub(crate) client_id: String,
    /// `polling`, `websocket`, or `unknown` (a socket of another instance listed from presence,
    /// until that instance reports it).
    pub(crate) transport: &'static str,
    pub(crate) nsp: &'static str,
    pub(crate) data: SocketData,
    pub(crate) handshake: Handshake,
    pub(crate) rooms: Vec<String>,
}

/// A socket's `data`: what presence knows of it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SocketData {
    /// Display name (empty until set).
    pub(crate) name: String,
    /// URL of the instance it is connected to.
    pub(crate) instance: String,
}

/// The request that opened a socket's connection, as much of it as may be shown.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Handshake {
    /// The client's address as the instance sees it (the peer of its connection; a client's own
    /// `X-Forwarded-For` is shown among its headers, not as its address: it chooses it), when
    /// known.
    pub(crate) address: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) query: BTreeMap<String, String>,
    /// When it connected, in milliseconds since the Unix epoch.
    pub(crate) issued: u64,
    pub(crate) secure: bool,
    /// The same, as an ISO 8601 date.
    pub(crate) time: String,
    pub(crate) url: String,
    pub(crate) xdomain: bool,
}

/// Argument of `socket_updated`: what changed of a socket the UI lists.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SocketUpdate {
    pub(crate) id: String,
    pub(crate) nsp: &'static str,
    pub(crate) transport: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) handshake: Option<Handshake>,
}

/// Request headers the Admin UI may show; any other (`Cookie`, `Authorization`, custom ones an
/// application may carry a secret in) is left out.
const SHOWN_HEADERS: &[&str] = &[
    "accept-language",
    "host",
    "origin",
    "referer",
    "user-agent",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Query parameters the Admin UI may show (Engine.IO's own).
const SHOWN_QUERY: &[&str] = &["EIO", "transport"];

impl Handshake {
    /// What may be shown of the request `parts` that opened a connection at `since` (ms).
    pub(crate) fn of(parts: &axum::http::request::Parts, since: u64) -> Self {
        let headers: BTreeMap<String, String> = parts
            .headers
            .iter()
            .filter(|(name, _)| SHOWN_HEADERS.contains(&name.as_str()))
            .filter_map(|(name, value)| {
                let value = value.to_str().ok()?;
                // A page's address may carry a secret in its query or fragment (a magic link's
                // token, an OAuth code): the Admin UI sees the page, not those.
                let value = match name.as_str() {
                    "referer" => value.split(['?', '#']).next().unwrap_or_default(),
                    _ => value,
                };
                Some((name.to_string(), value.to_owned()))
            })
            .collect();
        let query: BTreeMap<String, String> = parts
            .uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(key, _)| SHOWN_QUERY.contains(key))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        let address = peer.unwrap_or_default();
        let xdomain = headers.contains_key("origin");
        Self {
            address,
            headers,
            query,
            issued: since,
            secure: parts.uri.scheme_str() == Some("https"),
            time: iso8601(since),
            url: parts.uri.path().to_owned(),
            xdomain,
        }
    }

    /// The handshake of a socket known from presence only: when it connected.
    fn unknown(since: u64) -> Self {
        Self {
            address: String::new(),
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            issued: since,
            secure: false,
            time: iso8601(since),
            url: String::new(),
            xdomain: false,
        }
    }
}

impl AdminSocket {
    /// The socket `member` describes; with its transport and handshake when this instance holds
    /// it.
    pub(crate) fn new(member: &Member, local: Option<(TransportType, Handshake)>) -> Self {
        let (transport, handshake) = match local {
            Some((transport, handshake)) => (transport_name(transport), handshake),
            None => ("unknown", Handshake::unknown(member.since)),
        };
        Self {
            id: member.id.clone(),
            client_id: member.id.clone(),
            transport,
            nsp: CLIENTS,
            data: SocketData {
                name: member.name.clone(),
                instance: member.instance_url.clone(),
            },
            handshake,
            rooms: shown_rooms(member),
        }
    }
}

/// A member's rooms as the Admin UI shows them: its user rooms, and its own room (named after its
/// public id).
pub(crate) fn shown_rooms(member: &Member) -> Vec<String> {
    let mut rooms = member.rooms.clone();
    rooms.push(member.id.clone());
    rooms
}

/// The Admin UI's name of a transport.
pub(crate) fn transport_name(transport: TransportType) -> &'static str {
    match transport {
        TransportType::Polling => "polling",
        TransportType::Websocket => "websocket",
    }
}

/// Node.js socket.io's name of why a socket disconnected (what the Admin UI shows).
pub(crate) fn reason_name(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport close",
        DisconnectReason::MultipleHttpPollingError | DisconnectReason::TransportError => {
            "transport error"
        }
        DisconnectReason::PacketParsingError => "parse error",
        DisconnectReason::HeartbeatTimeout => "ping timeout",
        DisconnectReason::ClientNSDisconnect => "client namespace disconnect",
        DisconnectReason::ServerNSDisconnect => "server namespace disconnect",
        DisconnectReason::ClosingServer => "server shutting down",
        DisconnectReason::BufferFull => "client buffer full",
    }
}

/// `ms` (milliseconds since the Unix epoch) as an ISO 8601 date in UTC, as JavaScript's
/// `Date.prototype.toISOString` writes it (what socket.io sends for a `Date` argument).
pub(crate) fn iso8601(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let in_day = ms % 86_400_000;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_javascript_writes_them() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        // new Date(1700000000123).toISOString()
        assert_eq!(iso8601(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        // A leap day: new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 999)).getTime()
        assert_eq!(iso8601(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
    }

    #[test]
    fn a_handshake_shows_no_secret() {
        let request = axum::http::Request::builder()
            .uri("/socket.io/?EIO=4&transport=polling&t=abc&sid=SECRET&token=SECRET")
            .header("cookie", "io=SECRET")
            .header("authorization", "Bearer SECRET")
            .header("x-api-key", "SECRET")
            .header("user-agent", "node")
            .header(
                "referer",
                "http://app.example/chat?magic=SECRET#code=SECRET",
            )
            .header("x-forwarded-for", "203.0.113.9")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let handshake = Handshake::of(&parts, 0);
        let json = serde_json::to_string(&handshake).unwrap();
        assert!(!json.contains("SECRET"), "{json}");
        // Its own X-Forwarded-For is a header it sent, not its address.
        assert_eq!(handshake.address, "");
        assert_eq!(handshake.headers["x-forwarded-for"], "203.0.113.9");
        assert_eq!(handshake.query.len(), 2, "{json}");
        assert_eq!(handshake.headers["user-agent"], "node");
        assert_eq!(handshake.headers["referer"], "http://app.example/chat");
    }

    #[test]
    fn read_only_offers_no_operation() {
        assert_eq!(
            Config::new(true).supported_features,
            ["AGGREGATED_EVENTS", "ALL_EVENTS"]
        );
        assert!(Config::new(false).supported_features.contains(&"JOIN"));
    }
}
