//! The POP3 connection loop and [`Pop3Connection`]: the only POP3 code that
//! touches the socket.
//!
//! [`serve`] runs one client from greeting to close on one pool thread. It
//! reads command lines through a `Pop3Connection`, hands each to the
//! [`Pop3Session`], and flushes the replies once the input waiting holds no
//! complete command line, so a burst of commands costs one write and a
//! burst cut short by the start of a line is still answered at once. It
//! runs the TLS handshake (at once for POP3S, after STLS otherwise),
//! enforces the timeouts, the MGMT pause and shutdown, and writes the one
//! log line that sums up the connection.
//!
//! The timeouts, all owned here: `--login-timeout` runs from the connection
//! to a successful login; after login, `-t` is the idleness allowed between
//! commands (RFC 1939 §3 autologout); and `-t` is also the time one write of
//! a reply (a 4 KiB chunk of RETR, a flush of the outbox) may stay blocked
//! on a client that does not read, counted from when that write began, not
//! afresh for each system call it takes.
//!
//! A `Pop3Connection` owns everything between the session and the socket:
//! line framing through one `BufReader` (see [`crate::wire::line`]), the
//! outbox replies collect in, corking (TCP_CORK) while a reply too long for
//! the outbox goes out, the read and write deadlines, and the TLS upgrade.
//! Both directions share one [`Transport`] because a TLS stream cannot be
//! split into halves. Under the transport, a [`DeadlineCountingSocket`]
//! counts the octets and enforces the deadlines on every read and write,
//! the TLS layer's included.
//!
//! Nothing here parses a command or formats a reply beyond the few status
//! lines the loop itself owes (greeting, autologout, shutdown); the session
//! and its handlers write to any `Write` and never see the socket.
//!
//! STLS (RFC 2595 §4) swaps the transport for a TLS one in place. Any
//! plaintext already received after the STLS line is thrown away first: a
//! command injected by a man in the middle ahead of the handshake must never
//! run as if it came through TLS (CVE-2011-0411).

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::net::sockopt;
use rustls::ServerConfig;

use super::server::refusal;
use super::session::{LinkSecurity, Pop3Flow, Pop3Session};
use crate::net::proxy::{self, PROXY_HEADER_TIMEOUT};
use crate::net::transport::Transport;
use crate::net::{self, is_timeout, listener};
use crate::shared::audit;
use crate::shared::connections::ConnectionPermit;
use crate::shared::stats::{HandshakeResult, ListenerKind, SessionEnd, Stats};
use crate::shared::Shared;
use crate::wire::line::{self, LineRead, MAX_LINE_OCTETS};
use crate::wire::reply::{self, Failure, ResponseCode};

/// Room for many pipelined commands per read; an idle session keeps only
/// this and its outbox.
const READ_BUFFER: usize = 4096;
/// Replies are written once this much is waiting (or on flush).
const WRITE_BUFFER: usize = 4096;
/// The same over TLS: the most plaintext one TLS record carries (RFC 8446
/// §5.1, 2^14 octets). Each write becomes records of its own, so 4 KiB
/// writes would cost four records' encryption and framing where one would
/// do; RETR still reads the file 4 KiB at a time.
const TLS_WRITE_BUFFER: usize = 16 * 1024;

/// Serves one client until it quits, goes away or times out. Never panics
/// on client input; the `permit` frees the connection slot when this
/// returns, however it returns.
pub fn serve(stream: TcpStream, implicit_tls: bool, shared: &Shared, mut permit: ConnectionPermit) {
    let started = Instant::now();
    let service = ListenerKind::pop3(implicit_tls);
    let open = shared.stats.connection_opened(service);
    let stream = Arc::new(stream);
    // Registered first: shutdown also wakes a session waiting for its
    // PROXY header.
    let registration = shared.shutdown.register(&stream);
    let Some((client, log_level)) = client_address(&stream, implicit_tls, shared, &mut permit) else { return };
    let peer_name = client.to_string();
    log::log!(log_level, "connection from {peer_name}{}", if implicit_tls { " (TLS)" } else { "" });
    // Cleartext is safe only if no hop crosses a network: the client's,
    // and a balancer's hop to us too.
    let is_loopback = |addr: SocketAddr| addr.ip().to_canonical().is_loopback();
    let loopback = is_loopback(client) && stream.peer_addr().is_ok_and(is_loopback);
    let mut session = Pop3Session::new(shared, LinkSecurity { tls: false, loopback });
    session.client = Some(client.ip().to_canonical());
    session.service = service;
    session.track(registration.entry_handle());
    let mut connection = Pop3Connection::new(&stream, &shared.stats);
    let outcome = converse(&mut connection, implicit_tls, shared, &mut session);
    let ending = *outcome.as_ref().unwrap_or(&SessionEnd::Error);
    shared.stats.sessions_ended.increment(ending);
    let error = outcome.err().map(|error| format!(" error={error}")).unwrap_or_default();
    let (octets_in, octets_out) = connection.octets();
    let _ = connection.flush();
    connection.close();
    let user = session.activity.user.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
    log::log!(
        log_level,
        "closed {peer_name} user={user} retrieved={} deleted={} in={octets_in} out={octets_out} duration={:.3}s ending={ending}{error}",
        session.activity.retrieved,
        session.activity.deleted,
        started.elapsed().as_secs_f64(),
    );
    drop(registration);
    drop(open);
    drop(permit);
}

/// The client's address, the one every log line, cap and rule of this
/// connection uses: the peer's, or for a peer in
/// `--haproxy-trusted-networks` the one its PROXY header names, which is
/// then counted against the per-address cap. With it, the level of the
/// connection's log lines: debug for a balancer speaking for itself (its
/// health checks come every few seconds), info for a client.
///
/// `None`, with the reason logged, when the connection must close: the
/// peer is gone, a trusted peer sent no valid header in time, or the
/// client is over its cap.
fn client_address(
    stream: &TcpStream,
    implicit_tls: bool,
    shared: &Shared,
    permit: &mut ConnectionPermit,
) -> Option<(SocketAddr, log::Level)> {
    let peer = stream.peer_addr().ok()?;
    if !proxy::is_trusted(&shared.haproxy_trusted_networks, peer) {
        return Some((peer, log::Level::Info));
    }
    let deadline = Instant::now() + PROXY_HEADER_TIMEOUT.min(shared.limits().login_timeout);
    let (client, level) = match proxy::read_client_address(stream, deadline) {
        Ok(Some(client)) => (client, log::Level::Info),
        Ok(None) => (peer, log::Level::Debug),
        Err(error) => {
            log::warn!("closed {peer}: {error}");
            return None;
        }
    };
    if let Err(refused) = permit.count_address(client.ip()) {
        let refusal = refusal(refused);
        audit::limit_hit(&shared.stats, ListenerKind::pop3(implicit_tls), Some(client.ip()), refusal.limit, None);
        if !implicit_tls {
            listener::refuse(stream, refusal.reply);
        }
        return None;
    }
    Some((client, level))
}

/// The conversation itself, from the greeting to the reply that ends it.
fn converse(
    connection: &mut Pop3Connection<'_>,
    implicit_tls: bool,
    shared: &Shared,
    session: &mut Pop3Session<'_>,
) -> io::Result<SessionEnd> {
    let limits = shared.limits();
    // The time to log in runs from the connection, not from each command,
    // so a client that never logs in cannot hold a slot by chatting. It is
    // `--login-timeout` alone: `-t` governs only a logged-in session.
    let login_deadline = Instant::now() + limits.login_timeout;
    connection.set_socket_options(limits.idle_timeout)?;
    connection.set_read_deadline(login_deadline);
    if implicit_tls {
        start_tls(connection, shared, session)?;
    }
    shared.pause.wait_while_paused();
    if shared.shutdown.is_requested() {
        return say_shutting_down(connection);
    }
    reply::ok(connection, "POP3 server ready")?;
    connection.flush()?;
    let mut line = Vec::with_capacity(MAX_LINE_OCTETS);
    loop {
        // RFC 1939 §3: after login the autologout timer runs from the last
        // command, not the last byte.
        if session.user().is_some() {
            connection.set_read_deadline(Instant::now() + limits.idle_timeout);
        }
        let read = connection.read_line(&mut line);
        // Checked before anything read is acted on: once shutdown begins,
        // no new command runs.
        if shared.shutdown.is_requested() {
            return say_shutting_down(connection);
        }
        if session.is_kicked() {
            Failure::with_code(ResponseCode::SysTemp, "session ended by the administrator").write_to(connection)?;
            return Ok(SessionEnd::Kicked);
        }
        let read = match read {
            Ok(read) => read,
            Err(error) if is_timeout(&error) => {
                // RFC 1939 §3: autologout, without entering UPDATE.
                Failure::new("autologout: idle for too long").write_to(connection)?;
                return Ok(SessionEnd::Timeout);
            }
            Err(error) => return Err(error),
        };
        shared.pause.wait_while_paused();
        if !session.account_still_exists() {
            Failure::with_code(ResponseCode::SysPerm, "account deleted by the administrator").write_to(connection)?;
            return Ok(SessionEnd::AccountDeleted);
        }
        let flow = match read {
            LineRead::Eof => return Ok(SessionEnd::ClientClosed),
            LineRead::TooLong => session.reject_long_line(connection)?,
            LineRead::Line => session.handle_line(&line, connection)?,
        };
        match flow {
            Pop3Flow::Continue => {}
            Pop3Flow::StartTls => {
                connection.flush()?;
                start_tls(connection, shared, session)?;
                continue;
            }
            Pop3Flow::Quit => return Ok(SessionEnd::Quit),
            Pop3Flow::Disconnect => return Ok(SessionEnd::Limit),
        }
        // RFC 2449 §6.6: every command is answered in turn. Replies wait
        // only while another complete command is already here (one write per
        // burst); the start of a line the client has not finished must not
        // hold back the answers to the lines before it.
        if !connection.has_buffered_line() {
            connection.flush()?;
        }
    }
}

/// Runs the TLS handshake on `connection` and tells the session.
fn start_tls(connection: &mut Pop3Connection<'_>, shared: &Shared, session: &mut Pop3Session<'_>) -> io::Result<()> {
    let config = shared.tls_config().ok_or_else(|| io::Error::other("TLS is not configured"))?;
    let handshake = connection.start_tls(config);
    let result = if handshake.is_ok() { HandshakeResult::Success } else { HandshakeResult::Failure };
    shared.stats.tls_handshakes.increment(result);
    let dropped = handshake?;
    if dropped > 0 {
        // RFC 2595 §4 / CVE-2011-0411: never run commands that arrived in
        // clear after STLS as if they came through TLS.
        log::warn!("discarded {dropped} octets sent in clear after STLS");
    }
    session.tls_started();
    Ok(())
}

fn say_shutting_down(out: &mut impl Write) -> io::Result<SessionEnd> {
    Failure::with_code(ResponseCode::SysTemp, "server shutting down").write_to(out)?;
    Ok(SessionEnd::Shutdown)
}

/// One client connection: buffered command lines in, buffered replies out
/// (through its [`Write`] implementation), in clear or under TLS.
struct Pop3Connection<'a> {
    /// The socket itself, for its options (TCP_CORK, Nagle);
    /// every octet goes through `reader`.
    socket: &'a TcpStream,
    /// The server-wide counters, for the socket view a TLS upgrade needs.
    stats: &'a Stats,
    /// Line framing over the transport, which also carries the replies.
    reader: BufReader<Transport<DeadlineCountingSocket<'a>>>,
    /// Replies waiting for the next flush.
    outbox: Vec<u8>,
    /// How much may wait in `outbox` before it is written:
    /// [`WRITE_BUFFER`] in clear, [`TLS_WRITE_BUFFER`] once TLS is on.
    write_batch: usize,
    /// TCP_CORK is set: a reply too long for the outbox is going out.
    corked: bool,
    /// A write to the client failed (it timed out, or the client is gone).
    /// Part of a line or of a TLS record may have gone out, so nothing more
    /// is sent: a retry would also start a new write deadline, and a client
    /// that stopped reading would hold the session for `-t` once more.
    write_failed: bool,
}

impl<'a> Pop3Connection<'a> {
    fn new(socket: &'a TcpStream, stats: &'a Stats) -> Self {
        let transport = Transport::Plain(DeadlineCountingSocket::new(socket, stats));
        Self {
            socket,
            stats,
            reader: BufReader::with_capacity(READ_BUFFER, transport),
            outbox: Vec::new(),
            write_batch: WRITE_BUFFER,
            corked: false,
            write_failed: false,
        }
    }

    /// What holds for the whole connection: one write of a reply times out
    /// `write_timeout` after it began, so a client that stops reading in the
    /// middle of RETR cannot pin this thread; and Nagle's algorithm is off,
    /// since the outbox and corking already decide when segments leave.
    fn set_socket_options(&mut self, write_timeout: Duration) -> io::Result<()> {
        self.reader.get_mut().socket_mut().set_write_timeout(write_timeout)?;
        self.socket.set_nodelay(true)
    }

    /// Reads (and TLS handshakes) fail with `TimedOut` after `deadline`.
    fn set_read_deadline(&mut self, deadline: Instant) {
        self.reader.get_mut().socket_mut().read_deadline = Some(deadline);
    }

    /// Reads the next command line; see [`line::read_line`].
    fn read_line(&mut self, line: &mut Vec<u8>) -> io::Result<LineRead> {
        line::read_line(&mut self.reader, line)
    }

    /// True if a complete command line has already arrived (pipelined
    /// commands). The start of a line without its LF does not count. A line
    /// that the 4 KiB buffer cuts in two does not either, so a burst larger
    /// than the buffer may cost one write more.
    fn has_buffered_line(&self) -> bool {
        memchr::memchr(b'\n', self.reader.buffer()).is_some()
    }

    /// Upgrades to TLS in place, after the `+OK` to STLS has been flushed.
    /// Returns the number of plaintext octets that were waiting and have
    /// been dropped.
    fn start_tls(&mut self, config: Arc<ServerConfig>) -> io::Result<usize> {
        let dropped = self.reader.buffer().len();
        // The handshake takes the transport by value. An empty reader over a
        // new socket view holds its place meanwhile; if the handshake fails,
        // that view (which has counted nothing) is all that is left, and the
        // connection ends.
        let standby = Transport::Plain(DeadlineCountingSocket::new(self.socket, self.stats));
        let plain = std::mem::replace(&mut self.reader, BufReader::with_capacity(0, standby));
        let secured = plain.into_inner().start_tls(config)?;
        self.reader = BufReader::with_capacity(READ_BUFFER, secured);
        self.write_batch = TLS_WRITE_BUFFER;
        Ok(dropped)
    }

    /// Octets received and sent on the wire so far.
    fn octets(&self) -> (u64, u64) {
        let socket = self.reader.get_ref().socket();
        (socket.received, socket.sent)
    }

    /// Ends TLS politely (close_notify) where it is active, unless the
    /// client has stopped taking what is sent.
    fn close(&mut self) {
        let _ = self.send_with_deadline(|transport| {
            transport.close();
            Ok(())
        });
    }

    /// Runs `write` (one write of a reply, or a flush of the TLS layer) on
    /// the transport under one write deadline, however many system calls it
    /// takes: a client that stops reading is cut off `-t` after the write
    /// began, not `-t` after each partial write. After a failed write,
    /// nothing more is written.
    fn send_with_deadline(
        &mut self,
        write: impl FnOnce(&mut Transport<DeadlineCountingSocket<'a>>) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.write_failed {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "an earlier write to this client failed"));
        }
        let transport = self.reader.get_mut();
        transport.socket_mut().begin_write();
        let written = write(transport);
        transport.socket_mut().end_write();
        self.write_failed = written.is_err();
        written
    }

    /// Called before a reply's first write that does not wait in the outbox.
    fn cork(&mut self) -> io::Result<()> {
        if !self.corked {
            sockopt::set_tcp_cork(self.socket, true)?;
            self.corked = true;
        }
        Ok(())
    }

    fn flush_outbox(&mut self) -> io::Result<()> {
        if !self.outbox.is_empty() {
            // Out of `self` while the write, which needs all of it, runs.
            let outbox = std::mem::take(&mut self.outbox);
            let written = self.send_with_deadline(|transport| transport.write_all(&outbox));
            self.outbox = outbox;
            written?;
            self.outbox.clear();
        }
        Ok(())
    }
}

/// Replies reach the client on the next flush, or as soon as a full
/// outbox of them is waiting.
///
/// A reply longer than the outbox (RETR, TOP, a long LIST) goes out in
/// 4 KiB writes, one per chunk. The socket is corked from the first of them
/// until the flush that ends the reply, so the kernel packs those writes
/// into full segments instead of sending (and the client acknowledging)
/// one small segment per chunk. Short replies are never corked: they wait
/// in the outbox and leave with the flush.
impl Write for Pop3Connection<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.outbox.is_empty() && buf.len() >= self.write_batch {
            // A whole encoded RETR chunk: one write, no copy.
            self.cork()?;
            self.send_with_deadline(|transport| transport.write_all(buf))?;
            return Ok(buf.len());
        }
        self.outbox.extend_from_slice(buf);
        if self.outbox.len() >= self.write_batch {
            self.cork()?;
            self.flush_outbox()?;
        }
        Ok(buf.len())
    }

    /// Writes every waiting reply to the client and uncorks the socket.
    fn flush(&mut self) -> io::Result<()> {
        self.flush_outbox()?;
        // A burst (a long LIST, a RETR over TLS) must not leave a large
        // buffer behind an idle session; shrinking once the reply is out,
        // not at every write within it, spares a reallocation per write.
        self.outbox.shrink_to(WRITE_BUFFER);
        self.send_with_deadline(|transport| transport.flush())?;
        if self.corked {
            self.corked = false;
            sockopt::set_tcp_cork(self.socket, false)?;
        }
        Ok(())
    }
}

/// The socket as the transport sees it, with two jobs besides moving bytes.
///
/// It counts octets: every read and write is added to the server-wide
/// [`Stats`] as it happens (MGMT's BYTES_TRANS is live, not settled at
/// session end) and to this connection's totals, which the closing log line
/// shows. Counts are of octets on the wire, TLS records included.
///
/// It enforces the deadlines. A socket timeout alone restarts with every
/// system call: a read timeout with every byte that arrives, so a client
/// trickling bytes that never make up a command would never be logged out;
/// a write timeout with every partial write, so a client that has stopped
/// reading held a stalled RETR for several times `-t`. Each read gets only
/// the time left before the read deadline, and each write only the time
/// left before the deadline of the connection's write in progress.
struct DeadlineCountingSocket<'a> {
    stream: &'a TcpStream,
    stats: &'a Stats,
    received: u64,
    sent: u64,
    /// Reads after this instant fail with `TimedOut`.
    read_deadline: Option<Instant>,
    /// The time one write of the connection may take (`-t`), from its first
    /// system call to its last; `None` until the connection sets it.
    write_timeout: Option<Duration>,
    /// While a write of the connection is in progress, the instant after
    /// which its system calls fail with `TimedOut`.
    write_deadline: Option<Instant>,
    /// The send timeout (SO_SNDTIMEO) the socket has now, so that a write
    /// with all its time left costs no system call to set it again.
    socket_write_timeout: Option<Duration>,
}

/// How far the socket's send timeout may be from the time a write has left
/// before it is set again. It bounds how late a stalled write can end, and
/// spares a system call per chunk of RETR, where every write has its whole
/// `-t` left.
const WRITE_TIMEOUT_SLACK: Duration = Duration::from_millis(10);

impl<'a> DeadlineCountingSocket<'a> {
    fn new(stream: &'a TcpStream, stats: &'a Stats) -> Self {
        Self {
            stream,
            stats,
            received: 0,
            sent: 0,
            read_deadline: None,
            write_timeout: None,
            write_deadline: None,
            socket_write_timeout: None,
        }
    }

    /// Sets the time one write of the connection may take.
    fn set_write_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.write_timeout = Some(timeout);
        self.give_socket_write_timeout(timeout)
    }

    /// A write of the connection begins: its deadline starts now.
    fn begin_write(&mut self) {
        self.write_deadline = self.write_timeout.map(|timeout| Instant::now() + timeout);
    }

    fn end_write(&mut self) {
        self.write_deadline = None;
    }

    /// Sets the socket's send timeout to `allowed`, unless it is already
    /// within [`WRITE_TIMEOUT_SLACK`] of it.
    fn give_socket_write_timeout(&mut self, allowed: Duration) -> io::Result<()> {
        if self.socket_write_timeout.is_some_and(|current| current.abs_diff(allowed) <= WRITE_TIMEOUT_SLACK) {
            return Ok(());
        }
        self.stream.set_write_timeout(Some(allowed))?;
        self.socket_write_timeout = Some(allowed);
        Ok(())
    }
}

impl Read for DeadlineCountingSocket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = match self.read_deadline {
            Some(deadline) => net::read_before(self.stream, deadline, buf)?,
            None => self.stream.read(buf)?,
        };
        self.received += read as u64;
        self.stats.add_received(read as u64);
        Ok(read)
    }
}

impl Write for DeadlineCountingSocket<'_> {
    /// Outside a write of the connection (the TLS handshake's own writes),
    /// each system call gets the whole write timeout.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let allowed = match self.write_deadline {
            Some(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
            None => self.write_timeout,
        };
        if let Some(allowed) = allowed {
            if allowed.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.give_socket_write_timeout(allowed)?;
        }
        let written = self.stream.write(buf)?;
        self.sent += written as u64;
        self.stats.add_sent(written as u64);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// Runs `test` on a connected pair on loopback: a connection over the
    /// server's end, that end itself (to look at its options), and the
    /// client's end.
    fn with_connection(test: impl FnOnce(Pop3Connection<'_>, &TcpStream, TcpStream)) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let stats = Stats::default();
        test(Pop3Connection::new(&server, &stats), &server, client);
    }

    fn is_corked(socket: &TcpStream) -> bool {
        sockopt::tcp_cork(socket).expect("getsockopt TCP_CORK")
    }

    #[test]
    fn a_short_reply_is_never_corked() {
        with_connection(|mut connection, server, mut client| {
            connection.write_all(b"+OK fine\r\n").unwrap();
            assert!(!is_corked(server));
            connection.flush().unwrap();
            assert!(!is_corked(server));
            let mut reply = [0; 10];
            client.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b"+OK fine\r\n");
        });
    }

    #[test]
    fn a_long_reply_is_corked_until_the_flush() {
        with_connection(|mut connection, server, mut client| {
            let chunk = vec![b'x'; WRITE_BUFFER];
            connection.write_all(b"+OK 12288 octets\r\n").unwrap();
            for _ in 0..3 {
                connection.write_all(&chunk).unwrap();
            }
            assert!(is_corked(server), "corked while the reply goes out");
            connection.flush().unwrap();
            assert!(!is_corked(server), "uncorked by the flush that ends the reply");
            let mut received = vec![0; 18 + 3 * WRITE_BUFFER];
            client.read_exact(&mut received).unwrap();
            assert!(received.starts_with(b"+OK 12288 octets\r\n") && received.ends_with(&chunk));
        });
    }

    /// A client that reads nothing: the write that stalls fails when its
    /// one deadline passes, and nothing is written after it, not even the
    /// flush that ends a session (which would wait the whole time again).
    #[test]
    fn a_stalled_write_fails_at_its_deadline_and_nothing_follows() {
        with_connection(|mut connection, _, client| {
            connection.set_socket_options(Duration::from_millis(200)).unwrap();
            let chunk = vec![b'x'; WRITE_BUFFER];
            let error = loop {
                if let Err(error) = connection.write_all(&chunk) {
                    break error;
                }
            };
            assert!(is_timeout(&error), "{error}");
            let again = Instant::now();
            connection.write_all(b"-ERR late\r\n").unwrap();
            assert_eq!(connection.flush().unwrap_err().kind(), io::ErrorKind::BrokenPipe);
            assert!(again.elapsed() < Duration::from_millis(100), "no new deadline after a failed write");
            drop(client);
        });
    }

    #[test]
    fn octets_are_counted_and_reads_stop_at_the_deadline() {
        with_connection(|mut connection, _, mut client| {
            client.write_all(b"NOOP\r\n").unwrap();
            let mut line = Vec::new();
            assert_eq!(connection.read_line(&mut line).unwrap(), LineRead::Line);
            assert_eq!(line, b"NOOP");
            connection.write_all(b"+OK\r\n").unwrap();
            connection.flush().unwrap();
            assert_eq!(connection.octets(), (6, 5));
            // More input is on its way, but the deadline has passed.
            client.write_all(b"NOOP\r\n").unwrap();
            connection.set_read_deadline(Instant::now());
            let error = connection.read_line(&mut line).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::TimedOut);
            assert_eq!(connection.octets(), (6, 5), "nothing is read after the deadline");
        });
    }
}
