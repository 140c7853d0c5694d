//! What the limits on clients refused, counted ([`Refusals`]) and logged as one summary line per
//! interval ([`report`]), never a line per refusal: a flood of refusals must not become a flood
//! of log lines.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use gridcast_shared::limits::Rate;

use super::address::Address;

/// A refusal, by the limit that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A new Engine.IO session from an address that holds the cap already.
    SessionOverCap,
    /// A new Engine.IO session over its address's new-session rate.
    SessionOverRate,
    /// A request over its client's budget (`--rate-limit`).
    RequestOverClientBudget,
    /// A request over its address's budget (`--address-rate-limit`).
    RequestOverAddressBudget,
}

const KINDS: usize = 4;

/// Refusals of one instance since the last report, and the address refused last.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    counts: [AtomicU64; KINDS],
    last: Mutex<Option<Address>>,
}

impl Refusals {
    /// Counts one refusal of `what` from `address`.
    pub(crate) fn count(&self, what: Refused, address: Option<Address>) {
        self.counts[what as usize].fetch_add(1, Ordering::Relaxed);
        if let Some(address) = address {
            *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(address);
        }
    }

    /// The counts since the last call, and the last address refused, resetting both.
    fn take(&self) -> ([u64; KINDS], Option<Address>) {
        let counts = std::array::from_fn(|i| self.counts[i].swap(0, Ordering::Relaxed));
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).take();
        (counts, last)
    }
}

/// The limits as configured, for the report's lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Configured {
    /// `--max-connections-per-address` (0: no cap).
    pub(crate) cap: usize,
    /// `--new-sessions-per-address`.
    pub(crate) new_sessions: Option<Rate>,
    /// `--rate-limit`.
    pub(crate) client: Option<Rate>,
    /// `--address-rate-limit`.
    pub(crate) address: Option<Rate>,
}

fn shown(rate: Option<Rate>) -> String {
    rate.map_or("off".into(), |r| {
        format!("{}/s, bursts of {}", r.per_second, r.burst)
    })
}

/// Logs, once per `every` in which something was refused, what the limits of `instance`
/// refused: sessions (a warning) and requests (information: a client over its budget is told so
/// in its answer).
pub(crate) async fn report(
    refusals: Arc<Refusals>,
    instance: String,
    every: Duration,
    limits: Configured,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (counts, last) = refusals.take();
        let count = |what: Refused| counts[what as usize];
        let last = last.map(|a| a.to_string()).unwrap_or_default();
        let (over_cap, over_rate) = (
            count(Refused::SessionOverCap),
            count(Refused::SessionOverRate),
        );
        if over_cap + over_rate > 0 {
            tracing::warn!(
                %instance,
                over_cap,
                cap = limits.cap,
                over_rate,
                rate = %shown(limits.new_sessions),
                last_address = %last,
                "new Socket.IO sessions refused in the last {every:?}: over the per-address cap \
                 (--max-connections-per-address) or new-session rate (--new-sessions-per-address)"
            );
        }
        let (client, address) = (
            count(Refused::RequestOverClientBudget),
            count(Refused::RequestOverAddressBudget),
        );
        if client + address > 0 {
            tracing::info!(
                %instance,
                over_client_budget = client,
                client_budget = %shown(limits.client),
                over_address_budget = address,
                address_budget = %shown(limits.address),
                last_address = %last,
                "requests refused in the last {every:?}: over a client's (--rate-limit) or an \
                 address's (--address-rate-limit) budget"
            );
        }
    }
}
