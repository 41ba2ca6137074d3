//! One POP3 connection, from greeting to close, on one pool thread.
//!
//! This is the only POP3 code that touches the socket: it reads command
//! lines through a `BufReader` (see [`crate::protocol::line`]), hands each
//! to the state machine in [`state`], and flushes the replies once no more
//! pipelined input is waiting, so a burst of commands costs one write.
//! It enforces the idle timeout and the MGMT pause, and writes the one log
//! line that sums up the connection.

pub mod metered;
pub mod state;
pub mod transfer;

use std::io::{self, BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use crate::protocol::line::{read_line, LineRead, MAX_LINE_OCTETS};
use crate::protocol::response::{self, Failure, ResponseCode};
use crate::state::connections::ConnectionPermit;
use crate::state::Shared;
use metered::Metered;
use state::{Flow, Pop3State};

/// Room for many pipelined commands per read; idle sessions keep only this
/// and the write buffer.
const READ_BUFFER: usize = 4096;
const WRITE_BUFFER: usize = 4096;

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
pub fn serve(stream: TcpStream, shared: &Shared, permit: ConnectionPermit) {
    let started = Instant::now();
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "unknown peer".to_owned(), |a: SocketAddr| a.to_string());
    log::info!("connection from {peer}");
    // Declared after `stream`, so dropped (taken off the list) before the
    // socket closes: see `Shutdown`.
    let registration = shared.shutdown.register(&stream);
    let mut session = Pop3State::new(shared);
    let mut reader = BufReader::with_capacity(READ_BUFFER, Metered::new(&stream, &shared.stats));
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, Metered::new(&stream, &shared.stats));
    let ending = converse(&stream, shared, &mut session, &mut reader, &mut writer);
    let _ = writer.flush();
    let user = session
        .activity
        .user
        .as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string);
    let ending = match ending {
        Ok(ending) => format!("{ending:?}"),
        Err(error) => format!("error: {error}"),
    };
    log::info!(
        "closed {peer} user={user} retrieved={} deleted={} in={} out={} duration={:.3}s ending={ending}",
        session.activity.retrieved,
        session.activity.deleted,
        reader.get_ref().octets(),
        writer.get_ref().octets(),
        started.elapsed().as_secs_f64(),
    );
    drop(registration);
    drop(permit);
}

fn converse(
    stream: &TcpStream,
    shared: &Shared,
    session: &mut Pop3State<'_>,
    reader: &mut BufReader<Metered<'_>>,
    writer: &mut BufWriter<Metered<'_>>,
) -> io::Result<Ending> {
    let limits = &shared.limits;
    let mut logged_in = false;
    stream.set_read_timeout(Some(limits.login_timeout))?;
    // A client that stops reading in the middle of RETR must not pin this
    // thread forever.
    stream.set_write_timeout(Some(limits.idle_timeout))?;
    stream.set_nodelay(true)?;
    shared.pause.wait_while_paused();
    if shared.shutdown.is_requested() {
        return say_shutting_down(writer);
    }
    response::ok(writer, "POP3 server ready")?;
    writer.flush()?;
    let mut line = Vec::with_capacity(MAX_LINE_OCTETS);
    loop {
        let read = read_line(reader, &mut line);
        // Checked before anything read is acted on: once shutdown begins,
        // no new command runs.
        if shared.shutdown.is_requested() {
            return say_shutting_down(writer);
        }
        let read = match read {
            Ok(read) => read,
            Err(error) if is_timeout(&error) => {
                // RFC 1939 §3: autologout, without entering UPDATE.
                Failure::new("autologout: idle for too long").write_to(writer)?;
                return Ok(Ending::IdleTimeout);
            }
            Err(error) => return Err(error),
        };
        shared.pause.wait_while_paused();
        if !session.account_still_exists() {
            Failure::with_code(
                ResponseCode::SysPerm,
                "account deleted by the administrator",
            )
            .write_to(writer)?;
            return Ok(Ending::AccountDeleted);
        }
        let flow = match read {
            LineRead::Eof => return Ok(Ending::Disconnected),
            LineRead::TooLong => session.reject_long_line(writer)?,
            LineRead::Line => session.handle_line(&line, writer)?,
        };
        match flow {
            Flow::Continue => {}
            Flow::Quit => return Ok(Ending::Quit),
            Flow::Disconnect => return Ok(Ending::Limit),
        }
        if !logged_in && session.user().is_some() {
            logged_in = true;
            stream.set_read_timeout(Some(limits.idle_timeout))?;
        }
        if reader.buffer().is_empty() {
            writer.flush()?;
        }
    }
}

fn say_shutting_down(writer: &mut impl Write) -> io::Result<Ending> {
    Failure::with_code(ResponseCode::SysTemp, "server shutting down").write_to(writer)?;
    Ok(Ending::ServerShutdown)
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
