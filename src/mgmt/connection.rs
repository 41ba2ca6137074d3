//! The MGMT connection loop: the only MGMT code that touches the socket.
//!
//! [`serve`] runs on the admin's own thread. It takes a login slot for the
//! connection (see [`super::slots`]). Under `--mgmt-tls` it runs the TLS
//! handshake first (implicit TLS: not one cleartext byte, not even the
//! greeting); then it frames lines with [`crate::wire::line`], hands each
//! to the [`MgmtSession`], and flushes after every reply: admin traffic is
//! tiny, and the login delay and a pause of POP3 block, so nothing may
//! wait in the buffer.
//!
//! Two clocks end a connection. Before login, the login timeout runs from
//! the connection, however many lines arrive: a connection that chats but
//! never logs in cannot keep its slot. After login, the idle timeout runs
//! from each command. Each read waits only for the time left on its clock
//! (see `MgmtSocket` below), so trickling bytes does not stop either clock.
//!
//! Blocking here is deliberate and harmless to everyone else: the login
//! delay and the pause sleep on this admin's thread only, and no lock is
//! held while sleeping or writing.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::MgmtError;
use super::protocol::GREETING;
use super::session::{MgmtFlow, MgmtSession};
use super::Context;
use crate::net;
use crate::net::transport::Transport;
use crate::shared::connections::ConnectionPermit;
use crate::shared::stats::{HandshakeResult, ListenerKind};
use crate::wire::line::{read_line, LineRead, MAX_LINE_OCTETS};
use crate::wire::reply::{self, Failure};

/// A forgotten admin connection must not hold a session slot forever.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a `--mgmt-tls` client has for its TLS handshake (or less, if
/// its login timeout ends first): connections that never start one (a
/// cleartext client waiting for a greeting) must not hold a slot for long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// An admin connection: the socket, in clear or under TLS.
type MgmtTransport<'s> = Transport<MgmtSocket<'s>>;

/// Serves one admin until they quit or hang up, a timeout, too many failed
/// logins, or a newer connection taking its login slot. The `permit` frees
/// the connection's place when this returns.
pub fn serve(stream: TcpStream, context: &Arc<Context>, permit: ConnectionPermit) {
    let connected = Instant::now();
    let open = context.shared.stats.connection_opened(ListenerKind::Mgmt);
    let client = stream.peer_addr().ok().map(|addr| addr.ip().to_canonical());
    let peer = net::peer_name(&stream);
    log::info!("MGMT connection from {peer}{}", if context.tls.is_some() { " (TLS)" } else { "" });
    let stream = Arc::new(stream);
    let mut session = MgmtSession::new(context, peer.clone(), client, context.slots.enter(&stream, &peer));
    match open_and_answer(&stream, context, connected + context.login_timeout, &mut session) {
        Ok(()) => log::info!("MGMT closed {peer}"),
        Err(error) => log::info!("MGMT closed {peer}: {error}"),
    }
    drop(session);
    drop(open);
    drop(permit);
}

/// Sets the socket's options, runs the TLS handshake if asked, answers the
/// admin, and ends TLS politely however the conversation ended.
fn open_and_answer(
    stream: &TcpStream,
    context: &Context,
    login_deadline: Instant,
    session: &mut MgmtSession<'_>,
) -> io::Result<()> {
    // Replies before login are a few short lines; a client that does not
    // read them gets no longer than it has to log in.
    stream.set_write_timeout(Some(context.login_timeout))?;
    stream.set_nodelay(true)?;
    let handshake_deadline = login_deadline.min(Instant::now() + HANDSHAKE_TIMEOUT);
    let mut transport = Transport::Plain(MgmtSocket { stream, read_deadline: handshake_deadline });
    if let Some(config) = context.tls.as_ref().map(|slot| slot.current()) {
        let handshake = transport.start_tls(config);
        let result = if handshake.is_ok() { HandshakeResult::Success } else { HandshakeResult::Failure };
        context.shared.stats.tls_handshakes.increment(result);
        transport =
            handshake.map_err(|error| io::Error::new(error.kind(), format!("TLS handshake failed: {error}")))?;
    }
    let mut reader = BufReader::new(transport);
    let result = answer_lines(&mut reader, session, context.login_timeout, login_deadline);
    reader.get_mut().close();
    result
}

/// The greeting, then one reply per line until the session or the admin
/// ends the conversation.
fn answer_lines(
    reader: &mut BufReader<MgmtTransport<'_>>,
    session: &mut MgmtSession<'_>,
    login_timeout: Duration,
    login_deadline: Instant,
) -> io::Result<()> {
    write_and_flush(reader, |out| reply::ok(out, GREETING))?;
    let mut line = Vec::with_capacity(MAX_LINE_OCTETS);
    loop {
        let logged_in = session.is_authenticated();
        reader.get_mut().socket_mut().read_deadline =
            if logged_in { Instant::now() + IDLE_TIMEOUT } else { login_deadline };
        let read = read_line(reader, &mut line);
        // Checked before anything read is acted on: a connection whose
        // login slot is gone runs no more commands. Being displaced shuts
        // the read half, so the read has just ended, whatever it returned.
        if session.lost_login_slot() {
            return write_and_flush(reader, |out| Failure::new(MgmtError::LoginSlotLost.to_string()).write_to(out));
        }
        let read = match read {
            Ok(LineRead::Eof) => return Ok(()),
            Ok(read) => read,
            Err(error) if net::is_timeout(&error) && logged_in => {
                return write_and_flush(reader, |out| Failure::new("IDLE TIMEOUT").write_to(out));
            }
            Err(error) if net::is_timeout(&error) => {
                log::info!("MGMT {}: not logged in within {} s, closing", session.peer(), login_timeout.as_secs());
                return write_and_flush(reader, |out| Failure::new("LOGIN TIMEOUT").write_to(out));
            }
            Err(error) => return Err(error),
        };
        let flow = write_and_flush(reader, |out| session.handle(&read, &line, out))?;
        if flow == MgmtFlow::Close {
            return Ok(());
        }
        if !logged_in && session.is_authenticated() {
            // From now on only the idle timeout applies, to writes too: the
            // reply to a long pause of POP3 comes only when it is over.
            reader.get_ref().socket().stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
        }
    }
}

/// Lets `write` answer through the transport under `reader`, collecting
/// the reply so it leaves in one write (one TLS record), then flushes.
fn write_and_flush<T>(
    reader: &mut BufReader<MgmtTransport<'_>>,
    write: impl FnOnce(&mut BufWriter<&mut MgmtTransport<'_>>) -> io::Result<T>,
) -> io::Result<T> {
    let mut out = BufWriter::new(reader.get_mut());
    let value = write(&mut out)?;
    out.flush()?;
    Ok(value)
}

/// The socket under an admin connection, with a deadline on reads.
///
/// A socket read timeout alone restarts with every byte that arrives, so a
/// client trickling bytes that never end a line would never time out. Each
/// read here waits only for the time left before `read_deadline`.
struct MgmtSocket<'s> {
    stream: &'s TcpStream,
    /// Reads after this instant fail with `TimedOut`.
    read_deadline: Instant,
}

impl Read for MgmtSocket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        net::read_before(self.stream, self.read_deadline, buf)
    }
}

impl Write for MgmtSocket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
