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
//! The server decides whether arguments are valid (so the client and the
//! server can never disagree); the client only checks how many there are
//! and that none could smuggle a second command into the line. It knows
//! from the verb alone whether a reply has data lines (see
//! [`MgmtVerb::has_data`]). Its commands and their arguments come from the
//! server's verb table ([`MONITOR_COMMANDS`]). Exit statuses are [`ExitStatus`]; the binary maps
//! them to numbers and prints every error as one line on stderr.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::protocol::{MAX_PAUSE_SECS, PROTOCOL_VERSION};
use super::verbs::{MgmtVerb, MonitorCommand, MONITOR_COMMANDS};
use crate::config::DEFAULT_MGMT_PORT;
use crate::net::tls::{self, TlsError};
use crate::net::transport::Transport;
use crate::wire::number::parse_decimal;

pub const DEFAULT_HOST: &str = "127.0.0.1";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long any reply may take, except that to a pause of POP3, which
/// comes once the pause is over.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The usage text printed by `-HELP` and after a usage error.
pub fn usage(program: &str) -> String {
    let mut text = format!(
        "Usage: {program} [-H host] [-P port] [--tls --ca-file FILE [--server-name NAME]]\n\
         \x20      <version> <user> <password> <command> [args]\n\
         \n\
         Sends one command to a pop3d MGMT server (default {DEFAULT_HOST}:{DEFAULT_MGMT_PORT}) and prints its replies.\n\
         <version> is the MGMT protocol version, such as 1.0; this client speaks major version {}.\n\
         \n\
         --tls               speak TLS (for a server started with --mgmt-tls)\n\
         --ca-file FILE      trust the PEM certificate(s) in FILE; required with --tls\n\
         --server-name NAME  the name the server's certificate must carry (default: the -H host)\n\
         \n\
         Commands:\n  -HELP\n",
        PROTOCOL_VERSION.0
    );
    let mut commands: Vec<&MonitorCommand> = MONITOR_COMMANDS.iter().collect();
    commands.sort_by_key(|command| command.help_place);
    for command in commands {
        text.push_str(&format!("  {}{}\n", command.flag, command.verb.usage_suffix()));
    }
    text.push_str(
        "\nExit status: 0 success, 1 the server answered -ERR, 2 usage error,\n\
         3 cannot connect, verify the server (TLS), authenticate or agree on the protocol version.\n",
    );
    text
}

/// A protocol version `major.minor` (the minor part may be left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let (major, minor) = text.split_once('.').unwrap_or((text, "0"));
        // Nine digits always fit a `u32`; more are refused rather than
        // accepted only when small enough.
        let part = |s: &str| if s.len() > 9 { None } else { parse_decimal(s).and_then(|n| u32::try_from(n).ok()) };
        Some(Version { major: part(major)?, minor: part(minor)? })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What to do, from a valid command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub host: String,
    pub port: u16,
    pub version: Version,
    pub user: String,
    pub password: String,
    pub verb: MgmtVerb,
    pub args: Vec<String>,
    /// Present with `--tls`.
    pub tls: Option<TlsTarget>,
}

/// Whom to trust and which name to check, with `--tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTarget {
    pub ca_file: PathBuf,
    pub server_name: ServerName<'static>,
}

impl Request {
    /// The command line sent to the server.
    fn line(&self) -> String {
        std::iter::once(self.verb.name()).chain(self.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorInvocation {
    Help,
    Run(Request),
}

/// A command line that cannot be run. `Display` is the one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    MissingValue(&'static str),
    BadPort(String),
    Missing(&'static str),
    BadVersion(String),
    UnsupportedVersion(Version),
    UnknownCommand(String),
    WrongArgumentCount {
        command: String,
        expected: usize,
    },
    /// A space, CR or LF in an argument would change the line sent.
    UnsafeArgument,
    NotUtf8,
    /// `--tls` without `--ca-file`: there is nothing to trust.
    MissingCaFile,
    /// `--ca-file` or `--server-name` without `--tls`.
    NeedsTls(&'static str),
    BadServerName(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            UsageError::BadPort(port) => write!(f, "'{port}' is not a port number (1-65535)"),
            UsageError::Missing(what) => write!(f, "missing {what}"),
            UsageError::BadVersion(text) => write!(f, "'{text}' is not a protocol version such as 1.0"),
            UsageError::UnsupportedVersion(version) => write!(
                f,
                "version {version} is not supported: this client speaks MGMT {}.x (major versions must match)",
                PROTOCOL_VERSION.0
            ),
            UsageError::UnknownCommand(command) => write!(f, "unknown command '{command}' (see -HELP)"),
            UsageError::WrongArgumentCount { command, expected } => {
                write!(f, "{command} takes {expected} argument{}", if *expected == 1 { "" } else { "s" })
            }
            UsageError::UnsafeArgument => f.write_str("arguments cannot contain spaces or line breaks"),
            UsageError::NotUtf8 => f.write_str("arguments must be UTF-8 text"),
            UsageError::MissingCaFile => {
                f.write_str("--tls needs --ca-file FILE: the PEM certificate to trust (there are no built-in roots)")
            }
            UsageError::NeedsTls(flag) => write!(f, "{flag} only makes sense with --tls"),
            UsageError::BadServerName(name) => {
                write!(f, "'{name}' is not a host name or IP address a certificate can be checked against")
            }
        }
    }
}

impl std::error::Error for UsageError {}

/// Parses the arguments after the program name.
pub fn parse_args(args: &[String]) -> Result<MonitorInvocation, UsageError> {
    if args.iter().any(|arg| arg.eq_ignore_ascii_case("-HELP") || arg == "-h" || arg == "--help") {
        return Ok(MonitorInvocation::Help);
    }
    let mut host = DEFAULT_HOST.to_owned();
    let mut port = DEFAULT_MGMT_PORT;
    let (mut tls, mut ca_file, mut server_name) = (false, None, None);
    let mut rest = args;
    loop {
        match rest {
            [flag, tail @ ..] if flag == "--tls" => {
                tls = true;
                rest = tail;
            }
            [flag, value, tail @ ..] if flag == "-H" => {
                host = value.clone();
                rest = tail;
            }
            [flag, value, tail @ ..] if flag == "-P" => {
                port = value.parse().ok().filter(|&p| p != 0).ok_or_else(|| UsageError::BadPort(value.clone()))?;
                rest = tail;
            }
            [flag, value, tail @ ..] if flag == "--ca-file" => {
                ca_file = Some(PathBuf::from(value));
                rest = tail;
            }
            [flag, value, tail @ ..] if flag == "--server-name" => {
                server_name = Some(value.clone());
                rest = tail;
            }
            [flag] => {
                if let Some(flag) = ["-H", "-P", "--ca-file", "--server-name"].into_iter().find(|f| f == flag) {
                    return Err(UsageError::MissingValue(flag));
                }
                break;
            }
            _ => break,
        }
    }
    let tls = tls_target(tls, ca_file, server_name, &host)?;
    let mut positional = rest.iter();
    let mut next = |what| positional.next().ok_or(UsageError::Missing(what));
    let version_text = next("<version>")?;
    let version = Version::parse(version_text).ok_or_else(|| UsageError::BadVersion(version_text.clone()))?;
    if version.major != PROTOCOL_VERSION.0 {
        return Err(UsageError::UnsupportedVersion(version));
    }
    let user = next("<user>")?.clone();
    let password = next("<password>")?.clone();
    let command = next("<command>")?;
    let verb = MONITOR_COMMANDS
        .iter()
        .find(|known| known.flag.eq_ignore_ascii_case(command))
        .map(|known| known.verb)
        .ok_or_else(|| UsageError::UnknownCommand(command.clone()))?;
    let args: Vec<String> = positional.cloned().collect();
    let expected = verb.arguments().len();
    if args.len() != expected {
        return Err(UsageError::WrongArgumentCount { command: command.to_ascii_uppercase(), expected });
    }
    let unsafe_text = |text: &str| text.is_empty() || text.contains([' ', '\r', '\n']);
    if args.iter().any(|arg| unsafe_text(arg)) || unsafe_text(&user) || password.contains(['\r', '\n']) {
        return Err(UsageError::UnsafeArgument);
    }
    Ok(MonitorInvocation::Run(Request { host, port, version, user, password, verb, args, tls }))
}

/// The TLS part of the command line, checked; the server name defaults to
/// the host as typed, without IPv6 brackets.
fn tls_target(
    tls: bool,
    ca_file: Option<PathBuf>,
    server_name: Option<String>,
    host: &str,
) -> Result<Option<TlsTarget>, UsageError> {
    if !tls {
        return match (ca_file, server_name) {
            (Some(_), _) => Err(UsageError::NeedsTls("--ca-file")),
            (None, Some(_)) => Err(UsageError::NeedsTls("--server-name")),
            (None, None) => Ok(None),
        };
    }
    let ca_file = ca_file.ok_or(UsageError::MissingCaFile)?;
    let name = server_name.unwrap_or_else(|| host.trim_start_matches('[').trim_end_matches(']').to_owned());
    let server_name = ServerName::try_from(name.clone()).map_err(|_| UsageError::BadServerName(name))?;
    Ok(Some(TlsTarget { ca_file, server_name }))
}

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
pub fn run(request: &Request, out: &mut impl Write, err: &mut impl Write) -> Result<ExitStatus, RunError> {
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
    request: &Request,
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
fn reply_timeout(request: &Request) -> Duration {
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

    fn args(text: &str) -> Vec<String> {
        text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }

    fn request(text: &str) -> Request {
        match parse_args(&args(text)) {
            Ok(MonitorInvocation::Run(request)) => request,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn command_lines_become_the_line_sent() {
        let r = request("1.0 admin admin -HISTORIC_CONNEC");
        assert_eq!((r.host.as_str(), r.port, r.verb), ("127.0.0.1", 6000, MgmtVerb::HistoricConnec));
        assert_eq!(r.line(), "HISTORIC_CONNEC");
        let r = request("-H ::1 -P 7000 1 root pw -max_connections 5");
        assert_eq!((r.host.as_str(), r.port, r.line()), ("::1", 7000, "MAX_CONNEC 5".to_owned()));
        assert_eq!(request("1.3 a b -ADD_USER carol c:pw").line(), "ADD_USER carol c:pw");
        assert_eq!(request("1.0 a -pw- -STATUS").password, "-pw-");
        assert_eq!(parse_args(&args("-HELP")), Ok(MonitorInvocation::Help));
        assert_eq!(request("1.0 a b -STATUS").tls, None);
    }

    #[test]
    fn tls_options() {
        let r = request("--tls -H localhost --ca-file ca.pem 1.0 a b -STATUS");
        let tls = r.tls.expect("--tls");
        assert_eq!(tls.ca_file, PathBuf::from("ca.pem"));
        assert_eq!(tls.server_name, ServerName::try_from("localhost").unwrap());
        let r = request("-H [::1] --tls --ca-file ca.pem 1.0 a b -STATUS");
        assert_eq!(r.tls.unwrap().server_name, ServerName::try_from("::1").unwrap());
        let r = request("-H 127.0.0.1 --tls --ca-file ca.pem --server-name mail.example 1.0 a b -STATUS");
        assert_eq!(r.tls.unwrap().server_name, ServerName::try_from("mail.example").unwrap());
        let cases = [
            ("--tls 1.0 a b -STATUS", UsageError::MissingCaFile),
            ("--ca-file ca.pem 1.0 a b -STATUS", UsageError::NeedsTls("--ca-file")),
            ("--server-name x 1.0 a b -STATUS", UsageError::NeedsTls("--server-name")),
            ("--tls --ca-file", UsageError::MissingValue("--ca-file")),
            (
                "--tls --ca-file c --server-name bad_name! 1.0 a b -STATUS",
                UsageError::BadServerName("bad_name!".into()),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_args(&args(text)), Err(expected), "{text}");
        }
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        let cases = [
            ("", UsageError::Missing("<version>")),
            ("-H", UsageError::MissingValue("-H")),
            ("-P x 1.0 a b -STATUS", UsageError::BadPort("x".into())),
            ("one a b -STATUS", UsageError::BadVersion("one".into())),
            ("2.0 a b -STATUS", UsageError::UnsupportedVersion(Version { major: 2, minor: 0 })),
            ("1.0 a b", UsageError::Missing("<command>")),
            ("1.0 a b -FLY", UsageError::UnknownCommand("-FLY".into())),
            ("1.0 a b -STATUS now", UsageError::WrongArgumentCount { command: "-STATUS".into(), expected: 0 }),
            ("1.0 a b -ADD_USER x", UsageError::WrongArgumentCount { command: "-ADD_USER".into(), expected: 2 }),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_args(&args(text)), Err(expected), "{text}");
        }
        let smuggled = vec!["1.0".into(), "a".into(), "b".into(), "-DELETE_USER".into(), "x\r\nQUIT".into()];
        assert_eq!(parse_args(&smuggled), Err(UsageError::UnsafeArgument));
    }

    #[test]
    fn greetings_carry_the_version() {
        assert_eq!(greeting_version("+OK Management server ready MGMT/1.0"), Some(Version { major: 1, minor: 0 }));
        assert_eq!(greeting_version("+OK POP3 server ready"), None);
        assert_eq!(greeting_version("-ERR MGMT/1.0"), None);
    }

    #[test]
    fn every_client_command_has_a_verb_the_server_knows() {
        for command in MONITOR_COMMANDS {
            assert_eq!(MgmtVerb::from_name(command.verb.name()), Some(command.verb), "{}", command.flag);
        }
        assert!(usage("admin_monitor").contains("-CHANGE_PASSWORD <old-password> <new-password>"));
    }
}
