//! Server-wide counters read by MGMT: connections and POP3 traffic.
//!
//! Plain atomics, bumped as bytes move (not when a session ends), so a
//! reading is always current. Relaxed ordering is enough: each counter is
//! independent and only ever added to.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Stats {
    started: Instant,
    historic_connections: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            historic_connections: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
        }
    }
}

impl Stats {
    pub fn connection_accepted(&self) {
        self.historic_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_sent(&self, octets: u64) {
        self.bytes_sent.fetch_add(octets, Ordering::Relaxed);
    }

    pub fn add_received(&self, octets: u64) {
        self.bytes_received.fetch_add(octets, Ordering::Relaxed);
    }

    /// POP3 connections admitted since start; refused ones are not counted.
    pub fn historic_connections(&self) -> u64 {
        self.historic_connections.load(Ordering::Relaxed)
    }

    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }

    pub fn bytes_received(&self) -> u64 {
        self.bytes_received.load(Ordering::Relaxed)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}
