//! The command line: raw flags parsed by getopts, then checked and turned
//! into a [`Config`] the rest of the server can trust.
//!
//! Every problem becomes one [`ConfigError`] line a user can act on; the
//! binary prints it (with the usage, for a command-line mistake) and exits
//! with status 2. Nothing here touches the network, and the disk only to
//! read the `--config` file ([`file`] turns it into option arguments, the
//! command line's winning) and secrets kept in files
//! (`--admin-password-file`).

pub mod file;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use getopts::Options;
use log::LevelFilter;

use crate::accounts::password::{PasswordScheme, UnknownScheme};
use crate::accounts::users::UserNameCase;
use crate::accounts::users::{Credentials, CredentialsError};
use crate::net::cidr::{self, Cidr, CidrError};
use crate::net::tls::PlaintextAuth;
use crate::shared::limits::SessionLimits;
use crate::storage::mail_location::{MailLocation, TemplateError};
use crate::storage::uidl_format::{UidlFormat, UidlFormatError};

pub const DEFAULT_MAX_CONNECTIONS: usize = 500;
pub const DEFAULT_MAX_USERS: usize = 100_000;
pub const DEFAULT_MGMT_PORT: u16 = 6000;
pub const DEFAULT_ADMIN: &str = "admin:admin";
/// The admin's name when only `--admin-password-file` is given.
pub const DEFAULT_ADMIN_USER: &str = "admin";
/// RFC 1939 §3: an autologout timer "MUST be of at least 10 minutes".
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 600;
/// 4 KiB reads measured best for RETR (the README's buffer-size experiment).
pub const DEFAULT_RETR_BUFFER: usize = 4096;
pub const DEFAULT_MAX_PER_ADDRESS: usize = 10;
/// The mail root without `-d` or `--mail-location`.
pub const DEFAULT_MAIL_ROOT: &str = "./mail";
pub const DEFAULT_LOCK_STALE_SECS: u64 = crate::storage::lock::DEFAULT_STALE_AFTER.as_secs();
/// Undocumented knob for the benchmark's buffer-size experiment.
pub const RETR_BUFFER_ENV: &str = "POP3D_RETR_BUFFER";

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// POP3 listening addresses (two for `localhost`).
    pub pop3_addrs: Vec<SocketAddr>,
    pub mgmt_addr: SocketAddr,
    pub mail_root: PathBuf,
    pub max_connections: usize,
    pub max_users: usize,
    pub admin: Credentials,
    /// True when `-a` was not given: admin:admin is in use.
    pub admin_is_default: bool,
    pub users: Vec<Credentials>,
    pub users_file: Option<PathBuf>,
    /// Lower-cased names (Dovecot's `%Lu`), unless `--case-sensitive-users`.
    pub user_name_case: UserNameCase,
    pub limits: SessionLimits,
    /// Most connections from one client address; 0 means no such cap.
    pub max_per_address: usize,
    /// Whether loopback clients are also held to `max_per_address`.
    pub limit_loopback: bool,
    pub log_level: LevelFilter,
    pub retr_buffer: usize,
    /// Certificate and key, when TLS is on.
    pub tls: Option<TlsFiles>,
    /// Implicit-TLS (POP3S) listening addresses: the POP3 IPs on `--tls-port`.
    pub pop3s_addrs: Vec<SocketAddr>,
    pub plaintext_auth: PlaintextAuth,
    /// MGMT speaks implicit TLS with the `tls` certificate (`--mgmt-tls`).
    pub mgmt_tls: bool,
    /// How long an MGMT connection has, from connecting, to log in.
    pub mgmt_login_timeout: Duration,
    /// How each message's UIDL is made: Dovecot's `pop3_uidl_format`.
    pub uidl_format: UidlFormat,
    /// Where each user's Maildir is: `--mail-location`, or `-d DIR` as `DIR/%u`.
    pub mail_location: MailLocation,
    /// The scheme MGMT stores new passwords in.
    pub password_scheme: PasswordScheme,
    /// Peers whose connections start with a PROXY protocol header: the
    /// load balancers (`--haproxy-trusted-networks`, Dovecot's
    /// `haproxy_trusted_networks`).
    pub haproxy_trusted_networks: Vec<Cidr>,
    /// How old the heartbeat of another host's maildrop lock must be
    /// before the lock is broken (`--lock-stale-seconds`).
    pub lock_stale_after: Duration,
    /// Where Prometheus metrics are served (`--metrics-addr`); off if `None`.
    pub metrics_addr: Option<SocketAddr>,
    /// The account to switch to after binding (`--run-as`), and the group
    /// in place of its own (`--run-as-group`).
    pub run_as: Option<String>,
    pub run_as_group: Option<String>,
    /// The `--config` file, read again on SIGHUP.
    pub config_file: Option<PathBuf>,
    /// The arguments this was parsed from, parsed again on SIGHUP.
    pub reload_args: ReloadArgs,
}

/// The command line, kept for reloads. Its `Debug` shows only the count,
/// since `-a` and `-u` carry passwords.
#[derive(Clone, Default)]
pub struct ReloadArgs(pub Vec<String>);

impl fmt::Debug for ReloadArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReloadArgs({} arguments)", self.0.len())
    }
}

/// PEM files for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum ServerInvocation {
    Run(Box<Config>),
    Help,
    Version,
    /// Print the hash of a password read from standard input, in this scheme.
    HashPassword(PasswordScheme),
}

/// One thing wrong with the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Flags(String),
    MissingAddress,
    MissingPort,
    BadAddress(String),
    BadPort(String),
    BadNumber {
        flag: &'static str,
        value: String,
    },
    BadSeconds {
        flag: &'static str,
        value: String,
    },
    OutOfRange {
        flag: &'static str,
        min: u64,
        max: u64,
    },
    BadUser {
        entry: String,
        reason: CredentialsError,
    },
    DuplicateUser(String),
    BadLogLevel(String),
    UnexpectedArgument(String),
    BadEnv {
        name: &'static str,
        value: String,
    },
    /// A flag that only makes sense with another one.
    Needs {
        flag: &'static str,
        needs: &'static str,
    },
    Conflict(&'static str, &'static str),
    BadUidlFormat {
        value: String,
        reason: UidlFormatError,
    },
    BadMailLocation {
        value: String,
        reason: TemplateError,
    },
    BadPasswordScheme {
        value: String,
        reason: UnknownScheme,
    },
    BadTrustedNetworks(CidrError),
    BadMetricsAddr(String),
    /// The `--config` file or a secret file cannot be read.
    Unreadable {
        path: PathBuf,
        error: String,
    },
    /// A line of the `--config` file is at fault.
    InFile {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

impl ConfigError {
    /// Whether the usage helps: not for a mistake in a file, which the
    /// one line names with its place.
    pub fn shows_usage(&self) -> bool {
        !matches!(self, ConfigError::Unreadable { .. } | ConfigError::InFile { .. })
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Flags(message) => f.write_str(message),
            ConfigError::MissingAddress => f.write_str("missing <ip>: the address to listen on"),
            ConfigError::MissingPort => f.write_str("missing <port>: the POP3 port to listen on"),
            ConfigError::BadAddress(value) => {
                write!(f, "'{value}' is not an IPv4 or IPv6 address (or 'localhost')")
            }
            ConfigError::BadPort(value) => write!(f, "'{value}' is not a port number (0-65535)"),
            ConfigError::BadNumber { flag, value } => {
                write!(f, "{flag}: '{value}' is not a whole number")
            }
            ConfigError::BadSeconds { flag, value } => {
                write!(f, "{flag}: '{value}' is not a number of seconds from 0 to 60")
            }
            ConfigError::OutOfRange { flag, min, max } => {
                write!(f, "{flag} must be between {min} and {max}")
            }
            ConfigError::BadUser { entry, reason } => {
                let name = entry.split(':').next().unwrap_or_default();
                write!(f, "bad user entry for '{name}': {reason}")
            }
            ConfigError::DuplicateUser(name) => write!(f, "user '{name}' is given twice"),
            ConfigError::BadLogLevel(value) => {
                write!(f, "--log-level: '{value}' is not one of off, error, warn, info, debug, trace")
            }
            ConfigError::UnexpectedArgument(value) => {
                write!(f, "unexpected argument '{value}' (users follow -u as user:password)")
            }
            ConfigError::BadEnv { name, value } => {
                write!(f, "{name}: '{value}' is not a size from 1 to 1048576")
            }
            ConfigError::Needs { flag, needs } => write!(f, "{flag} needs {needs}"),
            ConfigError::Conflict(a, b) => write!(f, "{a} and {b} cannot be used together"),
            ConfigError::BadUidlFormat { value, reason } => write!(f, "--uidl-format: '{value}': {reason}"),
            ConfigError::BadMailLocation { value, reason } => write!(f, "--mail-location: '{value}': {reason}"),
            ConfigError::BadPasswordScheme { value, reason } => write!(f, "--password-scheme: '{value}': {reason}"),
            ConfigError::BadTrustedNetworks(reason) => write!(f, "--haproxy-trusted-networks: {reason}"),
            ConfigError::BadMetricsAddr(value) => {
                write!(f, "--metrics-addr: '{value}' is not IP:PORT (such as 127.0.0.1:9110 or [::1]:9110)")
            }
            ConfigError::Unreadable { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            ConfigError::InFile { path, line, reason } => write!(f, "{}:{line}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

fn options() -> Options {
    let mut options = Options::new();
    options
        .optmulti("u", "user", "a POP3 account; more may follow as plain arguments", "USER:PASS")
        .optopt("d", "maildir", "mail root; USER's Maildir is DIR/USER (default ./mail)", "DIR")
        .optopt("c", "max-connections", "most POP3 connections at once (default 500)", "N")
        .optopt("", "max-users", "most accounts MGMT may create (default 100000)", "N")
        .optopt("", "mgmt-addr", "management address (default 127.0.0.1)", "IP")
        .optopt("", "mgmt-port", "management port (default 6000)", "PORT")
        .optopt("a", "admin", "management account, also a POP3 user (default admin:admin)", "USER:PASS")
        .optopt("f", "users-file", "load users from FILE and save MGMT changes to it", "FILE")
        .optflag("", "case-sensitive-users", "match user names exactly (default: lower-cased, as Dovecot's %Lu)")
        .optopt("t", "idle-timeout", "seconds idle after login before autologout, and the longest a reply waits on a client that does not read (default 600)", "SECS")
        .optopt("", "login-timeout", "seconds from connecting a client has to log in, whatever -t is (default 60)", "SECS")
        .optopt("", "auth-failure-delay", "seconds to wait before answering a failed login (default 2)", "SECS")
        .optopt("", "max-auth-failures", "failed logins before the connection is closed (default 3)", "N")
        .optopt("", "max-bad-commands-before-login", "bad commands before login, then close (default 3)", "N")
        .optopt("", "max-bad-commands", "bad commands after login, then close (default 20)", "N")
        .optopt("", "max-per-ip", "most connections from one client address, 0 for no cap (default 10)", "N")
        .optflag("", "limit-loopback", "hold loopback clients to --max-per-ip too (default: exempt)")
        .optopt("", "tls-cert", "PEM certificate chain; turns on STLS", "FILE")
        .optopt("", "tls-key", "PEM private key for --tls-cert", "FILE")
        .optopt("", "tls-port", "also serve implicit TLS (POP3S, usually 995) on PORT", "PORT")
        .optopt("", "mgmt-login-timeout", "seconds from connecting an MGMT client has to log in (default 30)", "SECS")
        .optflag("", "mgmt-tls", "MGMT speaks implicit TLS with --tls-cert (for admin_monitor --tls)")
        .optflag("", "allow-plaintext-auth", "allow cleartext logins from any address")
        .optflag("", "require-tls-on-loopback", "refuse cleartext logins from loopback too")
        .optopt("", "uidl-format", "Dovecot's pop3_uidl_format, e.g. %08Xu%08Xv (default %f: the file name)", "FORMAT")
        .optopt("", "mail-location", "Dovecot's mail_location, e.g. maildir:/var/vmail/%d/%n or maildir:~/Maildir (%u %n %d %h; instead of -d)", "TEMPLATE")
        .optopt("", "password-scheme", "store new passwords as SHA512-CRYPT (default), SHA256-CRYPT, BLF-CRYPT, ARGON2ID, SSHA512 or PLAIN", "SCHEME")
        .optopt("l", "log-level", "off, error, warn, info (default), debug or trace", "LEVEL")
        .optflag("", "hash-password", "read a password on stdin, print its hash (in --password-scheme) and exit")
        .optopt("", "haproxy-trusted-networks", "load balancers whose connections start with a PROXY protocol header naming the client (comma-separated, e.g. 10.0.0.0/8,::1)", "CIDR[,CIDR...]")
        .optopt("", "lock-stale-seconds", "a maildrop lock of another host is broken once its heartbeat is this old (default 300)", "SECS")
        .optopt("", "metrics-addr", "serve Prometheus metrics on http://IP:PORT/metrics (default: off)", "IP:PORT")
        .optopt("", "config", "read settings from FILE: 'key = value' lines, keys being these long options", "FILE")
        .optopt("", "listen", "the address to listen on, in place of <ip>", "IP")
        .optopt("", "port", "the POP3 port, in place of <port>", "PORT")
        .optopt("", "admin-user", "the management account's name, with --admin-password-file (default admin)", "NAME")
        .optopt("", "admin-password-file", "read the management password from FILE's first line, in place of -a", "FILE")
        .optopt("", "run-as", "after binding and reading the TLS key as root, switch to this user for good", "USER")
        .optopt("", "run-as-group", "with --run-as: this group in place of the user's own", "GROUP")
        .optflag("h", "help", "print this help and exit")
        .optflag("V", "version", "print the version and exit");
    options
}

/// The usage text printed by `--help` and after every error.
pub fn usage(program: &str) -> String {
    let brief = format!(
        "Usage: {program} <ip> <port> [options] -u <user>:<pass> [<user>:<pass> ...]\n       {program} --config FILE [options]"
    );
    options().usage(&brief)
}

/// Parses the arguments after the program name.
pub fn parse<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<ServerInvocation, ConfigError> {
    parse_with_env(args, std::env::var(RETR_BUFFER_ENV).ok())
}

fn parse_with_env<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    retr_env: Option<String>,
) -> Result<ServerInvocation, ConfigError> {
    parse_with(args, retr_env, &|path| std::fs::read_to_string(path))
}

/// How files named by options are read; the unit tests give their own.
type ReadFile<'a> = &'a dyn Fn(&Path) -> io::Result<String>;

fn parse_with<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    retr_env: Option<String>,
    read: ReadFile<'_>,
) -> Result<ServerInvocation, ConfigError> {
    let matches = options().parse(args).map_err(|error| ConfigError::Flags(error.to_string()))?;
    if matches.opt_present("help") {
        return Ok(ServerInvocation::Help);
    }
    if matches.opt_present("version") {
        return Ok(ServerInvocation::Version);
    }
    if matches.opt_present("hash-password") {
        return Ok(ServerInvocation::HashPassword(password_scheme(&matches)?));
    }
    // getopts has read every argument as UTF-8 already.
    let command_line: Vec<String> = args.iter().map(|arg| arg.as_ref().to_string_lossy().into_owned()).collect();
    let config_file = matches.opt_str("config").map(PathBuf::from);
    let mut config = match &config_file {
        None => from_matches(&matches, retr_env, read)?,
        Some(path) => {
            let merged = with_config_file(path, &command_line, &matches, read)?;
            let matches = options().parse(&merged).map_err(|error| ConfigError::Flags(error.to_string()))?;
            from_matches(&matches, retr_env, read)?
        }
    };
    config.config_file = config_file;
    config.reload_args = ReloadArgs(command_line);
    Ok(ServerInvocation::Run(Box::new(config)))
}

/// Options that set one thing between them: any of a group given on the
/// command line replaces all of the group from the file.
const SAME_SETTING: &[&[&str]] = &[&["admin", "admin-user", "admin-password-file"]];

/// The file's settings as option arguments, then the command line, minus
/// the file's settings the command line gives too.
fn with_config_file(
    path: &Path,
    command_line: &[String],
    matches: &getopts::Matches,
    read: ReadFile<'_>,
) -> Result<Vec<String>, ConfigError> {
    let text =
        read(path).map_err(|error| ConfigError::Unreadable { path: path.to_owned(), error: error.to_string() })?;
    let in_file = |line, reason: String| ConfigError::InFile { path: path.to_owned(), line, reason };
    let entries = file::parse(&text).map_err(|error| in_file(error.line, error.kind.to_string()))?;
    let table = options();
    let on_command_line = |key: &str| {
        let group = SAME_SETTING.iter().find(|group| group.contains(&key)).copied().unwrap_or(&[]);
        matches.opt_present(key)
            || group.iter().any(|other| matches.opt_present(other))
            || (["listen", "port"].contains(&key) && starts_with_address(&matches.free))
    };
    let mut merged = Vec::with_capacity(entries.len() + command_line.len());
    for entry in &entries {
        let argument = file::to_argument(entry, &table).map_err(|error| in_file(error.line, error.kind.to_string()))?;
        let Some(argument) = argument else { continue };
        // Checked alone, so that a bad value is reported with its line.
        check_alone(&entry.key, &argument, read).map_err(|error| in_file(entry.line, error.to_string()))?;
        if !on_command_line(&entry.key) {
            merged.push(argument);
        }
    }
    merged.extend(command_line.iter().cloned());
    Ok(merged)
}

/// Validates one option argument as if it were the only option; errors
/// that need a second option (`--tls-port` without `--tls-cert`) are left
/// for the whole configuration.
fn check_alone(key: &str, argument: &str, read: ReadFile<'_>) -> Result<(), ConfigError> {
    let mut args = vec![argument.to_owned()];
    for (name, placeholder) in [("listen", "--listen=127.0.0.1"), ("port", "--port=0")] {
        if key != name {
            args.push(placeholder.to_owned());
        }
    }
    let matches = options().parse(&args).map_err(|error| ConfigError::Flags(error.to_string()))?;
    match from_matches(&matches, None, read) {
        Ok(_) | Err(ConfigError::Needs { .. } | ConfigError::Conflict(..)) => Ok(()),
        Err(error) => Err(error),
    }
}

/// True when the free arguments begin with `<ip> <port>`, which then win
/// over `--listen`/`--port`. A port is never a `user:pass` entry, so extra
/// users cannot be mistaken for one.
fn starts_with_address(free: &[String]) -> bool {
    free.len() >= 2 && listen_addrs(&free[0]).is_ok() && free[1].parse::<u16>().is_ok()
}

/// Checks and gathers every setting of one (merged) argument list.
fn from_matches(
    matches: &getopts::Matches,
    retr_env: Option<String>,
    read: ReadFile<'_>,
) -> Result<Config, ConfigError> {
    let from_options =
        (matches.opt_present("listen") || matches.opt_present("port")) && !starts_with_address(&matches.free);
    let (ip, port, extra_users) = if from_options {
        let ip = matches.opt_str("listen").ok_or(ConfigError::MissingAddress)?;
        (ip, matches.opt_str("port").ok_or(ConfigError::MissingPort)?, &matches.free[..])
    } else {
        let ip = matches.free.first().ok_or(ConfigError::MissingAddress)?;
        let port = matches.free.get(1).ok_or(ConfigError::MissingPort)?;
        (ip.clone(), port.clone(), &matches.free[2..])
    };
    let port: u16 = port.parse().map_err(|_| ConfigError::BadPort(port.clone()))?;
    let listen_ips = listen_addrs(&ip)?;
    let pop3_addrs = listen_ips.iter().map(|&ip| SocketAddr::new(ip, port)).collect();

    // Users may follow one `-u` as plain arguments: `-u a:x b:y`.
    if let (false, Some(first)) = (matches.opt_present("user"), extra_users.first()) {
        return Err(ConfigError::UnexpectedArgument(first.clone()));
    }
    let mut users = Vec::new();
    for entry in matches.opt_strs("user").iter().chain(extra_users) {
        let credentials = parse_credentials(entry)?;
        if users.iter().any(|u: &Credentials| u.name == credentials.name) {
            return Err(ConfigError::DuplicateUser(credentials.name.to_string()));
        }
        users.push(credentials);
    }

    let (admin, admin_is_default) = admin_credentials(matches, read)?;
    let run_as = matches.opt_str("run-as");
    let run_as_group = matches.opt_str("run-as-group");
    if run_as_group.is_some() && run_as.is_none() {
        return Err(ConfigError::Needs { flag: "--run-as-group", needs: "--run-as" });
    }

    let mgmt_ip = match matches.opt_str("mgmt-addr") {
        Some(value) => parse_ip(&value)?,
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let mgmt_port = match matches.opt_str("mgmt-port") {
        Some(value) => value.parse().map_err(|_| ConfigError::BadPort(value))?,
        None => DEFAULT_MGMT_PORT,
    };
    let retr_buffer = match retr_env {
        Some(value) => match value.parse() {
            Ok(size) if (1..=1 << 20).contains(&size) => size,
            _ => return Err(ConfigError::BadEnv { name: RETR_BUFFER_ENV, value }),
        },
        None => DEFAULT_RETR_BUFFER,
    };
    let log_level = match matches.opt_str("log-level") {
        Some(value) => value.parse().map_err(|_| ConfigError::BadLogLevel(value))?,
        None => LevelFilter::Info,
    };

    let tls = match (matches.opt_str("tls-cert"), matches.opt_str("tls-key")) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.into(), key: key.into() }),
        (None, None) => None,
        (Some(_), None) => return Err(ConfigError::Needs { flag: "--tls-cert", needs: "--tls-key" }),
        (None, Some(_)) => return Err(ConfigError::Needs { flag: "--tls-key", needs: "--tls-cert" }),
    };
    let pop3s_addrs = match matches.opt_str("tls-port") {
        None => Vec::new(),
        Some(_) if tls.is_none() => {
            return Err(ConfigError::Needs { flag: "--tls-port", needs: "--tls-cert and --tls-key" })
        }
        Some(value) => {
            let tls_port: u16 = value.parse().map_err(|_| ConfigError::BadPort(value))?;
            listen_ips.iter().map(|&ip| SocketAddr::new(ip, tls_port)).collect()
        }
    };
    let mgmt_tls = matches.opt_present("mgmt-tls");
    if mgmt_tls && tls.is_none() {
        return Err(ConfigError::Needs { flag: "--mgmt-tls", needs: "--tls-cert and --tls-key" });
    }
    let plaintext_auth =
        match (matches.opt_present("allow-plaintext-auth"), matches.opt_present("require-tls-on-loopback")) {
            (true, true) => return Err(ConfigError::Conflict("--allow-plaintext-auth", "--require-tls-on-loopback")),
            (true, false) => PlaintextAuth::Always,
            (false, true) => PlaintextAuth::Never,
            (false, false) => PlaintextAuth::LoopbackOnly,
        };

    let uidl_format = match matches.opt_str("uidl-format") {
        Some(value) => UidlFormat::parse(&value).map_err(|reason| ConfigError::BadUidlFormat { value, reason })?,
        None => UidlFormat::default(),
    };

    Ok(Config {
        pop3_addrs,
        mgmt_addr: SocketAddr::new(mgmt_ip, mgmt_port),
        mail_root: PathBuf::from(matches.opt_str("maildir").unwrap_or_else(|| DEFAULT_MAIL_ROOT.to_owned())),
        max_connections: number(matches, "max-connections", DEFAULT_MAX_CONNECTIONS as u64, 1, u32::MAX as u64)?
            as usize,
        max_users: number(matches, "max-users", DEFAULT_MAX_USERS as u64, 1, u32::MAX as u64)? as usize,
        admin,
        admin_is_default,
        users,
        users_file: matches.opt_str("users-file").map(PathBuf::from),
        user_name_case: if matches.opt_present("case-sensitive-users") {
            UserNameCase::Sensitive
        } else {
            UserNameCase::Insensitive
        },
        limits: session_limits(matches)?,
        max_per_address: number(matches, "max-per-ip", DEFAULT_MAX_PER_ADDRESS as u64, 0, u32::MAX as u64)? as usize,
        limit_loopback: matches.opt_present("limit-loopback"),
        log_level,
        retr_buffer,
        tls,
        pop3s_addrs,
        plaintext_auth,
        mgmt_tls,
        mgmt_login_timeout: Duration::from_secs(number(
            matches,
            "mgmt-login-timeout",
            crate::mgmt::LOGIN_TIMEOUT.as_secs(),
            1,
            3600,
        )?),
        uidl_format,
        mail_location: mail_location(matches)?,
        password_scheme: password_scheme(matches)?,
        haproxy_trusted_networks: trusted_networks(matches)?,
        lock_stale_after: Duration::from_secs(number(
            matches,
            "lock-stale-seconds",
            DEFAULT_LOCK_STALE_SECS,
            1,
            86_400,
        )?),
        metrics_addr: metrics_addr(matches)?,
        run_as,
        run_as_group,
        config_file: None,
        reload_args: ReloadArgs::default(),
    })
}

/// The admin from `-a USER:PASS`, or from `--admin-user` and the first
/// line of `--admin-password-file`, or admin:admin; and whether it is that
/// default.
fn admin_credentials(matches: &getopts::Matches, read: ReadFile<'_>) -> Result<(Credentials, bool), ConfigError> {
    let name = matches.opt_str("admin-user");
    match (matches.opt_str("admin"), matches.opt_str("admin-password-file")) {
        (Some(_), Some(_)) => Err(ConfigError::Conflict("--admin", "--admin-password-file")),
        (Some(_), None) if name.is_some() => Err(ConfigError::Conflict("--admin", "--admin-user")),
        (Some(entry), None) => Ok((parse_credentials(&entry)?, false)),
        (None, Some(path)) => {
            let password = read_secret(Path::new(&path), read)?;
            let name = name.as_deref().unwrap_or(DEFAULT_ADMIN_USER);
            Ok((parse_credentials(&format!("{name}:{password}"))?, false))
        }
        (None, None) if name.is_some() => {
            Err(ConfigError::Needs { flag: "--admin-user", needs: "--admin-password-file" })
        }
        (None, None) => Ok((parse_credentials(DEFAULT_ADMIN)?, true)),
    }
}

/// A secret file's first line, without its line end.
fn read_secret(path: &Path, read: ReadFile<'_>) -> Result<String, ConfigError> {
    let text =
        read(path).map_err(|error| ConfigError::Unreadable { path: path.to_owned(), error: error.to_string() })?;
    Ok(secret_of(&text).to_owned())
}

/// The secret a password file holds: its first line, without `\n` or
/// `\r\n`, so that `echo pw > file` and an editor's file both work. Also
/// what `admin_monitor --password-file` reads.
pub fn secret_of(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// `--password-scheme SCHEME`, SHA512-CRYPT without it.
fn password_scheme(matches: &getopts::Matches) -> Result<PasswordScheme, ConfigError> {
    match matches.opt_str("password-scheme") {
        Some(value) => PasswordScheme::parse(&value).map_err(|reason| ConfigError::BadPasswordScheme { value, reason }),
        None => Ok(PasswordScheme::default()),
    }
}

/// `--mail-location TEMPLATE`, or `-d DIR` as `DIR/%u`; not both.
fn mail_location(matches: &getopts::Matches) -> Result<MailLocation, ConfigError> {
    match (matches.opt_str("mail-location"), matches.opt_str("maildir")) {
        (Some(_), Some(_)) => Err(ConfigError::Conflict("--mail-location", "-d/--maildir")),
        (Some(value), None) => {
            MailLocation::parse(&value).map_err(|reason| ConfigError::BadMailLocation { value, reason })
        }
        (None, dir) => Ok(MailLocation::under(Path::new(dir.as_deref().unwrap_or(DEFAULT_MAIL_ROOT)))),
    }
}

/// `--metrics-addr IP:PORT`, an IPv6 address in brackets.
fn metrics_addr(matches: &getopts::Matches) -> Result<Option<SocketAddr>, ConfigError> {
    matches
        .opt_str("metrics-addr")
        .map(|value| value.parse().map_err(|_| ConfigError::BadMetricsAddr(value)))
        .transpose()
}

fn session_limits(matches: &getopts::Matches) -> Result<SessionLimits, ConfigError> {
    let defaults = SessionLimits::default();
    let count = |flag, default: u32| number(matches, flag, u64::from(default), 1, 1_000_000).map(|n| n as u32);
    let auth_failure_delay = match matches.opt_str("auth-failure-delay") {
        None => defaults.auth_failure_delay,
        Some(value) => match value.parse::<f64>() {
            Ok(seconds) if (0.0..=60.0).contains(&seconds) => Duration::from_secs_f64(seconds),
            _ => return Err(ConfigError::BadSeconds { flag: "--auth-failure-delay", value }),
        },
    };
    Ok(SessionLimits {
        idle_timeout: Duration::from_secs(number(matches, "idle-timeout", DEFAULT_IDLE_TIMEOUT_SECS, 1, 86_400)?),
        login_timeout: Duration::from_secs(number(
            matches,
            "login-timeout",
            defaults.login_timeout.as_secs(),
            1,
            86_400,
        )?),
        auth_failure_delay,
        max_auth_failures: count("max-auth-failures", defaults.max_auth_failures)?,
        max_bad_commands_before_login: count("max-bad-commands-before-login", defaults.max_bad_commands_before_login)?,
        max_bad_commands_after_login: count("max-bad-commands", defaults.max_bad_commands_after_login)?,
    })
}

/// `--haproxy-trusted-networks`, empty when not given.
fn trusted_networks(matches: &getopts::Matches) -> Result<Vec<Cidr>, ConfigError> {
    matches
        .opt_str("haproxy-trusted-networks")
        .map_or(Ok(Vec::new()), |list| cidr::parse_list(&list).map_err(ConfigError::BadTrustedNetworks))
}

/// `localhost` listens on both loopbacks; anything else is one literal.
fn listen_addrs(value: &str) -> Result<Vec<IpAddr>, ConfigError> {
    if value.eq_ignore_ascii_case("localhost") {
        return Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    }
    Ok(vec![parse_ip(value)?])
}

fn parse_ip(value: &str) -> Result<IpAddr, ConfigError> {
    let bare = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')).unwrap_or(value);
    bare.parse().map_err(|_| ConfigError::BadAddress(value.to_owned()))
}

fn parse_credentials(entry: &str) -> Result<Credentials, ConfigError> {
    Credentials::parse(entry).map_err(|reason| ConfigError::BadUser { entry: entry.to_owned(), reason })
}

fn number(
    matches: &getopts::Matches,
    flag: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(value) = matches.opt_str(flag) else {
        return Ok(default);
    };
    let parsed: u64 = value.parse().map_err(|_| ConfigError::BadNumber { flag: flag_name(flag), value })?;
    if !(min..=max).contains(&parsed) {
        return Err(ConfigError::OutOfRange { flag: flag_name(flag), min, max });
    }
    Ok(parsed)
}

/// The flag as the user typed it, for error messages.
fn flag_name(flag: &'static str) -> &'static str {
    match flag {
        "max-connections" => "--max-connections",
        "max-users" => "--max-users",
        "idle-timeout" => "--idle-timeout",
        "login-timeout" => "--login-timeout",
        "max-auth-failures" => "--max-auth-failures",
        "max-bad-commands-before-login" => "--max-bad-commands-before-login",
        "max-bad-commands" => "--max-bad-commands",
        "max-per-ip" => "--max-per-ip",
        "mgmt-login-timeout" => "--mgmt-login-timeout",
        "lock-stale-seconds" => "--lock-stale-seconds",
        _ => flag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, ConfigError> {
        match parse_with_env(args, None)? {
            ServerInvocation::Run(config) => Ok(*config),
            other => panic!("expected a configuration, got {other:?}"),
        }
    }

    #[test]
    fn trusted_networks_and_the_lock_stale_time() {
        let config = run(&["127.0.0.1", "110"]).unwrap();
        assert!(config.haproxy_trusted_networks.is_empty());
        assert_eq!(config.lock_stale_after, Duration::from_secs(300));
        let config =
            run(&["127.0.0.1", "110", "--haproxy-trusted-networks", "10.0.0.0/8, ::1", "--lock-stale-seconds", "3"])
                .unwrap();
        assert_eq!(config.haproxy_trusted_networks.len(), 2);
        assert!(config.haproxy_trusted_networks[0].contains("10.9.8.7".parse().unwrap()));
        assert_eq!(config.lock_stale_after, Duration::from_secs(3));
        let error = run(&["127.0.0.1", "110", "--haproxy-trusted-networks", "10.0.0.0/40"]).unwrap_err();
        assert_eq!(error.to_string(), "--haproxy-trusted-networks: '10.0.0.0/40': the prefix length must be 0 to 32");
        let error = run(&["127.0.0.1", "110", "--lock-stale-seconds", "0"]).unwrap_err();
        assert_eq!(error.to_string(), "--lock-stale-seconds must be between 1 and 86400");
    }

    #[test]
    fn the_documented_command_line_works() {
        let config = run(&["127.0.0.1", "1110", "-u", "alice:pw", "bob:p:w"]).unwrap();
        assert_eq!(config.pop3_addrs, vec!["127.0.0.1:1110".parse().unwrap()]);
        let names: Vec<_> = config.users.iter().map(|u| u.name.to_string()).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert!(config.users[1].password.matches("p:w"));
        assert_eq!(config.mgmt_addr, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(config.max_connections, 500);
        assert_eq!(config.limits, SessionLimits::default());
        assert_eq!(config.max_per_address, 10);
        assert!(!config.limit_loopback);
        assert!(config.admin_is_default);
    }

    #[test]
    fn localhost_means_both_loopbacks_and_ipv6_literals_work() {
        let config = run(&["localhost", "110", "-u", "a:b"]).unwrap();
        assert_eq!(config.pop3_addrs.len(), 2);
        let config = run(&["::1", "110", "-u", "a:b", "--mgmt-addr", "::1"]).unwrap();
        assert_eq!(config.pop3_addrs, vec!["[::1]:110".parse().unwrap()]);
        assert_eq!(config.mgmt_addr, "[::1]:6000".parse().unwrap());
    }

    #[test]
    fn metrics_are_off_unless_an_address_is_given() {
        assert_eq!(run(&["127.0.0.1", "110"]).unwrap().metrics_addr, None);
        let config = run(&["127.0.0.1", "110", "--metrics-addr", "[::1]:9110"]).unwrap();
        assert_eq!(config.metrics_addr, Some("[::1]:9110".parse().unwrap()));
        for bad in ["127.0.0.1", "localhost:9110", "::1:9110", "127.0.0.1:99999"] {
            let error = run(&["127.0.0.1", "110", "--metrics-addr", bad]).unwrap_err();
            assert_eq!(error, ConfigError::BadMetricsAddr(bad.to_owned()));
        }
    }

    #[test]
    fn options_are_read() {
        let config = run(&[
            "0.0.0.0",
            "0",
            "-d",
            "/var/mail",
            "-c",
            "10000",
            "-t",
            "30",
            "-l",
            "debug",
            "-a",
            "root:s3cret",
            "--mgmt-port",
            "7000",
            "-u",
            "a:b",
        ])
        .unwrap();
        assert_eq!(config.mail_root, PathBuf::from("/var/mail"));
        assert_eq!(config.max_connections, 10000);
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(30));
        assert_eq!(config.log_level, LevelFilter::Debug);
        assert_eq!(config.admin.name.as_str(), "root");
        assert!(!config.admin_is_default);
        assert_eq!(config.mgmt_addr.port(), 7000);
    }

    #[test]
    fn abuse_limits_are_configurable() {
        let config = run(&[
            "127.0.0.1",
            "110",
            "--login-timeout",
            "5",
            "--auth-failure-delay",
            "0.5",
            "--max-auth-failures",
            "1",
            "--max-bad-commands-before-login",
            "2",
            "--max-bad-commands",
            "9",
            "--max-per-ip",
            "0",
            "--limit-loopback",
        ])
        .unwrap();
        assert_eq!(config.limits.login_timeout, Duration::from_secs(5));
        assert_eq!(config.limits.auth_failure_delay, Duration::from_millis(500));
        assert_eq!(config.limits.max_auth_failures, 1);
        assert_eq!(config.limits.max_bad_commands_before_login, 2);
        assert_eq!(config.limits.max_bad_commands_after_login, 9);
        assert_eq!(config.max_per_address, 0);
        assert!(config.limit_loopback);
        assert!(matches!(
            run(&["127.0.0.1", "110", "--auth-failure-delay", "-1"]),
            Err(ConfigError::BadSeconds { .. })
        ));
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        let cases: &[(&[&str], ConfigError)] = &[
            (&[], ConfigError::MissingAddress),
            (&["127.0.0.1"], ConfigError::MissingPort),
            (&["nowhere", "110"], ConfigError::BadAddress("nowhere".into())),
            (&["127.0.0.1", "70000"], ConfigError::BadPort("70000".into())),
            (&["127.0.0.1", "110", "alice:pw"], ConfigError::UnexpectedArgument("alice:pw".into())),
            (&["127.0.0.1", "110", "-u", "a:b", "a:c"], ConfigError::DuplicateUser("a".into())),
            (
                &["127.0.0.1", "110", "-c", "0"],
                ConfigError::OutOfRange { flag: "--max-connections", min: 1, max: u32::MAX as u64 },
            ),
            (&["127.0.0.1", "110", "-c", "x"], ConfigError::BadNumber { flag: "--max-connections", value: "x".into() }),
            (&["127.0.0.1", "110", "-l", "loud"], ConfigError::BadLogLevel("loud".into())),
        ];
        for (args, expected) in cases {
            assert_eq!(run(args).unwrap_err(), *expected, "{args:?}");
        }
        assert!(matches!(run(&["127.0.0.1", "110", "-u", "../etc:x"]), Err(ConfigError::BadUser { .. })));
        assert!(matches!(run(&["127.0.0.1", "110", "--bogus"]), Err(ConfigError::Flags(_))));
    }

    #[test]
    fn user_errors_never_show_the_password() {
        let error = run(&["127.0.0.1", "110", "-u", "bad/name:topsecret"]).unwrap_err();
        assert!(!error.to_string().contains("topsecret"), "{error}");
    }

    #[test]
    fn tls_options_come_in_pairs() {
        let config = run(&["::", "110", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-port", "995"]).unwrap();
        assert_eq!(config.tls, Some(TlsFiles { cert: "c.pem".into(), key: "k.pem".into() }));
        assert_eq!(config.pop3s_addrs, vec!["[::]:995".parse().unwrap()]);
        assert_eq!(config.plaintext_auth, PlaintextAuth::LoopbackOnly);
        assert_eq!(
            run(&["::", "110", "--tls-cert", "c.pem"]).unwrap_err(),
            ConfigError::Needs { flag: "--tls-cert", needs: "--tls-key" }
        );
        assert!(matches!(run(&["::", "110", "--tls-port", "995"]), Err(ConfigError::Needs { .. })));
        assert!(matches!(
            run(&["::", "110", "--allow-plaintext-auth", "--require-tls-on-loopback"]),
            Err(ConfigError::Conflict(..))
        ));
        assert_eq!(run(&["::", "110", "--allow-plaintext-auth"]).unwrap().plaintext_auth, PlaintextAuth::Always);
    }

    #[test]
    fn mgmt_tls_needs_the_certificate() {
        assert!(!run(&["::", "110"]).unwrap().mgmt_tls);
        assert_eq!(run(&["::", "110"]).unwrap().mgmt_login_timeout, Duration::from_secs(30));
        assert_eq!(
            run(&["::", "110", "--mgmt-login-timeout", "2"]).unwrap().mgmt_login_timeout,
            Duration::from_secs(2)
        );
        assert_eq!(
            run(&["::", "110", "--mgmt-login-timeout", "0"]).unwrap_err(),
            ConfigError::OutOfRange { flag: "--mgmt-login-timeout", min: 1, max: 3600 }
        );
        assert!(run(&["::", "110", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--mgmt-tls"]).unwrap().mgmt_tls);
        assert_eq!(
            run(&["::", "110", "--mgmt-tls"]).unwrap_err(),
            ConfigError::Needs { flag: "--mgmt-tls", needs: "--tls-cert and --tls-key" }
        );
    }

    #[test]
    fn the_uidl_format_is_checked_at_start() {
        assert_eq!(run(&["::", "110"]).unwrap().uidl_format, UidlFormat::default());
        let config = run(&["::", "110", "--uidl-format", "%08Xu%08Xv"]).unwrap();
        assert!(config.uidl_format.needs_uidlist());
        let error = run(&["::", "110", "--uidl-format", "%08Xm"]).unwrap_err();
        assert!(matches!(error, ConfigError::BadUidlFormat { .. }));
        assert!(error.to_string().starts_with("--uidl-format: '%08Xm': "), "{error}");
    }

    /// Parses `args` with `files` standing in for the disk.
    fn run_with_files(args: &[&str], files: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let read = |path: &Path| {
            let found = files.iter().find(|(name, _)| Path::new(name) == path);
            found.map(|(_, text)| text.to_string()).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        };
        match parse_with(args, None, &read)? {
            ServerInvocation::Run(config) => Ok(*config),
            other => panic!("expected a configuration, got {other:?}"),
        }
    }

    const FILE: &str = "# pop3d\nlisten = 127.0.0.2\nport = 1110\nmax-connections = 7\nlimit-loopback = yes\n\
        allow-plaintext-auth = no\nadmin-user = root\nadmin-password-file = /pw\n";

    #[test]
    fn a_config_file_sets_long_options() {
        let config = run_with_files(&["--config", "/c"], &[("/c", FILE), ("/pw", "s3cret\r\nignored\n")]).unwrap();
        assert_eq!(config.pop3_addrs, vec!["127.0.0.2:1110".parse().unwrap()]);
        assert_eq!(config.max_connections, 7);
        assert!(config.limit_loopback);
        assert_eq!(config.plaintext_auth, PlaintextAuth::LoopbackOnly);
        assert_eq!(config.admin.name.as_str(), "root");
        assert!(config.admin.password.matches("s3cret"));
        assert!(!config.admin_is_default);
        assert_eq!(config.config_file, Some(PathBuf::from("/c")));
        assert_eq!(config.reload_args.0, ["--config", "/c"]);
    }

    #[test]
    fn the_command_line_wins_over_the_file() {
        let files = [("/c", FILE), ("/pw", "s3cret")];
        let args = ["127.0.0.1", "2110", "--config", "/c", "-c", "9", "-a", "boss:pw", "-u", "a:b", "c:d"];
        let config = run_with_files(&args, &files).unwrap();
        assert_eq!(config.pop3_addrs, vec!["127.0.0.1:2110".parse().unwrap()]);
        assert_eq!(config.max_connections, 9);
        assert_eq!(config.admin.name.as_str(), "boss");
        assert_eq!(config.users.len(), 2);
        let config = run_with_files(&["--config", "/c", "-u", "a:b", "c:d", "--port", "3110"], &files).unwrap();
        assert_eq!(config.pop3_addrs, vec!["127.0.0.2:3110".parse().unwrap()]);
        assert_eq!(config.users.len(), 2);
    }

    #[test]
    fn config_file_errors_name_the_file_and_line() {
        let error = |text: &str| run_with_files(&["--config", "/c"], &[("/c", text)]).unwrap_err().to_string();
        assert_eq!(error("listen = ::1\n\nfoo = 1\n"), "/c:3: unknown key 'foo'");
        assert_eq!(error("max-connections = lots"), "/c:1: --max-connections: 'lots' is not a whole number");
        assert_eq!(error("port = 99999"), "/c:1: '99999' is not a port number (0-65535)");
        assert_eq!(error("mgmt-tls = perhaps"), "/c:1: 'mgmt-tls': 'perhaps' is not yes, no, true or false");
        assert_eq!(error("config = /other"), "/c:1: 'config' can only be given on the command line");
        assert_eq!(error("admin-password-file = /missing"), "/c:1: cannot read /missing: entity not found");
        assert_eq!(error("listen = ::1\n# port missing\n"), "missing <port>: the POP3 port to listen on");
        let missing = run_with_files(&["--config", "/none"], &[]).unwrap_err();
        assert_eq!(missing.to_string(), "cannot read /none: entity not found");
        assert!(!missing.shows_usage());
    }

    #[test]
    fn the_admin_comes_from_one_place() {
        let files = [("/pw", "pw\n")];
        let config = run_with_files(&["::", "110", "--admin-password-file", "/pw"], &files).unwrap();
        assert_eq!(config.admin.name.as_str(), DEFAULT_ADMIN_USER);
        assert!(config.admin.password.matches("pw"));
        assert_eq!(
            run_with_files(&["::", "110", "--admin-user", "x"], &files).unwrap_err(),
            ConfigError::Needs { flag: "--admin-user", needs: "--admin-password-file" }
        );
        assert_eq!(
            run_with_files(&["::", "110", "-a", "x:y", "--admin-password-file", "/pw"], &files).unwrap_err(),
            ConfigError::Conflict("--admin", "--admin-password-file")
        );
    }

    #[test]
    fn run_as_group_needs_run_as() {
        let config = run(&["::", "110", "--run-as", "vmail", "--run-as-group", "mail"]).unwrap();
        assert_eq!((config.run_as.as_deref(), config.run_as_group.as_deref()), (Some("vmail"), Some("mail")));
        assert_eq!(
            run(&["::", "110", "--run-as-group", "mail"]).unwrap_err(),
            ConfigError::Needs { flag: "--run-as-group", needs: "--run-as" }
        );
    }

    #[test]
    fn the_mail_location_is_checked_at_start_and_excludes_dash_d() {
        let user = crate::accounts::users::UserName::parse("a@b").unwrap();
        let default = run(&["::", "110"]).unwrap().mail_location;
        assert_eq!(default.expand(&user, None), Ok(PathBuf::from("./mail/a@b")));
        let dash_d = run(&["::", "110", "-d", "/m"]).unwrap().mail_location;
        assert_eq!(dash_d.expand(&user, None), Ok(PathBuf::from("/m/a@b")));
        let location = run(&["::", "110", "--mail-location", "maildir:/v/%d/%n"]).unwrap().mail_location;
        assert_eq!(location.expand(&user, None), Ok(PathBuf::from("/v/b/a")));
        assert_eq!(
            run(&["::", "110", "-d", "/m", "--mail-location", "/v/%u"]).unwrap_err(),
            ConfigError::Conflict("--mail-location", "-d/--maildir")
        );
        let error = run(&["::", "110", "--mail-location", "mbox:~/mail"]).unwrap_err();
        assert_eq!(error.to_string(), "--mail-location: 'mbox:~/mail': pop3d serves Maildirs only, not mbox:");
    }

    #[test]
    fn the_password_scheme_is_checked_at_start() {
        assert_eq!(run(&["::", "110"]).unwrap().password_scheme, PasswordScheme::Sha512Crypt);
        assert_eq!(
            run(&["::", "110", "--password-scheme", "blf-crypt"]).unwrap().password_scheme,
            PasswordScheme::BlfCrypt
        );
        let error = run(&["::", "110", "--password-scheme", "MD5"]).unwrap_err();
        assert!(
            error.to_string().starts_with("--password-scheme: 'MD5': new passwords can be stored as SHA512-CRYPT, "),
            "{error}"
        );
        assert!(matches!(
            parse_with_env(&["--hash-password", "--password-scheme", "ARGON2ID"], None),
            Ok(ServerInvocation::HashPassword(PasswordScheme::Argon2id))
        ));
    }

    #[test]
    fn help_and_version_win() {
        assert!(matches!(parse_with_env(&["-h"], None), Ok(ServerInvocation::Help)));
        assert!(matches!(parse_with_env(&["--version"], None), Ok(ServerInvocation::Version)));
    }
}
