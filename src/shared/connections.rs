//! The connection cap: a counting permit taken before a connection is
//! handed to the thread that serves it. [`Shared`](super::Shared) holds
//! the POP3 cap; MGMT keeps a small one of its own for admin sessions.
//!
//! The `threadpool` crate queues jobs without bound, so the cap cannot be the
//! pool's size alone: a connection over the cap must be refused at once
//! (`-ERR [SYS/TEMP]`), never left waiting silently in a queue. The accept
//! thread takes a [`ConnectionPermit`] first; the session holds it and
//! dropping it frees the slot, however the session ends.
//!
//! A second, optional cap counts connections per client address, so that
//! one address cannot take the whole pool. Loopback may be exempted, since
//! local tools and tests legitimately open many connections.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// A cap on open connections that can change while they run.
#[derive(Debug)]
pub struct ConnectionLimit {
    live: AtomicUsize,
    max: AtomicUsize,
    /// The highest cap MGMT may set, derived from the descriptor limit.
    hard_max: usize,
    per_address: Option<PerAddressLimit>,
}

/// The per-client-address cap and its counts. Both settings may change
/// while connections run (a reload); 0 means no cap.
#[derive(Debug)]
pub struct PerAddressLimit {
    max: AtomicUsize,
    exempt_loopback: AtomicBool,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddressLimit {
    pub fn new(max: usize, exempt_loopback: bool) -> Self {
        Self {
            max: AtomicUsize::new(max),
            exempt_loopback: AtomicBool::new(exempt_loopback),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Changes the cap (0: none) for connections from now on; open ones
    /// are never cut.
    pub fn set(&self, max: usize, exempt_loopback: bool) {
        self.max.store(max, Ordering::Release);
        self.exempt_loopback.store(exempt_loopback, Ordering::Release);
    }

    /// Counts `address` in, or refuses it; `Ok(None)` if it is exempt.
    fn enter(&self, address: IpAddr) -> Result<Option<IpAddr>, Refused> {
        // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let address = address.to_canonical();
        let max = self.max.load(Ordering::Acquire);
        if max == 0 || (self.exempt_loopback.load(Ordering::Acquire) && address.is_loopback()) {
            return Ok(None);
        }
        let mut counts = self.counts.lock();
        let count = counts.entry(address).or_insert(0);
        if *count >= max {
            return Err(Refused::AddressFull);
        }
        *count += 1;
        Ok(Some(address))
    }

    fn leave(&self, address: IpAddr) {
        let mut counts = self.counts.lock();
        if let Some(count) = counts.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&address);
            }
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server-wide cap is reached.
    ServerFull,
    /// This client address has its share already.
    AddressFull,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::ServerFull => "the connection cap is reached",
            Refused::AddressFull => "the per-address connection cap is reached",
        })
    }
}

impl std::error::Error for Refused {}

/// Why the cap could not be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange {
    pub hard_max: usize,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the connection cap must be between 1 and {}", self.hard_max)
    }
}

impl std::error::Error for OutOfRange {}

impl ConnectionLimit {
    pub fn new(max: usize, hard_max: usize, per_address: Option<PerAddressLimit>) -> Self {
        Self { live: AtomicUsize::new(0), max: AtomicUsize::new(max), hard_max, per_address }
    }

    /// A permit for a connection from `peer`, unless a cap is reached.
    pub fn try_acquire(self: &Arc<Self>, peer: IpAddr) -> Result<ConnectionPermit, Refused> {
        let mut permit = self.try_acquire_before_address()?;
        permit.count_address(peer)?;
        Ok(permit)
    }

    /// A permit under the server-wide cap alone, for a connection whose
    /// client address is not known yet: one from a load balancer, until
    /// its PROXY header names the client. [`ConnectionPermit::count_address`]
    /// then applies the per-address cap.
    pub fn try_acquire_before_address(self: &Arc<Self>) -> Result<ConnectionPermit, Refused> {
        let max = self.max();
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| (live < max).then_some(live + 1))
            .map_err(|_| Refused::ServerFull)?;
        Ok(ConnectionPermit { limit: Arc::clone(self), counted_address: None })
    }

    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::Acquire)
    }

    pub fn hard_max(&self) -> usize {
        self.hard_max
    }

    /// The per-address cap, if this limit has one.
    pub fn per_address(&self) -> Option<&PerAddressLimit> {
        self.per_address.as_ref()
    }

    /// Changes the cap; connections already open are never cut.
    pub fn set_max(&self, max: usize) -> Result<(), OutOfRange> {
        if !(1..=self.hard_max).contains(&max) {
            return Err(OutOfRange { hard_max: self.hard_max });
        }
        self.max.store(max, Ordering::Release);
        Ok(())
    }
}

/// One occupied connection slot; released on drop.
#[derive(Debug)]
pub struct ConnectionPermit {
    limit: Arc<ConnectionLimit>,
    /// The address counted against the per-address cap, if any.
    counted_address: Option<IpAddr>,
}

impl ConnectionPermit {
    /// Counts the connection against the per-address cap as coming from
    /// `client`. Called once per permit: a permit already counted
    /// against an address stays counted against that one.
    ///
    /// # Errors
    /// [`Refused::AddressFull`]: `client` has its share already. The permit
    /// should then be dropped, which frees its server-wide slot.
    pub fn count_address(&mut self, client: IpAddr) -> Result<(), Refused> {
        if self.counted_address.is_none() {
            if let Some(per_address) = &self.limit.per_address {
                self.counted_address = per_address.enter(client)?;
            }
        }
        Ok(())
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        if let (Some(address), Some(per_address)) = (self.counted_address, &self.limit.per_address) {
            per_address.leave(address);
        }
        self.limit.live.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn permits_stop_at_the_cap_and_come_back_on_drop() {
        let limit = Arc::new(ConnectionLimit::new(2, 10, None));
        let a = limit.try_acquire(CLIENT).unwrap();
        let _b = limit.try_acquire(CLIENT).unwrap();
        assert_eq!(limit.try_acquire(CLIENT).unwrap_err(), Refused::ServerFull);
        drop(a);
        assert_eq!(limit.live(), 1);
        assert!(limit.try_acquire(CLIENT).is_ok());
    }

    /// A balancer's connection takes its server-wide slot first and is
    /// counted against its client's address once the header names it.
    #[test]
    fn the_address_can_be_counted_after_the_slot_is_taken() {
        let limit = Arc::new(ConnectionLimit::new(10, 10, Some(PerAddressLimit::new(1, true))));
        let mut first = limit.try_acquire_before_address().unwrap();
        first.count_address(CLIENT).unwrap();
        let mut second = limit.try_acquire_before_address().unwrap();
        assert_eq!(second.count_address(CLIENT), Err(Refused::AddressFull));
        assert_eq!(limit.live(), 2, "the slot is held until the permit is dropped");
        drop(second);
        assert_eq!(limit.live(), 1);
        assert_eq!(limit.try_acquire(CLIENT).unwrap_err(), Refused::AddressFull);
        drop(first);
        assert!(limit.try_acquire(CLIENT).is_ok());
    }

    #[test]
    fn one_address_cannot_take_every_slot() {
        let limit = Arc::new(ConnectionLimit::new(10, 10, Some(PerAddressLimit::new(2, true))));
        let held: Vec<_> = (0..2).map(|_| limit.try_acquire(CLIENT).unwrap()).collect();
        assert_eq!(limit.try_acquire(CLIENT).unwrap_err(), Refused::AddressFull);
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(limit.try_acquire(mapped).unwrap_err(), Refused::AddressFull);
        assert_eq!(limit.live(), 2, "a refused address gives its global slot back");
        assert!(limit.try_acquire(OTHER).is_ok());
        let loopback: Vec<_> = (0..5).map(|_| limit.try_acquire(LOOPBACK).unwrap()).collect();
        drop(held);
        assert!(limit.try_acquire(CLIENT).is_ok());
        drop(loopback);
    }

    #[test]
    fn lowering_the_cap_keeps_open_connections() {
        let limit = Arc::new(ConnectionLimit::new(3, 10, None));
        let held: Vec<_> = (0..3).map(|_| limit.try_acquire(CLIENT).unwrap()).collect();
        limit.set_max(1).unwrap();
        assert_eq!(limit.live(), 3);
        assert!(limit.try_acquire(CLIENT).is_err());
        drop(held);
        assert!(limit.try_acquire(CLIENT).is_ok());
        assert_eq!(limit.set_max(0), Err(OutOfRange { hard_max: 10 }));
        assert_eq!(limit.set_max(11), Err(OutOfRange { hard_max: 10 }));
    }
}
