//! One POP3 connection, from greeting to close, on one pool thread.
//!
//! This is the only POP3 code that drives the socket: it reads command lines
//! through a [`Connection`], hands each to the state machine in [`state`],
//! and flushes the replies once no more pipelined input is waiting, so a
//! burst of commands costs one write. It runs the TLS handshake (at once
//! for POP3S, after STLS otherwise), enforces the timeouts, the MGMT pause
//! and shutdown, and writes the one log line that sums up the connection.

pub mod command;
pub mod connection;
pub mod encode;
mod login;
pub mod metered;
pub mod sasl;
pub mod session;
pub mod transfer;

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use crate::net::{self, is_timeout};
use crate::shared::connections::ConnectionPermit;
use crate::shared::Shared;
use crate::wire::line::{LineRead, MAX_LINE_OCTETS};
use crate::wire::reply::{self, Failure, ResponseCode};
use connection::Connection;
use metered::Metered;
use session::{LinkSecurity, Pop3Flow, Pop3Session};

/// How a connection ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Quit,
    Disconnected,
    IdleTimeout,
    AccountDeleted,
    /// The session broke a limit (bad commands, failed logins).
    Limit,
    ServerShutdown,
}

/// Serves one client until it quits, goes away or times out. Never panics
/// on client input; the `permit` frees the connection slot when this
/// returns, however it returns.
pub fn serve(stream: TcpStream, implicit_tls: bool, shared: &Shared, permit: ConnectionPermit) {
    let started = Instant::now();
    let peer = stream.peer_addr();
    let peer_name = net::peer_name(&stream);
    log::info!("connection from {peer_name}{}", if implicit_tls { " (TLS)" } else { "" });
    let stream = Arc::new(stream);
    let registration = shared.shutdown.register(&stream);
    let loopback = peer.is_ok_and(|addr| addr.ip().to_canonical().is_loopback());
    let mut session = Pop3Session::new(shared, LinkSecurity { tls: false, loopback });
    let mut connection = Some(Connection::new(Metered::new(&stream, &shared.stats)));
    let ending = converse(&stream, implicit_tls, shared, &mut session, &mut connection);
    let (octets_in, octets_out) = connection.as_ref().map_or((0, 0), Connection::octets);
    if let Some(connection) = &mut connection {
        let _ = connection.flush();
        connection.close();
    }
    let user = session.activity.user.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
    let ending = match ending {
        Ok(ending) => format!("{ending:?}"),
        Err(error) => format!("error: {error}"),
    };
    log::info!(
        "closed {peer_name} user={user} retrieved={} deleted={} in={octets_in} out={octets_out} duration={:.3}s ending={ending}",
        session.activity.retrieved,
        session.activity.deleted,
        started.elapsed().as_secs_f64(),
    );
    drop(registration);
    drop(permit);
}

/// The conversation itself. `connection` is an `Option` only so that the
/// TLS upgrade can take it by value and put the secured one back.
fn converse<'a>(
    stream: &TcpStream,
    implicit_tls: bool,
    shared: &Shared,
    session: &mut Pop3Session<'_>,
    slot: &mut Option<Connection<'a>>,
) -> io::Result<Ending> {
    let limits = &shared.limits;
    // The time to log in runs from the connection, not from each command,
    // so a client that never logs in cannot hold a slot by chatting.
    let login_deadline = Instant::now() + limits.login_timeout.min(limits.idle_timeout);
    // A client that stops reading in the middle of RETR must not pin this
    // thread forever.
    stream.set_write_timeout(Some(limits.idle_timeout))?;
    stream.set_nodelay(true)?;
    slot.as_mut().expect("a connection until converse returns").set_read_deadline(login_deadline);
    if implicit_tls {
        start_tls(shared, session, slot)?;
    }
    let connection = slot.as_mut().expect("a connection until converse returns");
    shared.pause.wait_while_paused();
    if shared.shutdown.is_requested() {
        return say_shutting_down(&mut connection.replies());
    }
    reply::ok(&mut connection.replies(), "POP3 server ready")?;
    connection.flush()?;
    let mut line = Vec::with_capacity(MAX_LINE_OCTETS);
    loop {
        let connection = slot.as_mut().expect("a connection until converse returns");
        // RFC 1939 §3: after login the autologout timer runs from the last
        // command, not the last byte.
        if session.user().is_some() {
            connection.set_read_deadline(Instant::now() + limits.idle_timeout);
        }
        let read = connection.read_line(&mut line);
        let replies = &mut connection.replies();
        // Checked before anything read is acted on: once shutdown begins,
        // no new command runs.
        if shared.shutdown.is_requested() {
            return say_shutting_down(replies);
        }
        let read = match read {
            Ok(read) => read,
            Err(error) if is_timeout(&error) => {
                // RFC 1939 §3: autologout, without entering UPDATE.
                Failure::new("autologout: idle for too long").write_to(replies)?;
                return Ok(Ending::IdleTimeout);
            }
            Err(error) => return Err(error),
        };
        shared.pause.wait_while_paused();
        if !session.account_still_exists() {
            Failure::with_code(ResponseCode::SysPerm, "account deleted by the administrator").write_to(replies)?;
            return Ok(Ending::AccountDeleted);
        }
        let flow = match read {
            LineRead::Eof => return Ok(Ending::Disconnected),
            LineRead::TooLong => session.reject_long_line(replies)?,
            LineRead::Line => session.handle_line(&line, replies)?,
        };
        match flow {
            Pop3Flow::Continue => {}
            Pop3Flow::StartTls => {
                connection.flush()?;
                start_tls(shared, session, slot)?;
                continue;
            }
            Pop3Flow::Quit => return Ok(Ending::Quit),
            Pop3Flow::Disconnect => return Ok(Ending::Limit),
        }
        if !connection.has_buffered_input() {
            connection.flush()?;
        }
    }
}

/// Runs the TLS handshake and puts the secured connection in `slot`.
fn start_tls(shared: &Shared, session: &mut Pop3Session<'_>, slot: &mut Option<Connection<'_>>) -> io::Result<()> {
    let config = shared.tls.clone().ok_or_else(|| io::Error::other("TLS is not configured"))?;
    let plain = slot.take().expect("a connection until converse returns");
    let (secured, dropped) = plain.start_tls(config)?;
    if dropped > 0 {
        // RFC 2595 §4 / CVE-2011-0411: never run commands that arrived in
        // clear after STLS as if they came through TLS.
        log::warn!("discarded {dropped} octets sent in clear after STLS");
    }
    *slot = Some(secured);
    session.tls_started();
    Ok(())
}

fn say_shutting_down(replies: &mut impl Write) -> io::Result<Ending> {
    Failure::with_code(ResponseCode::SysTemp, "server shutting down").write_to(replies)?;
    Ok(Ending::ServerShutdown)
}
