//! `admin_monitor`'s command line: the options, the version, the login,
//! and one command with its arguments, checked into a [`MonitorRequest`]
//! before anything connects; and the usage text.
//!
//! The commands and the number of arguments each takes come from the
//! server's verb table ([`MONITOR_COMMANDS`]). Whether an argument is valid
//! is the server's to say (so the two can never disagree); the command line
//! only refuses what could smuggle a second command into the line sent.

use std::fmt;
use std::path::PathBuf;

use rustls::pki_types::ServerName;

use crate::config::DEFAULT_MGMT_PORT;
use crate::mgmt::protocol::{Version, PROTOCOL_VERSION};
use crate::mgmt::verbs::{MgmtVerb, MonitorCommand, MONITOR_COMMANDS};

pub const DEFAULT_HOST: &str = "127.0.0.1";

/// The usage text printed by `-HELP` and after a usage error.
pub fn usage(program: &str) -> String {
    let mut text = format!(
        "Usage: {program} [-H host] [-P port] [--tls --ca-file FILE [--server-name NAME]]\n\
         \x20      <version> <user> <password> <command> [args]\n\
         \x20      {program} [options] --password-file FILE <version> <user> <command> [args]\n\
         \n\
         Sends one command to a pop3d MGMT server (default {DEFAULT_HOST}:{DEFAULT_MGMT_PORT}) and prints its replies.\n\
         <version> is the MGMT protocol version, such as 1.0; this client speaks major version {}.\n\
         \n\
         --tls               speak TLS (for a server started with --mgmt-tls)\n\
         --ca-file FILE      trust the PEM certificate(s) in FILE; required with --tls\n\
         --server-name NAME  the name the server's certificate must carry (default: the -H host)\n\
         --password-file FILE  read the password from FILE's first line, in place of <password>\n\
         \x20                   (so that it stays out of the process list)\n\
         \n\
         Commands:\n  -HELP\n",
        PROTOCOL_VERSION.major
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

/// What to do, from a valid command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorRequest {
    pub host: String,
    pub port: u16,
    pub version: Version,
    pub user: String,
    pub password: String,
    pub verb: MgmtVerb,
    pub args: Vec<String>,
    /// Present with `--tls`.
    pub tls: Option<TlsTarget>,
    /// With `--password-file`: where the password is, which the binary
    /// reads into `password` (empty until then).
    pub password_file: Option<PathBuf>,
}

/// Whom to trust and which name to check, with `--tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTarget {
    pub ca_file: PathBuf,
    pub server_name: ServerName<'static>,
}

impl MonitorRequest {
    /// The command line sent to the server.
    pub fn line(&self) -> String {
        std::iter::once(self.verb.name()).chain(self.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorInvocation {
    Help,
    Run(MonitorRequest),
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
                PROTOCOL_VERSION.major
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
    let mut password_file = None;
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
            [flag, value, tail @ ..] if flag == "--password-file" => {
                password_file = Some(PathBuf::from(value));
                rest = tail;
            }
            [flag] => {
                let with_values = ["-H", "-P", "--ca-file", "--server-name", "--password-file"];
                if let Some(flag) = with_values.into_iter().find(|f| f == flag) {
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
    if version.major != PROTOCOL_VERSION.major {
        return Err(UsageError::UnsupportedVersion(version));
    }
    let user = next("<user>")?.clone();
    let password = match password_file {
        Some(_) => String::new(),
        None => next("<password>")?.clone(),
    };
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
    Ok(MonitorInvocation::Run(MonitorRequest { host, port, version, user, password, verb, args, tls, password_file }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }

    fn request(text: &str) -> MonitorRequest {
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
    fn the_password_may_come_from_a_file() {
        let r = request("--password-file /pw 1.0 admin -STATUS");
        assert_eq!((r.password_file, r.password.as_str(), r.verb), (Some("/pw".into()), "", MgmtVerb::Status));
        assert_eq!(request("1.0 admin pw -STATUS").password_file, None);
        assert_eq!(parse_args(&args("1.0 admin --password-file")), Err(UsageError::Missing("<command>")));
        assert_eq!(parse_args(&args("--password-file")), Err(UsageError::MissingValue("--password-file")));
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
    fn every_client_command_has_a_verb_the_server_knows() {
        for command in MONITOR_COMMANDS {
            assert_eq!(MgmtVerb::from_name(command.verb.name()), Some(command.verb), "{}", command.flag);
        }
        assert!(usage("admin_monitor").contains("-CHANGE_PASSWORD <old-password> <new-password>"));
    }
}
