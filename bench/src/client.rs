//! A strict POP3 client: correct before fast.
//!
//! Every reply is checked: a status line must be `+OK` and end in CRLF, a
//! multi-line body is un-stuffed (RFC 1939 §3) and must end with "." CRLF,
//! and a RETR must deliver exactly the octets LIST announced (RFC 1939
//! §11: the size before byte-stuffing, with CRLF line ends). Anything else
//! is an [`Error::Protocol`] that names the command, so a benchmark never
//! times a wrong answer.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use memchr::memmem;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, StreamOwned};

/// No reply may take longer than this; a stuck server fails the run.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest status or listing line accepted (RFC 2449 §4 allows 512).
const MAX_LINE: usize = 64 * 1024;
/// Large enough that a fast server is never held back by the reader.
const READ_BUFFER: usize = 256 * 1024;

#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    /// The server broke the protocol or refused a command.
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(error) => write!(f, "I/O error: {error}"),
            Error::Protocol(message) => write!(f, "protocol error: {message}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Error::Io(error)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

fn protocol<T>(message: impl Into<String>) -> Result<T> {
    Err(Error::Protocol(message.into()))
}

/// Where a client connects, and how: in clear text, or with implicit TLS
/// (POP3S, RFC 8314) under a client config. Clients sharing one config
/// share its session store, so with resumption on, a connection may resume
/// the TLS session an earlier one (of any thread) was given.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub tls: Option<Arc<ClientConfig>>,
}

impl Endpoint {
    pub fn plain(addr: SocketAddr) -> Self {
        Self { addr, tls: None }
    }

    /// Connects and reads the greeting, which must be `+OK`.
    pub fn connect(&self) -> Result<Client> {
        let mut client = Client::connect_silent(self.addr)?;
        if let Some(config) = &self.tls {
            client.start_tls(config)?;
        }
        client.status("greeting")?;
        Ok(client)
    }
}

/// The connection under a client: TCP, or TLS over TCP.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// Only while switching from one to the other.
    Switching,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.read(buf),
            Stream::Tls(stream) => stream.read(buf),
            Stream::Switching => Err(io::Error::other("no stream")),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.write(buf),
            Stream::Tls(stream) => stream.write(buf),
            Stream::Switching => Err(io::Error::other("no stream")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(stream) => stream.flush(),
            Stream::Tls(stream) => stream.flush(),
            Stream::Switching => Ok(()),
        }
    }
}

/// What a TLS handshake agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub protocol: String,
    pub cipher: String,
    /// True if the handshake resumed an earlier session.
    pub resumed: bool,
}

/// One connection; the socket is written through the reader's inner stream,
/// so a held client costs one descriptor (10,000 of them must fit).
pub struct Client {
    reader: BufReader<Stream>,
    line: Vec<u8>,
}

impl Client {
    /// Connects in clear text and reads the greeting, which must be `+OK`.
    pub fn connect(addr: SocketAddr) -> Result<Self> {
        Endpoint::plain(addr).connect()
    }

    /// Connects without reading the greeting (for holding many sockets
    /// open before anything is read).
    pub fn connect_silent(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(Self { reader: BufReader::with_capacity(READ_BUFFER, Stream::Plain(stream)), line: Vec::new() })
    }

    /// Runs the TLS handshake on the fresh connection (implicit TLS: before
    /// anything is read), verifying the server as 127.0.0.1.
    fn start_tls(&mut self, config: &Arc<ClientConfig>) -> Result<()> {
        let Stream::Plain(mut socket) = std::mem::replace(self.reader.get_mut(), Stream::Switching) else {
            return protocol("TLS started twice");
        };
        let name = ServerName::IpAddress(socket.peer_addr()?.ip().into());
        let mut connection =
            ClientConnection::new(Arc::clone(config), name).map_err(|e| Error::Protocol(format!("TLS: {e}")))?;
        while connection.is_handshaking() {
            connection.complete_io(&mut socket)?;
        }
        *self.reader.get_mut() = Stream::Tls(Box::new(StreamOwned::new(connection, socket)));
        Ok(())
    }

    /// The TLS protocol, cipher suite and handshake kind; None in clear text.
    pub fn negotiated(&self) -> Option<Negotiated> {
        let Stream::Tls(stream) = self.reader.get_ref() else {
            return None;
        };
        let connection = &stream.conn;
        Some(Negotiated {
            protocol: connection.protocol_version().map_or("-".to_owned(), |v| format!("{v:?}")),
            cipher: connection.negotiated_cipher_suite().map_or("-".to_owned(), |c| format!("{:?}", c.suite())),
            resumed: connection.handshake_kind() == Some(HandshakeKind::Resumed),
        })
    }

    /// Sends raw bytes in one write (pipelining).
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()?;
        Ok(())
    }

    /// Sends one command and returns the text after `+OK`.
    pub fn command(&mut self, command: &str) -> Result<String> {
        self.send(format!("{command}\r\n").as_bytes())?;
        self.status(command)
    }

    /// Reads one status line, which must be `+OK`; returns the text after it.
    pub fn status(&mut self, what: &str) -> Result<String> {
        self.read_line(what)?;
        let line = String::from_utf8_lossy(&self.line[..self.line.len() - 2]).into_owned();
        match line.strip_prefix("+OK") {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => Ok(rest.trim_start().to_owned()),
            _ => protocol(format!("{what}: expected +OK, got {line:?}")),
        }
    }

    /// Reads one CRLF-terminated line into `self.line` (CRLF included).
    fn read_line(&mut self, what: &str) -> Result<()> {
        self.line.clear();
        let read = (&mut self.reader).take(MAX_LINE as u64).read_until(b'\n', &mut self.line)?;
        if read == 0 {
            return protocol(format!("{what}: connection closed by the server"));
        }
        if !self.line.ends_with(b"\r\n") {
            return protocol(format!("{what}: line not ended by CRLF: {:?}", String::from_utf8_lossy(&self.line)));
        }
        Ok(())
    }

    /// Reads the lines of a multi-line reply up to "." CRLF, un-stuffed and
    /// without their CRLF.
    pub fn data_lines(&mut self, what: &str) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            self.read_line(what)?;
            let content = &self.line[..self.line.len() - 2];
            match content.strip_prefix(b".") {
                Some(b"") => return Ok(lines),
                Some(rest) if rest.starts_with(b".") => lines.push(String::from_utf8_lossy(rest).into_owned()),
                Some(_) => return protocol(format!("{what}: line starting with an unstuffed '.'")),
                None => lines.push(String::from_utf8_lossy(content).into_owned()),
            }
        }
    }

    pub fn login(&mut self, user: &str, password: &str) -> Result<()> {
        self.command(&format!("USER {user}"))?;
        self.command(&format!("PASS {password}"))?;
        Ok(())
    }

    /// STAT: message count and total octets.
    pub fn stat(&mut self) -> Result<(u64, u64)> {
        let text = self.command("STAT")?;
        let mut fields = text.split_whitespace().map(str::parse::<u64>);
        match (fields.next(), fields.next()) {
            (Some(Ok(count)), Some(Ok(octets))) => Ok((count, octets)),
            _ => protocol(format!("STAT: bad reply {text:?}")),
        }
    }

    /// LIST without argument: (number, octets) of every message.
    pub fn list(&mut self) -> Result<Vec<(u32, u64)>> {
        self.command("LIST")?;
        self.data_lines("LIST")?.iter().map(|line| parse_pair(line, "LIST")).collect()
    }

    /// LIST n: the announced size of message n.
    pub fn list_one(&mut self, number: u32) -> Result<u64> {
        let text = self.command(&format!("LIST {number}"))?;
        let (listed, octets) = parse_pair(&text, "LIST n")?;
        if listed != number {
            return protocol(format!("LIST {number}: answer is for message {listed}"));
        }
        Ok(octets)
    }

    /// UIDL without argument: the number of ids listed.
    pub fn uidl(&mut self) -> Result<usize> {
        self.command("UIDL")?;
        Ok(self.data_lines("UIDL")?.len())
    }

    /// RETR n, checking that exactly `expected` octets arrive.
    pub fn retr(&mut self, number: u32, expected: u64) -> Result<u64> {
        self.command(&format!("RETR {number}"))?;
        let octets = self.body(&format!("RETR {number}"))?;
        if octets != expected {
            return protocol(format!("RETR {number}: LIST announced {expected} octets, {octets} arrived"));
        }
        Ok(octets)
    }

    pub fn quit(mut self) -> Result<()> {
        self.command("QUIT")?;
        Ok(())
    }

    /// Streams a multi-line body to its end and returns its octets after
    /// un-stuffing, without the final "." CRLF.
    fn body(&mut self, what: &str) -> Result<u64> {
        let newline_dot = memmem::Finder::new(b"\n.");
        let mut unstuffer = Unstuffer::default();
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return protocol(format!("{what}: connection closed inside the message"));
            }
            let (used, done) =
                unstuffer.feed(chunk, &newline_dot).map_err(|m| Error::Protocol(format!("{what}: {m}")))?;
            self.reader.consume(used);
            if done {
                return Ok(unstuffer.octets);
            }
        }
    }
}

fn parse_pair(text: &str, what: &str) -> Result<(u32, u64)> {
    let mut fields = text.split_whitespace();
    match (fields.next().map(str::parse), fields.next().map(str::parse)) {
        (Some(Ok(number)), Some(Ok(octets))) => Ok((number, octets)),
        _ => protocol(format!("{what}: bad line {text:?}")),
    }
}

/// Where the un-stuffer stands relative to line starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Position {
    /// The next byte begins a line.
    #[default]
    LineStart,
    /// A line began with "."; the next byte decides what it is.
    Dot,
    /// A line began with "." CR: only LF (the end) may follow.
    DotCr,
    InLine,
}

/// The incremental un-stuffer behind [`Client::retr`]; it only looks at
/// line starts, so most of a large body is skipped by one substring search.
#[derive(Debug, Default)]
struct Unstuffer {
    position: Position,
    /// Octets of the message after un-stuffing.
    octets: u64,
}

impl Unstuffer {
    /// Consumes a prefix of `chunk`; returns how much, and whether the body
    /// ended there.
    fn feed(&mut self, chunk: &[u8], newline_dot: &memmem::Finder<'_>) -> std::result::Result<(usize, bool), String> {
        let mut at = 0;
        while at < chunk.len() {
            match self.position {
                Position::InLine => match newline_dot.find(&chunk[at..]) {
                    Some(offset) => {
                        // Up to and including the LF; the "." is next.
                        self.octets += offset as u64 + 1;
                        at += offset + 1;
                        self.position = Position::LineStart;
                    }
                    None => {
                        let rest = &chunk[at..];
                        self.octets += rest.len() as u64;
                        if rest.last() == Some(&b'\n') {
                            self.position = Position::LineStart;
                        }
                        at = chunk.len();
                    }
                },
                Position::LineStart => {
                    if chunk[at] == b'.' {
                        at += 1;
                        self.position = Position::Dot;
                    } else {
                        self.position = Position::InLine;
                    }
                }
                Position::Dot => {
                    match chunk[at] {
                        // A stuffed dot: the second "." is content.
                        b'.' => self.position = Position::InLine,
                        b'\r' => self.position = Position::DotCr,
                        other => return Err(format!("line starts with an unstuffed '.' followed by {other:#04x}")),
                    }
                    at += 1;
                    if self.position == Position::InLine {
                        self.octets += 1;
                    }
                }
                Position::DotCr => {
                    if chunk[at] != b'\n' {
                        return Err("\".\" CR not followed by LF".to_owned());
                    }
                    return Ok((at + 1, true));
                }
            }
        }
        Ok((at, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unstuff_in_pieces(wire: &[u8], piece: usize) -> std::result::Result<(u64, usize), String> {
        let finder = memmem::Finder::new(b"\n.");
        let mut unstuffer = Unstuffer::default();
        let mut at = 0;
        while at < wire.len() {
            let end = (at + piece).min(wire.len());
            let (used, done) = unstuffer.feed(&wire[at..end], &finder)?;
            at += used;
            if done {
                return Ok((unstuffer.octets, at));
            }
        }
        Err("no end".to_owned())
    }

    #[test]
    fn counts_unstuffed_octets_at_every_piece_size() {
        let wire = b"a\r\n..b\r\n\r\n...\r\n.\r\nTRAILING";
        // "a\r\n" + ".b\r\n" + "\r\n" + "..\r\n" = 3 + 4 + 2 + 4
        for piece in 1..wire.len() {
            assert_eq!(unstuff_in_pieces(wire, piece), Ok((13, wire.len() - 8)), "piece {piece}");
        }
    }

    #[test]
    fn empty_body_and_protocol_errors() {
        assert_eq!(unstuff_in_pieces(b".\r\n", 1), Ok((0, 3)));
        assert!(unstuff_in_pieces(b"x\r\n.y\r\n.\r\n", 4).is_err());
        assert!(unstuff_in_pieces(b".\rx", 4).is_err());
    }
}
