//! JSON objects that travel as Socket.IO event arguments.

use serde::{Deserialize, Serialize};

use crate::{
    instance::{InstanceInfo, RedisLink},
    limits::Limits,
    recovery::{Offset, Recovery},
};

/// Second argument of a broadcast [`message`](crate::event::MESSAGE): where the text came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// Cluster-unique id: `<origin instance id>-<sequence number>`.
    pub id: String,
    /// Id of the instance the sender is connected to.
    pub origin: String,
    /// Base URL of that instance.
    pub origin_url: String,
    /// Public id of the sender (its [`Member::id`](crate::presence::Member::id)), never its
    /// Engine.IO session id.
    pub sender: String,
    /// When the origin instance received the text, in milliseconds since the Unix epoch (the
    /// origin's clock). Receivers subtract it from their own clock to show latency, which is exact
    /// when both run on one machine and otherwise includes the clock offset.
    pub received_at: u64,
    /// Where this message sits in the cluster's history: send the last one seen back in the
    /// CONNECT auth to get what was missed ([`crate::recovery`]). Absent only on messages that
    /// cannot be replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<Offset>,
}

/// How far a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Published through Redis: every instance's clients get it.
    Cluster,
    /// Redis is unreachable: the origin instance's clients got it, and it is queued for the
    /// others, who get it when Redis is back.
    Queued,
    /// Redis was unreachable and the queue full: only the clients of the origin instance got it.
    LocalOnly,
}

/// Payload of the [`welcome`](crate::event::WELCOME) event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// This client's public id, as other clients see it in presence, in `sender` of
    /// [`MessageMeta`] and as the address of direct messages.
    pub id: String,
    /// The instance the client is connected to.
    pub instance: InstanceInfo,
    /// The limits it enforces.
    pub limits: Limits,
    /// This client's session token: a secret, known only to it. Sent back in the CONNECT auth
    /// (`{"session": ..}`), it restores the public id, display name and rooms.
    pub session: String,
    /// Whether the session named in the CONNECT auth was restored.
    #[serde(default)]
    pub restored: bool,
    /// The outcome of catching up, when the CONNECT auth carried an offset (or a bad auth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// Who the client is, from its token, when the server authenticates connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<crate::auth::User>,
    /// The instance's Redis link as the client attached (later changes arrive as
    /// [`redis_link`](crate::event::REDIS_LINK) events). Absent from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisLinkStatus>,
}

/// Payload of the [`redis_link`](crate::event::REDIS_LINK) event, and
/// [`Welcome::redis`]: an instance's link to Redis, and since when it is in that state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisLinkStatus {
    /// Up, or lost and reconnecting.
    pub state: RedisLink,
    /// When the link entered this state, in milliseconds since the Unix epoch (the instance's
    /// clock).
    pub since: u64,
}

/// Payload of the [`replay_waiting`](crate::event::REPLAY_WAITING) event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayWaiting {
    /// Replays that wait before this client's.
    pub ahead: u64,
}

/// Payload of the [`session_taken`](crate::event::SESSION_TAKEN) event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTaken {
    /// Base URL of the instance where the session is now in use.
    pub instance_url: String,
}

/// Payload of the [`draining`](crate::event::DRAINING) event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draining {
    /// Base URLs of the other live instances.
    pub instances: Vec<String>,
}
