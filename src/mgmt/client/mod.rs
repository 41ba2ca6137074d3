//! The one-shot MGMT client behind `./admin_monitor`: parse the command
//! line, log in, send one command, print the server's lines, say goodbye.
//!
//! ```text
//! admin_monitor [-H host] [-P port] [--tls --ca-file FILE [--server-name NAME]]
//!               <version> <user> <password> <command> [args]
//! ```
//!
//! With `--tls` the conversation runs inside TLS (the server's
//! `--mgmt-tls`), and the server's certificate must chain to a certificate
//! in FILE and be valid for NAME (by default the `-H` host). There are no
//! built-in trusted roots: an admin password is only ever sent to a server
//! the operator named a certificate for.
//!
//! - [`command_line`]: the arguments, checked, and the usage text.
//! - this file: the conversation, the only client code on the socket. It
//!   knows from the verb alone whether a reply has data lines (see
//!   [`MgmtVerb::has_data`]).
//!
//! Exit statuses are [`ExitStatus`]; the binary maps them to numbers and
//! prints every error as one line on stderr.

pub mod command_line;

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rustls::ClientConnection;

use command_line::MonitorRequest;

use super::protocol::{Version, MAX_PAUSE_SECS};
use super::verbs::MgmtVerb;
use crate::net::tls::{self, TlsError};
use crate::net::transport::Transport;
use crate::wire::number::parse_decimal;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long any reply may take, except that to a pause of POP3, which
/// comes once the pause is over.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// How a conversation that reached the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// The server answered the command with `-ERR`.
    ServerError,
}

/// Why the command could not be delivered (exit status 3).
#[derive(Debug)]
pub enum RunError {
    Resolve {
        target: String,
        error: io::Error,
    },
    Connect {
        target: String,
        error: io::Error,
    },
    /// The `--ca-file` cannot be used.
    CaFile(TlsError),
    /// The TLS handshake failed: most often a certificate that is not
    /// trusted or not valid for the server name, or a server without TLS.
    Tls {
        target: String,
        error: io::Error,
    },
    Lost(io::Error),
    Closed,
    BadGreeting(String),
    VersionMismatch {
        requested: Version,
        server: Version,
    },
    AuthenticationFailed(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Resolve { target, error } => write!(f, "cannot resolve {target}: {error}"),
            RunError::Connect { target, error } => write!(f, "cannot connect to {target}: {error}"),
            RunError::CaFile(error) => write!(f, "--ca-file: {error}"),
            RunError::Tls { target, error } => write!(f, "TLS with {target} failed: {error}{}", tls_hint(error)),
            RunError::Lost(error) => write!(f, "connection lost: {error}"),
            RunError::Closed => f.write_str("the server closed the connection"),
            RunError::BadGreeting(line) => write!(f, "not an MGMT server (greeting: {line})"),
            RunError::VersionMismatch { requested, server } => {
                write!(f, "version {requested} requested but the server speaks MGMT/{server}; major versions differ")
            }
            RunError::AuthenticationFailed(line) => write!(f, "authentication failed: {line}"),
        }
    }
}

impl std::error::Error for RunError {}

/// What to do about the certificate refusals an operator meets most, whose
/// rustls wording alone does not say.
fn tls_hint(error: &io::Error) -> &'static str {
    use rustls::{CertificateError, Error};
    let Some(Error::InvalidCertificate(refusal)) = error.get_ref().and_then(|e| e.downcast_ref::<Error>()) else {
        return "";
    };
    match refusal {
        // A different certificate with the same subject as one in the
        // file gets BadSignature rather than UnknownIssuer.
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            " (the certificate is not signed by one in --ca-file)"
        }
        CertificateError::Other(other)
            if matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity)) =>
        {
            " (the server's certificate is a CA certificate; make it with basicConstraints=critical,CA:FALSE \
             or sign it with a separate CA)"
        }
        _ => "",
    }
}

impl From<io::Error> for RunError {
    fn from(error: io::Error) -> Self {
        RunError::Lost(error)
    }
}

/// Runs `request`, printing the server's lines to `out` (and an `-ERR`
/// answer to the command to `err`).
///
/// # Errors
/// Anything that keeps the command from being answered: no connection, a
/// greeting of another protocol or major version, a refused login.
pub fn run(request: &MonitorRequest, out: &mut impl Write, err: &mut impl Write) -> Result<ExitStatus, RunError> {
    // Loaded first: a bad CA file should not cost a connection.
    let tls = match &request.tls {
        Some(target) => Some((tls::client_config(&target.ca_file).map_err(RunError::CaFile)?, target)),
        None => None,
    };
    let (stream, target) = connect(&request.host, request.port)?;
    stream.set_read_timeout(Some(reply_timeout(request)))?;
    stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
    let transport = match tls {
        Some((config, tls_target)) => Transport::connect_tls(stream, config, tls_target.server_name.clone())
            .map_err(|error| RunError::Tls { target, error })?,
        None => Transport::Plain(stream),
    };
    let mut conversation = Conversation { reader: BufReader::new(transport) };
    let status = hold_conversation(request, &mut conversation, out, err);
    conversation.reader.get_mut().close();
    status
}

/// From the greeting to the goodbye.
fn hold_conversation(
    request: &MonitorRequest,
    conversation: &mut Conversation,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<ExitStatus, RunError> {
    let greeting = conversation.line()?;
    let server = greeting_version(&greeting).ok_or_else(|| RunError::BadGreeting(greeting.clone()))?;
    if server.major != request.version.major {
        return Err(RunError::VersionMismatch { requested: request.version, server });
    }
    writeln!(out, "{greeting}")?;
    for line in [format!("{} {}", MgmtVerb::User, request.user), format!("{} {}", MgmtVerb::Pass, request.password)] {
        let reply = conversation.command(&line)?;
        if !reply.starts_with("+OK") {
            return Err(RunError::AuthenticationFailed(reply));
        }
        writeln!(out, "{reply}")?;
    }

    let reply = conversation.command(&request.line())?;
    let status = if reply.starts_with("+OK") {
        writeln!(out, "{reply}")?;
        if request.verb.has_data() {
            for line in conversation.data_lines()? {
                writeln!(out, "{line}")?;
            }
        }
        ExitStatus::Success
    } else {
        writeln!(err, "{reply}")?;
        ExitStatus::ServerError
    };
    let goodbye = conversation.command(MgmtVerb::Quit.name())?;
    writeln!(out, "{goodbye}")?;
    Ok(status)
}

/// A pause of POP3 is answered only once it is over.
fn reply_timeout(request: &MonitorRequest) -> Duration {
    let pause = match request.verb {
        MgmtVerb::Timeout => request.args.first().and_then(|s| parse_decimal(s)).unwrap_or(0),
        _ => 0,
    };
    REPLY_TIMEOUT + Duration::from_secs(pause.min(MAX_PAUSE_SECS))
}

/// The connected socket and how to name it in messages.
fn connect(host: &str, port: u16) -> Result<(TcpStream, String), RunError> {
    let target = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> =
        (bare, port).to_socket_addrs().map_err(|error| RunError::Resolve { target: target.clone(), error })?.collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok((stream, target)),
            Err(error) => last = error,
        }
    }
    Err(RunError::Connect { target, error: last })
}

/// The `MGMT/major.minor` at the end of a `+OK` greeting.
fn greeting_version(greeting: &str) -> Option<Version> {
    if !greeting.starts_with("+OK") {
        return None;
    }
    let token = greeting.split(' ').next_back()?;
    Version::parse(token.strip_prefix("MGMT/")?)
}

struct Conversation {
    /// Replies are read through the buffer; commands are written to the
    /// transport under it (one TLS stream cannot be split in two).
    reader: BufReader<Transport<TcpStream, ClientConnection>>,
}

impl Conversation {
    fn command(&mut self, line: &str) -> Result<String, RunError> {
        let transport = self.reader.get_mut();
        transport.write_all(format!("{line}\r\n").as_bytes())?;
        transport.flush()?;
        self.line()
    }

    /// One line without its line ending.
    fn line(&mut self) -> Result<String, RunError> {
        let mut bytes = Vec::new();
        // Replies are short; a bound keeps a rogue server from feeding us
        // an endless line.
        let read = (&mut self.reader).take(64 * 1024).read_until(b'\n', &mut bytes)?;
        if read == 0 {
            return Err(RunError::Closed);
        }
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Data lines up to the closing ".", with byte-stuffing removed.
    fn data_lines(&mut self) -> Result<Vec<String>, RunError> {
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            if line == "." {
                return Ok(lines);
            }
            lines.push(line.strip_prefix('.').map(str::to_owned).unwrap_or(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_carry_the_version() {
        assert_eq!(greeting_version("+OK Management server ready MGMT/1.0"), Some(Version { major: 1, minor: 0 }));
        assert_eq!(greeting_version("+OK POP3 server ready"), None);
        assert_eq!(greeting_version("-ERR MGMT/1.0"), None);
    }
}
