//! Server-wide counters, read by MGMT and by the metrics endpoint
//! ([`crate::metrics`]): connections, logins, how sessions ended, commands,
//! traffic, messages, TLS handshakes and limit hits.
//!
//! Plain atomics, bumped as things happen (bytes as they move, not when a
//! session ends), so a reading is always current. Relaxed ordering is
//! enough: each counter is independent.
//!
//! A counter with a label is a [`Family`]: one atomic per value of a label
//! enum, which [`labels!`] declares with the text each value is exported
//! as. The enum is the only list of those values, so the exporter and the
//! code that counts can never disagree on them.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::pop3::command::Pop3Verb;

/// A closed set of label values: an enum whose variants are indices.
pub trait Label: Copy + 'static {
    /// Every value, in declaration order (`ALL[v.index()] == v`).
    const ALL: &'static [Self];
    /// The value as it is written in logs and metrics.
    fn name(self) -> &'static str;
    fn index(self) -> usize;
}

/// Declares a fieldless enum and its [`Label`] implementation:
/// `Name { Variant = "text", ... }`.
macro_rules! labels {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $crate::shared::stats::Label for $name {
            const ALL: &'static [Self] = &[ $( $name::$variant, )* ];

            fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                }
            }

            fn index(self) -> usize {
                self as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::shared::stats::Label::name(*self))
            }
        }
    };
}
pub(crate) use labels;

labels! {
    /// Which listening socket a connection came in on.
    pub enum ListenerKind {
        Pop3 = "pop3",
        Pop3s = "pop3s",
        Mgmt = "mgmt",
    }
}

impl ListenerKind {
    /// The POP3 listener a connection came in on: POP3S when it speaks
    /// implicit TLS.
    pub fn pop3(implicit_tls: bool) -> Self {
        if implicit_tls {
            ListenerKind::Pop3s
        } else {
            ListenerKind::Pop3
        }
    }
}

labels! {
    /// How a login attempt ended.
    pub enum LoginResult {
        Success = "success",
        Failure = "failure",
    }
}

labels! {
    /// How a POP3 session ended.
    pub enum SessionEnd {
        /// The client sent QUIT.
        Quit = "quit",
        /// The client went away without QUIT.
        ClientClosed = "client_closed",
        /// Autologout (RFC 1939 §3), or no login within the login timeout.
        Timeout = "timeout",
        /// MGMT deleted the account of the logged-in user.
        AccountDeleted = "account_deleted",
        /// The session broke a limit (bad commands, failed logins).
        Limit = "limit",
        /// MGMT's KICK ended it.
        Kicked = "kicked",
        /// The server is shutting down.
        Shutdown = "shutdown",
        /// An I/O or TLS error ended it.
        Error = "error",
    }
}

labels! {
    /// The result of a TLS handshake (implicit TLS, STLS or MGMT's TLS).
    pub enum HandshakeResult {
        Success = "success",
        Failure = "failure",
    }
}

labels! {
    /// A limit a client ran into.
    pub enum Limit {
        /// The server-wide connection cap.
        Connections = "connections",
        /// The per-address connection cap (`--max-per-ip`).
        PerAddress = "per-address",
        /// Too many bad commands on one connection.
        BadCommands = "bad-commands",
        /// Too many failed logins on one connection.
        AuthFailures = "auth-failures",
        /// Every MGMT admin slot is taken.
        AdminSessions = "admin-sessions",
    }
}

/// One counter per value of the label `L`.
#[derive(Debug)]
pub struct Family<L: Label> {
    counts: Box<[AtomicU64]>,
    label: PhantomData<L>,
}

impl<L: Label> Default for Family<L> {
    fn default() -> Self {
        Self { counts: L::ALL.iter().map(|_| AtomicU64::new(0)).collect(), label: PhantomData }
    }
}

impl<L: Label> Family<L> {
    pub fn add(&self, label: L, amount: u64) {
        self.counts[label.index()].fetch_add(amount, Ordering::Relaxed);
    }

    pub fn increment(&self, label: L) {
        self.add(label, 1);
    }

    fn decrement(&self, label: L) {
        self.counts[label.index()].fetch_sub(1, Ordering::Relaxed);
    }

    pub fn get(&self, label: L) -> u64 {
        self.counts[label.index()].load(Ordering::Relaxed)
    }

    /// Every label value with its count, in declaration order.
    pub fn values(&self) -> impl Iterator<Item = (L, u64)> + '_ {
        L::ALL.iter().map(|&label| (label, self.get(label)))
    }
}

#[derive(Debug)]
pub struct Stats {
    started: Instant,
    /// Connections admitted and handed to a session, per listener.
    pub accepted: Family<ListenerKind>,
    /// Connections being served now, per listener (a gauge).
    open: Family<ListenerKind>,
    /// POP3 logins (USER/PASS and AUTH PLAIN).
    pub pop3_logins: Family<LoginResult>,
    /// MGMT logins.
    pub mgmt_logins: Family<LoginResult>,
    pub sessions_ended: Family<SessionEnd>,
    /// POP3 commands that parsed, by verb.
    pub commands: Family<Pop3Verb>,
    pub tls_handshakes: Family<HandshakeResult>,
    pub limit_hits: Family<Limit>,
    /// Messages sent whole by RETR.
    messages_retrieved: AtomicU64,
    /// Messages a QUIT removed from disk.
    messages_deleted: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            accepted: Family::default(),
            open: Family::default(),
            pop3_logins: Family::default(),
            mgmt_logins: Family::default(),
            sessions_ended: Family::default(),
            commands: Family::default(),
            tls_handshakes: Family::default(),
            limit_hits: Family::default(),
            messages_retrieved: AtomicU64::new(0),
            messages_deleted: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
        }
    }
}

/// A connection counted as open; dropping it counts it closed.
#[must_use]
#[derive(Debug)]
pub struct OpenConnection<'a> {
    stats: &'a Stats,
    listener: ListenerKind,
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.stats.open.decrement(self.listener);
    }
}

impl Stats {
    /// Counts a connection accepted on `listener` and open until the
    /// returned guard is dropped.
    pub fn connection_opened(&self, listener: ListenerKind) -> OpenConnection<'_> {
        self.accepted.increment(listener);
        self.open.increment(listener);
        OpenConnection { stats: self, listener }
    }

    /// Connections open now on `listener`.
    pub fn open_connections(&self, listener: ListenerKind) -> u64 {
        self.open.get(listener)
    }

    pub fn add_sent(&self, octets: u64) {
        self.bytes_sent.fetch_add(octets, Ordering::Relaxed);
    }

    pub fn add_received(&self, octets: u64) {
        self.bytes_received.fetch_add(octets, Ordering::Relaxed);
    }

    pub fn message_retrieved(&self) {
        self.messages_retrieved.fetch_add(1, Ordering::Relaxed);
    }

    pub fn messages_deleted(&self, count: u64) {
        self.messages_deleted.fetch_add(count, Ordering::Relaxed);
    }

    /// POP3 and POP3S connections admitted since start; refused ones are
    /// not counted.
    pub fn historic_connections(&self) -> u64 {
        self.accepted.get(ListenerKind::Pop3) + self.accepted.get(ListenerKind::Pop3s)
    }

    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }

    pub fn bytes_received(&self) -> u64 {
        self.bytes_received.load(Ordering::Relaxed)
    }

    pub fn retrieved(&self) -> u64 {
        self.messages_retrieved.load(Ordering::Relaxed)
    }

    pub fn deleted(&self) -> u64 {
        self.messages_deleted.load(Ordering::Relaxed)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_value_is_its_own_index() {
        fn check<L: Label + PartialEq + std::fmt::Debug>() {
            for (index, &label) in L::ALL.iter().enumerate() {
                assert_eq!(label.index(), index, "{label:?}");
            }
        }
        check::<ListenerKind>();
        check::<SessionEnd>();
        check::<Limit>();
        check::<Pop3Verb>();
    }

    #[test]
    fn an_open_connection_is_counted_until_dropped() {
        let stats = Stats::default();
        let open = stats.connection_opened(ListenerKind::Pop3s);
        let _mgmt = stats.connection_opened(ListenerKind::Mgmt);
        assert_eq!(stats.open_connections(ListenerKind::Pop3s), 1);
        drop(open);
        assert_eq!(stats.open_connections(ListenerKind::Pop3s), 0);
        assert_eq!(stats.accepted.get(ListenerKind::Pop3s), 1);
        assert_eq!(stats.historic_connections(), 1, "MGMT connections are not POP3's history");
    }
}
