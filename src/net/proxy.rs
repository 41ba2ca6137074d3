//! Reading a PROXY protocol header off a socket, for connections from a
//! trusted load balancer (`--haproxy-trusted-networks`).
//!
//! The header is parsed by [`crate::wire::proxy_header`]; this step only
//! feeds it. It peeks at what has arrived and then reads exactly the
//! header's octets, so the bytes behind it (a TLS ClientHello on POP3S, a
//! pipelined command) stay in the socket for the session. It runs on the
//! session's own thread, never on the accept thread, under one deadline
//! for the whole header however slowly it trickles in.

use std::fmt;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::cidr::Cidr;
use super::is_timeout;
use crate::wire::proxy_header::{ProxyHeader, ProxyHeaderError, ProxyHeaderParser};

/// The longest a balancer may take to send its header: it writes the whole
/// header at once as soon as it has connected, so a few seconds is ample,
/// and a peer that trickles bytes holds a session slot no longer.
pub const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Octets peeked at per read: a v2 header with its address block and the
/// usual TLVs fits; longer ones take a few rounds.
const PEEK_BUFFER: usize = 536;

/// True if connections from `peer` must start with a PROXY header.
pub fn is_trusted(trusted: &[Cidr], peer: SocketAddr) -> bool {
    trusted.iter().any(|range| range.contains(peer.ip()))
}

/// Why no client address came from the balancer.
#[derive(Debug)]
pub enum ProxyReadError {
    /// The deadline passed before the header was complete.
    Timeout,
    /// The peer closed the connection before the header was complete.
    Closed,
    /// The octets are not a valid header.
    Invalid(ProxyHeaderError),
    Io(io::Error),
}

impl fmt::Display for ProxyReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyReadError::Timeout => f.write_str("no complete PROXY header in time"),
            ProxyReadError::Closed => f.write_str("closed before a complete PROXY header"),
            ProxyReadError::Invalid(error) => error.fmt(f),
            ProxyReadError::Io(error) => write!(f, "reading the PROXY header: {error}"),
        }
    }
}

impl std::error::Error for ProxyReadError {}

/// Reads the PROXY header at the start of `stream`, waiting no later than
/// `deadline`, and returns the client's address the header names, or
/// `None` when the balancer speaks for itself (a LOCAL header: a health
/// check) and its own address stands. Leaves the socket's read timeout
/// set; the session sets its own next.
///
/// # Errors
/// The header is missing, malformed, incomplete by the deadline, or the
/// peer hung up.
pub fn read_client_address(stream: &TcpStream, deadline: Instant) -> Result<Option<SocketAddr>, ProxyReadError> {
    let mut parser = ProxyHeaderParser::new();
    let mut arrived = [0; PEEK_BUFFER];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProxyReadError::Timeout);
        }
        stream.set_read_timeout(Some(left)).map_err(ProxyReadError::Io)?;
        let peeked = match stream.peek(&mut arrived) {
            Ok(0) => return Err(ProxyReadError::Closed),
            Ok(peeked) => peeked,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) if is_timeout(&error) => return Err(ProxyReadError::Timeout),
            Err(error) => return Err(ProxyReadError::Io(error)),
        };
        let pushed = parser.push(&arrived[..peeked]).map_err(ProxyReadError::Invalid)?;
        // Those octets are in the socket already: this read does not wait.
        (&*stream).read_exact(&mut arrived[..pushed.consumed]).map_err(ProxyReadError::Io)?;
        match pushed.header {
            None => {}
            Some(ProxyHeader::Local) => return Ok(None),
            Some(ProxyHeader::Proxied { source, .. }) => return Ok(Some(source)),
        }
    }
}
