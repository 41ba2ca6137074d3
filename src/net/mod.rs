//! Sockets and the bytes on them, for both protocols: the one accept loop
//! ([`listener`]), the open-file limit, TLS settings (and [`tls_slot`], the
//! ones a reload may swap), and the clear-or-TLS
//! transport. Nothing here knows POP3 or MGMT: each protocol plugs its
//! sessions into the accept loop as a [`listener::Service`].

pub mod cidr;
pub mod fd_limit;
pub mod listener;
pub mod proxy;
pub mod tls;
pub mod tls_slot;
pub mod transport;

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Instant;

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

/// Reads from `stream`, waiting no later than `deadline`: the socket's read
/// timeout is set to the time left first, since a timeout alone restarts
/// with every byte and a client trickling bytes would never run out of
/// time. Past the deadline the read fails with `TimedOut` at once.
pub fn read_before(stream: &TcpStream, deadline: Instant, buf: &mut [u8]) -> io::Result<usize> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    stream.set_read_timeout(Some(left))?;
    (&*stream).read(buf)
}
