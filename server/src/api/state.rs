//! What the API's handlers share: the instance, its Socket.IO handle, and the API's key, rate and
//! counters.

use std::sync::Arc;

use gridcast_shared::limits::Rate;

use super::key::{ApiKey, Refusals};
use crate::{instance::Instance, limit::bucket::RateLimit, redis::adapter::Io};

/// The API of one instance: its key, its rate, what it refused.
#[derive(Debug)]
pub(crate) struct Api {
    pub(super) key: Option<ApiKey>,
    pub(super) rate: RateLimit,
    pub(crate) refusals: Refusals,
}

impl Api {
    /// The API with `key` (`None`: disabled), answering at most `rate` requests per second
    /// (with its burst) for the key.
    pub(crate) fn new(key: Option<ApiKey>, rate: Option<Rate>) -> Self {
        Self {
            key,
            rate: RateLimit::from_rate(rate),
            refusals: Refusals::default(),
        }
    }
}

/// The state of the API's routes.
#[derive(Clone)]
pub(super) struct ApiState {
    pub(super) instance: Arc<Instance>,
    pub(super) io: Io,
    pub(super) api: Arc<Api>,
}
