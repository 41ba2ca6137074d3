//! Sockets and the bytes on them, for both protocols: the one accept loop
//! ([`listener`]), the open-file limit, TLS settings, and the clear-or-TLS
//! transport. Nothing here knows POP3 or MGMT: each protocol plugs its
//! sessions into the accept loop as a [`listener::Service`].

pub mod fd_limit;
pub mod listener;
pub mod tls;
pub mod transport;

use std::io;
use std::net::TcpStream;

/// True if `error` is a read or write that ran out of time: a socket
/// timeout (`WouldBlock` on Linux) or a deadline (`TimedOut`).
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// The peer's address for log lines, or "unknown peer" when the client is
/// already gone.
pub fn peer_name(stream: &TcpStream) -> String {
    stream.peer_addr().map_or_else(|_| "unknown peer".to_owned(), |addr| addr.to_string())
}
