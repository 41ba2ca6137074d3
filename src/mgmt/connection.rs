//! The MGMT connection loop: the only MGMT code that touches the socket.
//!
//! [`serve`] runs on the admin's own thread. Under `--mgmt-tls` it runs the
//! TLS handshake first (implicit TLS: not one cleartext byte, not even the
//! greeting); then it frames lines with [`crate::wire::line`], hands each
//! to the [`MgmtSession`], and flushes after every reply: admin traffic is
//! tiny, and the login delay and a pause of POP3 block, so nothing may
//! wait in the buffer.
//!
//! Blocking here is deliberate and harmless to everyone else: the login
//! delay and the pause sleep on this admin's thread only, and no lock is
//! held while sleeping or writing.

use std::io::{self, BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use super::protocol::GREETING;
use super::session::{MgmtFlow, MgmtSession};
use super::Context;
use crate::net;
use crate::net::transport::Transport;
use crate::shared::connections::ConnectionPermit;
use crate::wire::line::{read_line, LineRead, MAX_LINE_OCTETS};
use crate::wire::reply::{self, Failure};

/// A forgotten admin connection must not hold a session slot forever.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a `--mgmt-tls` client has for its TLS handshake: far less than
/// IDLE_TIMEOUT, so connections that never start one (a cleartext client
/// waiting for a greeting) cannot hold the few admin slots for long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// An admin connection: the socket, in clear or under TLS.
type MgmtTransport<'s> = Transport<&'s TcpStream>;

/// Serves one admin until they quit or hang up, an idle timeout, or too many failed
/// logins. The `permit` frees the admin session slot when this returns.
pub fn serve(stream: TcpStream, context: &Arc<Context>, permit: ConnectionPermit) {
    let peer = net::peer_name(&stream);
    log::info!("MGMT connection from {peer}{}", if context.tls.is_some() { " (TLS)" } else { "" });
    let mut session = MgmtSession::new(context, peer.clone());
    match open_and_answer(&stream, context.tls.clone(), &mut session) {
        Ok(()) => log::info!("MGMT closed {peer}"),
        Err(error) => log::info!("MGMT closed {peer}: {error}"),
    }
    drop(permit);
}

/// Sets the socket's timeouts, runs the TLS handshake if asked, answers
/// the admin, and ends TLS politely however the conversation ended.
fn open_and_answer(
    stream: &TcpStream,
    tls: Option<Arc<ServerConfig>>,
    session: &mut MgmtSession<'_>,
) -> io::Result<()> {
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut transport = Transport::Plain(stream);
    if let Some(config) = tls {
        stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        transport = transport
            .start_tls(config)
            .map_err(|error| io::Error::new(error.kind(), format!("TLS handshake failed: {error}")))?;
    }
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut reader = BufReader::new(transport);
    let result = answer_lines(&mut reader, session);
    reader.get_mut().close();
    result
}

/// The greeting, then one reply per line until the session or the admin
/// ends the conversation.
fn answer_lines(reader: &mut BufReader<MgmtTransport<'_>>, session: &mut MgmtSession<'_>) -> io::Result<()> {
    write_and_flush(reader, |out| reply::ok(out, GREETING))?;
    let mut line = Vec::with_capacity(MAX_LINE_OCTETS);
    loop {
        let read = match read_line(reader, &mut line) {
            Ok(LineRead::Eof) => return Ok(()),
            Ok(read) => read,
            Err(error) if net::is_timeout(&error) => {
                return write_and_flush(reader, |out| Failure::new("IDLE TIMEOUT").write_to(out));
            }
            Err(error) => return Err(error),
        };
        let flow = write_and_flush(reader, |out| session.handle(&read, &line, out))?;
        if flow == MgmtFlow::Close {
            return Ok(());
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
