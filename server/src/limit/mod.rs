//! The limits on what one client, or one address, may use of an instance (beside `accept`'s on
//! TCP connections), so that a hostile client cannot starve the others.
//!
//! - [`bucket`]: token buckets, and [`Buckets`](bucket::Buckets), one per key that outlives
//!   connections, in a bounded map.
//! - [`address`]: what "an address" is (IPv4, or IPv6 /64) and live things counted per address.
//! - [`sessions`]: new Engine.IO sessions: a cap of live ones per address (both transports) and a
//!   rate of new ones per address, answered in HTTP.
//! - [`budget`]: requests: a client's budget (surviving reconnects with its session) and its
//!   address's, checked by every handler.
//! - [`report`]: refusals counted and summarised in one log line per interval.

pub(crate) mod address;
pub(crate) mod bucket;
pub(crate) mod budget;
pub(crate) mod report;
pub(crate) mod sessions;
