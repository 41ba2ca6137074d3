//! Buffered, framed I/O over one client connection, in clear or over TLS.
//!
//! Reading goes through one `BufReader` (command lines, see
//! [`crate::protocol::line`]); replies collect in a small outbox that is
//! written when it fills or when [`Connection::flush`] is called, which the
//! session does once no pipelined input is waiting. Both directions share
//! one [`Transport`] because a TLS stream cannot be split into halves.
//!
//! STLS (RFC 2595 §4) swaps the transport for a TLS one in place. Any
//! plaintext already received after the STLS line is thrown away first: a
//! command injected by a man in the middle ahead of the handshake must never
//! run as if it came through TLS (CVE-2011-0411).

use std::io::{self, BufReader, Write};
use std::sync::Arc;
use std::time::Instant;

use rustls::ServerConfig;

use super::metered::Metered;
use crate::protocol::line::{self, LineRead};
use crate::transport::Transport;

/// Room for many pipelined commands per read; an idle session keeps only
/// this and its outbox.
const READ_BUFFER: usize = 4096;
/// Replies are written once this much is waiting (or on flush).
const WRITE_BUFFER: usize = 4096;

/// The byte stream under a POP3 connection: metered, maybe TLS.
type Pop3Transport<'a> = Transport<Metered<'a>>;

/// One client connection: buffered lines in, buffered replies out.
pub struct Connection<'a> {
    reader: BufReader<Pop3Transport<'a>>,
    outbox: Vec<u8>,
}

impl<'a> Connection<'a> {
    pub fn new(socket: Metered<'a>) -> Self {
        Self { reader: BufReader::with_capacity(READ_BUFFER, Transport::Plain(socket)), outbox: Vec::new() }
    }

    /// Reads (and TLS handshakes) fail with `TimedOut` after `deadline`.
    pub fn set_read_deadline(&mut self, deadline: Instant) {
        self.reader.get_mut().socket_mut().set_read_deadline(deadline);
    }

    /// Reads the next command line; see [`line::read_line`].
    pub fn read_line(&mut self, line: &mut Vec<u8>) -> io::Result<LineRead> {
        line::read_line(&mut self.reader, line)
    }

    /// True if more input has already arrived (pipelined commands).
    pub fn has_buffered_input(&self) -> bool {
        !self.reader.buffer().is_empty()
    }

    /// Where replies go; they reach the client on the next flush, or as
    /// soon as a full buffer of them is waiting.
    pub fn replies(&mut self) -> Replies<'_, 'a> {
        Replies { outbox: &mut self.outbox, transport: self.reader.get_mut() }
    }

    /// Writes every waiting reply to the client.
    pub fn flush(&mut self) -> io::Result<()> {
        self.replies().flush()
    }

    /// Upgrades to TLS after the `+OK` to STLS has been flushed. Returns the
    /// number of plaintext octets that were waiting and have been dropped.
    pub fn start_tls(self, config: Arc<ServerConfig>) -> io::Result<(Self, usize)> {
        let dropped = self.reader.buffer().len();
        let transport = self.reader.into_inner().start_tls(config)?;
        Ok((Self { reader: BufReader::with_capacity(READ_BUFFER, transport), outbox: self.outbox }, dropped))
    }

    pub fn is_tls(&self) -> bool {
        self.reader.get_ref().is_tls()
    }

    /// Octets received and sent on the wire so far.
    pub fn octets(&self) -> (u64, u64) {
        let metered = self.reader.get_ref().socket();
        (metered.received(), metered.sent())
    }

    /// Ends TLS politely (close_notify) where it is active.
    pub fn close(&mut self) {
        self.reader.get_mut().close();
    }
}

/// The reply side of a [`Connection`], borrowed for one command.
pub struct Replies<'c, 'a> {
    outbox: &'c mut Vec<u8>,
    transport: &'c mut Pop3Transport<'a>,
}

impl Write for Replies<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.outbox.is_empty() && buf.len() >= WRITE_BUFFER {
            // A whole encoded RETR chunk: one write, no copy.
            self.transport.write_all(buf)?;
            return Ok(buf.len());
        }
        self.outbox.extend_from_slice(buf);
        if self.outbox.len() >= WRITE_BUFFER {
            self.flush_outbox()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_outbox()?;
        self.transport.flush()
    }
}

impl Replies<'_, '_> {
    fn flush_outbox(&mut self) -> io::Result<()> {
        if !self.outbox.is_empty() {
            self.transport.write_all(self.outbox)?;
            self.outbox.clear();
            // A burst (a long LIST) must not leave a large buffer behind.
            self.outbox.shrink_to(WRITE_BUFFER);
        }
        Ok(())
    }
}
