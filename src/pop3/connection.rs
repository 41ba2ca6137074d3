//! Buffered, framed I/O over one client connection, in clear or over TLS.
//!
//! Reading goes through one `BufReader` (command lines, see
//! [`crate::wire::line`]); replies collect in a small outbox that is
//! written when it fills or when [`Connection::flush`] is called, which the
//! session does once no pipelined input is waiting; a reply too long for
//! the outbox is sent with the socket corked (see [`Replies`]). Both
//! directions share one [`Transport`] because a TLS stream cannot be split
//! into halves.
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
use crate::net::transport::Transport;
use crate::wire::line::{self, LineRead};

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
    /// TCP_CORK is set: a long reply is going out (see [`Replies`]).
    corked: bool,
}

impl<'a> Connection<'a> {
    pub fn new(socket: Metered<'a>) -> Self {
        Self {
            reader: BufReader::with_capacity(READ_BUFFER, Transport::Plain(socket)),
            outbox: Vec::new(),
            corked: false,
        }
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
        Replies { outbox: &mut self.outbox, corked: &mut self.corked, transport: self.reader.get_mut() }
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
        let secured = Self { reader: BufReader::with_capacity(READ_BUFFER, transport), ..self };
        Ok((secured, dropped))
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
///
/// A reply longer than the outbox (RETR, TOP, a long LIST) goes out in
/// 4 KiB writes, one per chunk. The socket is corked from the first of them
/// until the flush that ends the reply, so the kernel packs those writes
/// into full segments instead of sending (and the client acknowledging)
/// one small segment per chunk. Short replies are never corked: they wait
/// in the outbox and leave with the flush.
pub struct Replies<'c, 'a> {
    outbox: &'c mut Vec<u8>,
    corked: &'c mut bool,
    transport: &'c mut Pop3Transport<'a>,
}

impl Write for Replies<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.outbox.is_empty() && buf.len() >= WRITE_BUFFER {
            // A whole encoded RETR chunk: one write, no copy.
            self.cork()?;
            self.transport.write_all(buf)?;
            return Ok(buf.len());
        }
        self.outbox.extend_from_slice(buf);
        if self.outbox.len() >= WRITE_BUFFER {
            self.cork()?;
            self.flush_outbox()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_outbox()?;
        self.transport.flush()?;
        if *self.corked {
            *self.corked = false;
            self.transport.socket().set_cork(false)?;
        }
        Ok(())
    }
}

impl Replies<'_, '_> {
    /// Called before a reply's first write that does not wait in the outbox.
    fn cork(&mut self) -> io::Result<()> {
        if !*self.corked {
            self.transport.socket().set_cork(true)?;
            *self.corked = true;
        }
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    use super::*;
    use crate::shared::stats::Stats;

    /// A connected pair on loopback: (the server's end, the client's end).
    fn socket_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    fn is_corked(socket: &TcpStream) -> bool {
        let mut value: libc::c_int = 0;
        let mut length = std::mem::size_of_val(&value) as libc::socklen_t;
        // SAFETY: a valid socket, and a c_int with its exact size to fill.
        let status = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_CORK,
                (&raw mut value).cast(),
                &raw mut length,
            )
        };
        assert_eq!(status, 0, "getsockopt: {}", io::Error::last_os_error());
        value != 0
    }

    #[test]
    fn a_short_reply_is_never_corked() {
        let (server, mut client) = socket_pair();
        let stats = Stats::default();
        let mut connection = Connection::new(Metered::new(&server, &stats));
        connection.replies().write_all(b"+OK fine\r\n").unwrap();
        assert!(!is_corked(&server));
        connection.flush().unwrap();
        assert!(!is_corked(&server));
        let mut reply = [0; 10];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"+OK fine\r\n");
    }

    #[test]
    fn a_long_reply_is_corked_until_the_flush() {
        let (server, mut client) = socket_pair();
        let stats = Stats::default();
        let mut connection = Connection::new(Metered::new(&server, &stats));
        let chunk = vec![b'x'; WRITE_BUFFER];
        let mut replies = connection.replies();
        replies.write_all(b"+OK 12288 octets\r\n").unwrap();
        for _ in 0..3 {
            replies.write_all(&chunk).unwrap();
        }
        assert!(is_corked(&server), "corked while the reply goes out");
        connection.flush().unwrap();
        assert!(!is_corked(&server), "uncorked by the flush that ends the reply");
        let mut received = vec![0; 18 + 3 * WRITE_BUFFER];
        client.read_exact(&mut received).unwrap();
        assert!(received.starts_with(b"+OK 12288 octets\r\n") && received.ends_with(&chunk));
    }
}
