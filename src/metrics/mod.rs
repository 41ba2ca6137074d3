//! Prometheus metrics: `--metrics-addr IP:PORT` serves `GET /metrics` in
//! the text exposition format, from the counters in
//! [`crate::shared::stats`].
//!
//! - [`exposition`]: the text format itself (pure).
//! - [`http`]: the minimal HTTP responder, with its limits.
//! - [`render`], here: the list of metrics pop3d exports, with their help
//!   texts; the one place a metric is named.
//!
//! The responder has one thread, its own, and answers one connection at a
//! time: it never touches the POP3 pool or MGMT, and the worst a scraper
//! can do is keep it busy for [`http::REQUEST_DEADLINE`] plus
//! [`http::WRITE_TIMEOUT`] per connection, delaying other scrapes only.
//! The thread is not joined at shutdown; it ends with the process.

pub mod exposition;
pub mod http;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;

use crate::shared::stats::{Label, ListenerKind};
use crate::shared::Shared;
use exposition::{Exposition, MetricType};

/// Every metric, read from `shared` now.
pub fn render(shared: &Shared) -> String {
    use MetricType::{Counter, Gauge};
    let stats = &shared.stats;
    let mut out = Exposition::default();
    out.family(
        "pop3d_connections_accepted_total",
        Counter,
        "Connections admitted, by listener (refused ones are counted in pop3d_limit_hits_total).",
        "listener",
        &stats.accepted,
    );
    let open = ListenerKind::ALL.iter().map(|&listener| (listener.name(), stats.open_connections(listener)));
    out.labelled("pop3d_connections_open", Gauge, "Connections being served now, by listener.", "listener", open);
    out.family(
        "pop3d_logins_total",
        Counter,
        "POP3 login attempts (USER/PASS, AUTH PLAIN), by result.",
        "result",
        &stats.pop3_logins,
    );
    out.family("pop3d_mgmt_logins_total", Counter, "MGMT login attempts, by result.", "result", &stats.mgmt_logins);
    out.family(
        "pop3d_sessions_ended_total",
        Counter,
        "POP3 sessions ended, by how they ended.",
        "ending",
        &stats.sessions_ended,
    );
    out.family("pop3d_commands_total", Counter, "POP3 commands received, by verb.", "verb", &stats.commands);
    out.single(
        "pop3d_received_bytes_total",
        Counter,
        "Octets received from POP3 clients, TLS records included.",
        stats.bytes_received(),
    );
    out.single(
        "pop3d_sent_bytes_total",
        Counter,
        "Octets sent to POP3 clients, TLS records included.",
        stats.bytes_sent(),
    );
    out.single("pop3d_messages_retrieved_total", Counter, "Messages sent whole by RETR.", stats.retrieved());
    out.single("pop3d_messages_deleted_total", Counter, "Messages removed from disk by QUIT.", stats.deleted());
    out.family(
        "pop3d_tls_handshakes_total",
        Counter,
        "TLS handshakes (POP3S, STLS, MGMT), by result.",
        "result",
        &stats.tls_handshakes,
    );
    out.family(
        "pop3d_limit_hits_total",
        Counter,
        "Connections refused or closed because a limit was reached, by limit.",
        "limit",
        &stats.limit_hits,
    );
    out.single("pop3d_max_connections", Gauge, "The POP3 connection cap now.", shared.connections.max());
    out.single("pop3d_users", Gauge, "Accounts in the user table.", shared.users.len());
    out.single("pop3d_uptime_seconds", Gauge, "Seconds since the server started.", stats.uptime().as_secs_f64());
    out.into_text()
}

/// The metrics listener, bound but not yet answering.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
}

impl MetricsServer {
    /// # Errors
    /// The address cannot be bound.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)
            .map_err(|error| io::Error::new(error.kind(), format!("cannot listen on {addr} for metrics: {error}")))?;
        Ok(Self { listener })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts the responder's thread.
    pub fn spawn(self, shared: Arc<Shared>) -> io::Result<()> {
        thread::Builder::new().name("metrics".to_owned()).spawn(move || {
            for connection in self.listener.incoming() {
                match connection {
                    Ok(stream) => http::answer(stream, || render(&shared)),
                    Err(error) => {
                        log::warn!("metrics: accept failed: {error}");
                        thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
            }
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::users::{Credentials, UserTable};
    use crate::net::tls::PlaintextAuth;
    use crate::pop3::command::Pop3Verb;
    use crate::shared::connections::ConnectionLimit;
    use crate::shared::limits::SessionLimits;
    use crate::shared::stats::Limit;

    #[test]
    fn every_family_is_typed_and_labelled_from_its_enum() {
        let shared = Shared::new(
            "/nonexistent".into(),
            UserTable::new(Credentials::parse("admin:pw").unwrap(), [], 10),
            ConnectionLimit::new(7, 10, None),
            SessionLimits::default(),
            4096,
            None,
            PlaintextAuth::LoopbackOnly,
        );
        shared.stats.commands.increment(Pop3Verb::Retr);
        shared.stats.limit_hits.increment(Limit::PerAddress);
        let text = render(&shared);
        for line in [
            "# TYPE pop3d_commands_total counter",
            "pop3d_commands_total{verb=\"RETR\"} 1",
            "pop3d_commands_total{verb=\"AUTH\"} 0",
            "pop3d_limit_hits_total{limit=\"per-address\"} 1",
            "pop3d_connections_open{listener=\"pop3s\"} 0",
            "pop3d_sessions_ended_total{ending=\"kicked\"} 0",
            "pop3d_max_connections 7",
            "pop3d_users 1",
            "# TYPE pop3d_uptime_seconds gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(helps, types);
    }
}
