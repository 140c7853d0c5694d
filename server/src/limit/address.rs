//! What the per-address limits count by ([`Address`]), and live things counted per address
//! ([`Counts`]: open TCP connections in `accept`, Engine.IO sessions in `sessions`).

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{Arc, Mutex},
};

/// A client's address as the limits see it: an IPv4 address, or the /64 network of an IPv6 one.
/// An IPv6 host is usually given a whole /64, so counting its single addresses would limit
/// nothing; an IPv4-mapped IPv6 address (a dual-stack listener) counts as its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Address(IpAddr);

impl Address {
    /// The address `ip` counts as.
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(Ipv6Addr::from(network)))
            }
            v4 => Self(v4),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Live things per address, each held by a [`Slot`].
#[derive(Debug, Default)]
pub(crate) struct Counts(Mutex<HashMap<Address, usize>>);

/// One counted thing; dropping it releases the count. The map only holds addresses with a live
/// slot, so it is bounded by the slots.
#[derive(Debug)]
pub(crate) struct Slot {
    counts: Arc<Counts>,
    address: Address,
}

impl Counts {
    /// A slot for `address`, unless it holds `cap` already (0: no cap).
    pub(crate) fn take(self: &Arc<Self>, address: Address, cap: usize) -> Option<Slot> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let open = map.entry(address).or_default();
        if cap != 0 && *open >= cap {
            return None;
        }
        *open += 1;
        Some(Slot {
            counts: self.clone(),
            address,
        })
    }

    /// How many slots `address` holds.
    #[cfg(test)]
    pub(crate) fn of(&self, address: Address) -> usize {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&address).copied().unwrap_or_default()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = map.get_mut(&self.address) {
            *open -= 1;
            if *open == 0 {
                map.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let of = |s: &str| Address::of(s.parse().unwrap());
        assert_eq!(of("2001:db8:1:2::1"), of("2001:db8:1:2:ffff::9"));
        assert_ne!(of("2001:db8:1:2::1"), of("2001:db8:1:3::1"));
        assert_eq!(of("::ffff:192.0.2.7"), of("192.0.2.7"));
        assert_ne!(of("192.0.2.7"), of("192.0.2.8"));
        assert_eq!(of("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        assert_eq!(of("::ffff:192.0.2.7").to_string(), "192.0.2.7");
    }

    #[test]
    fn slots_count_up_to_the_cap_and_release_when_dropped() {
        let counts = Arc::new(Counts::default());
        let a = Address::of("192.0.2.1".parse().unwrap());
        let b = Address::of("192.0.2.2".parse().unwrap());
        let held: Vec<Slot> = (0..3).map_while(|_| counts.take(a, 3)).collect();
        assert_eq!(held.len(), 3);
        assert!(counts.take(a, 3).is_none());
        assert!(counts.take(b, 3).is_some());
        drop(held);
        assert_eq!(counts.of(a), 0);
        assert!(counts.take(a, 0).is_some(), "0 is no cap");
        assert!(
            counts.0.lock().unwrap().is_empty(),
            "no entry without a slot"
        );
    }
}
