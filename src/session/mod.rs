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
use std::time::{Duration, Instant};

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
}

/// Serves one client until it quits, goes away or times out. Never panics
/// on client input; the `permit` frees the connection slot when this
/// returns, however it returns.
pub fn serve(stream: TcpStream, shared: &Shared, permit: ConnectionPermit) {
    let started = Instant::now();
    let peer = stream.peer_addr().map_or_else(|_| "unknown peer".to_owned(), |a: SocketAddr| a.to_string());
    log::info!("connection from {peer}");
    let mut session = Pop3State::new(shared);
    let mut reader = BufReader::with_capacity(READ_BUFFER, Metered::new(&stream, &shared.stats));
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, Metered::new(&stream, &shared.stats));
    let ending = converse(&stream, shared, &mut session, &mut reader, &mut writer);
    let _ = writer.flush();
    let user = session.activity.user.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
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
    drop(permit);
}

fn converse(
    stream: &TcpStream,
    shared: &Shared,
    session: &mut Pop3State<'_>,
    reader: &mut BufReader<Metered<'_>>,
    writer: &mut BufWriter<Metered<'_>>,
) -> io::Result<Ending> {
    let idle_timeout = shared.idle_timeout().max(Duration::from_secs(1));
    // A client that stops reading in the middle of RETR must not pin this
    // thread forever.
    stream.set_write_timeout(Some(idle_timeout))?;
    stream.set_nodelay(true)?;
    shared.pause.wait_while_paused();
    response::ok(writer, "POP3 server ready")?;
    writer.flush()?;
    let mut line = Vec::with_capacity(MAX_LINE_OCTETS);
    loop {
        // RFC 1939 §3: the timer runs from the last command, not the last
        // byte, so a client trickling a line that never ends is logged out.
        reader.get_mut().set_read_deadline(Instant::now() + idle_timeout);
        let read = match read_line(reader, &mut line) {
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
            Failure::with_code(ResponseCode::SysPerm, "account deleted by the administrator").write_to(writer)?;
            return Ok(Ending::AccountDeleted);
        }
        let flow = match read {
            LineRead::Eof => return Ok(Ending::Disconnected),
            LineRead::TooLong => {
                Failure::new(format!("line too long (over {MAX_LINE_OCTETS} octets)")).write_to(writer)?;
                Flow::Continue
            }
            LineRead::Line => session.handle_line(&line, writer)?,
        };
        if flow == Flow::Close {
            return Ok(Ending::Quit);
        }
        if reader.buffer().is_empty() {
            writer.flush()?;
        }
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}
