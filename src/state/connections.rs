//! The connection cap: a counting permit taken before a connection is
//! handed to the pool.
//!
//! The `threadpool` crate queues jobs without bound, so the cap cannot be the
//! pool's size alone: a connection over the cap must be refused at once
//! (`-ERR [SYS/TEMP]`), never left waiting silently in a queue. The accept
//! thread takes a [`ConnectionPermit`] first; the session holds it and
//! dropping it frees the slot, however the session ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug)]
pub struct ConnectionLimit {
    live: AtomicUsize,
    max: AtomicUsize,
    /// The highest cap MGMT may set, derived from the descriptor limit.
    hard_max: usize,
}

/// Why the cap could not be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange {
    pub hard_max: usize,
}

impl ConnectionLimit {
    pub fn new(max: usize, hard_max: usize) -> Self {
        Self { live: AtomicUsize::new(0), max: AtomicUsize::new(max), hard_max }
    }

    /// A permit if fewer than the cap are live; `None` means refuse.
    pub fn try_acquire(self: &Arc<Self>) -> Option<ConnectionPermit> {
        let max = self.max();
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| (live < max).then_some(live + 1))
            .ok()
            .map(|_| ConnectionPermit { limit: Arc::clone(self) })
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
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.limit.live.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_stop_at_the_cap_and_come_back_on_drop() {
        let limit = Arc::new(ConnectionLimit::new(2, 10));
        let a = limit.try_acquire().unwrap();
        let _b = limit.try_acquire().unwrap();
        assert!(limit.try_acquire().is_none());
        drop(a);
        assert_eq!(limit.live(), 1);
        assert!(limit.try_acquire().is_some());
    }

    #[test]
    fn lowering_the_cap_keeps_open_connections() {
        let limit = Arc::new(ConnectionLimit::new(3, 10));
        let held: Vec<_> = (0..3).map(|_| limit.try_acquire().unwrap()).collect();
        limit.set_max(1).unwrap();
        assert_eq!(limit.live(), 3);
        assert!(limit.try_acquire().is_none());
        drop(held);
        assert!(limit.try_acquire().is_some());
        assert_eq!(limit.set_max(0), Err(OutOfRange { hard_max: 10 }));
        assert_eq!(limit.set_max(11), Err(OutOfRange { hard_max: 10 }));
    }
}
