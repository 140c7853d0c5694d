//! How many requests a socket may make: its client's budget and its address's budget, both
//! token buckets that outlive the socket.
//!
//! A bucket per socket was refilled by every reconnect: reconnecting after every burst sustained
//! 24,303 accepted messages/s from one address against the documented 20/s (and at that rate
//! the 10,000-entry history covered 0.4 s). Now a socket draws on
//! - its **client's** bucket (`--rate-limit`), keyed by the public id its session restores: the
//!   sockets of one session share it, and a reconnect with the session token finds it as it was;
//! - its **address's** bucket (`--address-rate-limit`), shared by every socket from that address
//!   (an IPv4 address or IPv6 /64): a client that reconnects without its token, as a new client,
//!   still draws on it.
//!
//! Both are per instance (an address spread over N instances gets N budgets); the maps are
//! bounded as [`Buckets`] says.

use std::sync::Arc;

use gridcast_shared::limits::Rate;

use super::{
    address::Address,
    bucket::{Buckets, RateLimit},
};

/// The budgets of one instance's sockets.
#[derive(Debug)]
pub(crate) struct Budgets {
    clients: Buckets<String>,
    addresses: Buckets<Address>,
}

impl Budgets {
    /// Budgets of `client` per client and `address` per address (`None`: off).
    pub(crate) fn new(client: Option<Rate>, address: Option<Rate>) -> Self {
        Self {
            clients: Buckets::new(client),
            addresses: Buckets::new(address),
        }
    }

    /// The budget of a socket of client `public_id` from `address` (unknown: no address budget).
    pub(crate) fn of(&self, public_id: &str, address: Option<Address>) -> Budget {
        Budget {
            client: self.clients.get(public_id.to_owned()),
            address: address.map(|a| (a, self.addresses.get(a))),
        }
    }
}

/// What one socket draws on; holding it keeps its buckets.
#[derive(Debug)]
pub(crate) struct Budget {
    client: Arc<RateLimit>,
    address: Option<(Address, Arc<RateLimit>)>,
}

/// Which budget refused a request, its limit, and how long until it allows one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverBudget {
    /// The client's (`--rate-limit`).
    Client(Rate, std::time::Duration),
    /// The address's (`--address-rate-limit`).
    Address(Rate, std::time::Duration),
}

impl Budget {
    /// Takes one request from both budgets, or from neither.
    pub(crate) fn take(&self) -> Result<(), OverBudget> {
        self.client
            .take()
            .map_err(|wait| OverBudget::Client(self.client.rate().unwrap_or_default(), wait))?;
        if let Some((_, address)) = &self.address
            && let Err(wait) = address.take()
        {
            self.client.refund();
            return Err(OverBudget::Address(
                address.rate().unwrap_or_default(),
                wait,
            ));
        }
        Ok(())
    }

    /// The address it counts against, if known.
    pub(crate) fn address(&self) -> Option<Address> {
        self.address.as_ref().map(|(a, _)| *a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: u32, burst: u32) -> Option<Rate> {
        Some(Rate { per_second, burst })
    }

    #[test]
    fn a_reconnect_finds_its_budgets_as_it_left_them() {
        let budgets = Budgets::new(rate(1, 3), rate(1, 5));
        let here = Some(Address::of("192.0.2.1".parse().unwrap()));
        let first = budgets.of("client-a", here);
        assert!((0..3).all(|_| first.take().is_ok()));
        assert!(matches!(first.take(), Err(OverBudget::Client(..))));
        drop(first);
        // The same client again: still empty.
        assert!(matches!(
            budgets.of("client-a", here).take(),
            Err(OverBudget::Client(..))
        ));
        // A new client from the same address: its own budget, the address's 2 left.
        let second = budgets.of("client-b", here);
        assert!(second.take().is_ok() && second.take().is_ok());
        assert!(matches!(second.take(), Err(OverBudget::Address(..))));
        // Refused by the address, the client's token was given back.
        let elsewhere = Some(Address::of("192.0.2.2".parse().unwrap()));
        let moved = budgets.of("client-b", elsewhere);
        assert!(moved.take().is_ok(), "client-b still had one token");
        assert!(matches!(moved.take(), Err(OverBudget::Client(..))));
        // Off is off.
        let off = Budgets::new(None, None);
        assert!((0..1000).all(|_| off.of("x", here).take().is_ok()));
    }
}
