//! One MGMT connection: the AUTH phase, then the ACTIVE phase, on the
//! admin's own thread.
//!
//! [`serve`] is the only MGMT code that touches the socket: it runs the TLS
//! handshake first under `--mgmt-tls` (implicit TLS: not one cleartext
//! byte, not even the greeting), frames lines with
//! [`crate::wire::line`] and flushes after every reply (admin traffic
//! is tiny, and TIMEOUT and the login delay block, so nothing may wait in
//! the buffer). [`MgmtSession`] turns each line into replies written
//! with [`crate::wire::reply`]; it can be driven by any `Write`.
//!
//! Blocking here is deliberate and harmless to everyone else: the login
//! delay and TIMEOUT sleep on this admin's thread only, and no lock is held
//! while sleeping or writing.

use std::fmt;
use std::io::{self, BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use super::command::{self, Command, CommandError, Verb};
use super::Context;
use crate::accounts::password::StoredPassword;
use crate::accounts::users::UserTableError;
use crate::net;
use crate::net::transport::Transport;
use crate::shared::connections::ConnectionPermit;
use crate::shared::pause::PauseGate;
use crate::wire::line::{read_line, LineRead, MAX_LINE_OCTETS};
use crate::wire::reply::{self, Failure};

/// The greeting; `MGMT/<major>.<minor>` is what clients check.
pub const GREETING: &str = "Management server ready MGMT/1.0";

/// The protocol version this server speaks, as in [`GREETING`].
pub const PROTOCOL_VERSION: (u32, u32) = (1, 0);

/// After this many failed logins the connection is closed.
pub const MAX_LOGIN_FAILURES: u32 = 3;

/// A forgotten admin connection must not hold a session slot forever.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a `--mgmt-tls` client has for its TLS handshake: far less than
/// IDLE_TIMEOUT, so connections that never start one (a cleartext client
/// waiting for a greeting) cannot hold the few admin slots for long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// `TIMEOUT s` accepts 1 up to this many seconds.
pub const MAX_PAUSE_SECS: u64 = 3600;

/// The same bound `--max-users` has.
const MAX_USERS_LIMIT: u64 = u32::MAX as u64;

/// What the connection loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close,
}

/// Why a command was refused. `Display` is the text after `-ERR`.
#[derive(Debug)]
pub enum MgmtError {
    Command(CommandError),
    LineTooLong,
    NotAuthenticated,
    AlreadyAuthenticated,
    UserFirst,
    /// Wrong name or wrong password: deliberately the same reply.
    AuthenticationFailed,
    WrongPassword,
    Users(UserTableError),
    MaxConnectionsOutOfRange {
        hard_max: usize,
    },
    MaxUsersTooLarge,
    TimeoutOutOfRange,
    /// The change is live but the users file could not be rewritten.
    NotSaved(io::Error),
}

impl fmt::Display for MgmtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MgmtError::Command(error) => error.fmt(f),
            MgmtError::LineTooLong => write!(f, "LINE TOO LONG (OVER {MAX_LINE_OCTETS} OCTETS)"),
            MgmtError::NotAuthenticated => f.write_str("NOT AUTHENTICATED: USER AND PASS FIRST"),
            MgmtError::AlreadyAuthenticated => f.write_str("ALREADY AUTHENTICATED"),
            MgmtError::UserFirst => f.write_str("SEND USER FIRST"),
            MgmtError::AuthenticationFailed => f.write_str("AUTHENTICATION FAILED"),
            MgmtError::WrongPassword => f.write_str("OLD PASSWORD DOES NOT MATCH"),
            MgmtError::Users(error) => error.fmt(f),
            MgmtError::MaxConnectionsOutOfRange { hard_max } => {
                write!(f, "MAX CONNECTIONS MUST BE 1-{hard_max}")
            }
            MgmtError::MaxUsersTooLarge => write!(f, "MAX USERS MUST BE AT MOST {MAX_USERS_LIMIT}"),
            MgmtError::TimeoutOutOfRange => write!(f, "TIMEOUT MUST BE 1-{MAX_PAUSE_SECS} SECONDS"),
            MgmtError::NotSaved(error) => {
                write!(f, "CHANGE APPLIED BUT USERS FILE NOT SAVED: {error}")
            }
        }
    }
}

impl From<UserTableError> for MgmtError {
    fn from(error: UserTableError) -> Self {
        MgmtError::Users(error)
    }
}

/// A handler's way out: a refusal to report, or a broken connection.
enum Refusal {
    Failed(MgmtError),
    Io(io::Error),
}

impl From<MgmtError> for Refusal {
    fn from(error: MgmtError) -> Self {
        Refusal::Failed(error)
    }
}

impl From<io::Error> for Refusal {
    fn from(error: io::Error) -> Self {
        Refusal::Io(error)
    }
}

enum Phase {
    Auth {
        /// The name given by USER, waiting for PASS.
        user: Option<String>,
        failures: u32,
    },
    Active,
}

/// One admin's progress through the protocol.
pub struct MgmtSession<'a> {
    context: &'a Context,
    /// For log lines only.
    peer: String,
    phase: Phase,
}

impl<'a> MgmtSession<'a> {
    pub fn new(context: &'a Context, peer: String) -> Self {
        Self { context, peer, phase: Phase::Auth { user: None, failures: 0 } }
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self.phase, Phase::Active)
    }

    /// Answers one framed line (or the news that it was too long).
    ///
    /// # Errors
    /// Only I/O errors from `out`; every protocol problem becomes `-ERR`.
    pub fn handle(&mut self, read: &LineRead, line: &[u8], out: &mut impl Write) -> io::Result<Flow> {
        let result = match read {
            LineRead::Line => command::parse(line).map_err(MgmtError::Command).map_err(Refusal::from),
            _ => Err(Refusal::Failed(MgmtError::LineTooLong)),
        };
        let result = result.and_then(|command| self.execute(command, out));
        match result {
            Ok(flow) => Ok(flow),
            Err(Refusal::Io(error)) => Err(error),
            Err(Refusal::Failed(error)) => {
                Failure::new(error.to_string()).write_to(out)?;
                Ok(self.after_failure())
            }
        }
    }

    /// Closes the connection once too many logins have failed.
    fn after_failure(&self) -> Flow {
        match self.phase {
            Phase::Auth { failures, .. } if failures >= MAX_LOGIN_FAILURES => {
                log::warn!("MGMT {}: {failures} failed logins, closing", self.peer);
                Flow::Close
            }
            _ => Flow::Continue,
        }
    }

    fn execute(&mut self, command: Command, out: &mut impl Write) -> Result<Flow, Refusal> {
        let verb = command.verb();
        match (&mut self.phase, command) {
            (_, Command::Quit) => {
                reply::ok(out, "GOODBYE")?;
                return Ok(Flow::Close);
            }
            (_, Command::Capa) => self.capa(out)?,
            (Phase::Auth { user, .. }, Command::User(name)) => {
                // Any name is accepted here, so a wrong name and a wrong
                // password look the same: the refusal comes after PASS.
                *user = Some(name);
                reply::ok(out, verb)?;
            }
            (Phase::Auth { user, failures }, Command::Pass(password)) => {
                let name = user.take().ok_or(MgmtError::UserFirst)?;
                if !self.context.shared.users.authenticate_admin(&name, password.expose()) {
                    *failures += 1;
                    log::warn!("MGMT {}: failed login", self.peer);
                    out.flush()?;
                    std::thread::sleep(self.context.login_delay);
                    return Err(MgmtError::AuthenticationFailed.into());
                }
                self.phase = Phase::Active;
                log::info!("MGMT {}: admin logged in", self.peer);
                reply::ok(out, verb)?;
            }
            (Phase::Auth { .. }, _) => return Err(MgmtError::NotAuthenticated.into()),
            (Phase::Active, Command::User(_) | Command::Pass(_)) => return Err(MgmtError::AlreadyAuthenticated.into()),
            (Phase::Active, command) => self.active(command, out)?,
        }
        Ok(Flow::Continue)
    }

    fn capa(&self, out: &mut impl Write) -> io::Result<()> {
        let lines = Verb::ALL.iter().map(|verb| {
            std::iter::once(verb.name()).chain(verb.arguments().iter().copied()).collect::<Vec<_>>().join(" ")
        });
        reply_with_data(out, Verb::Capa, lines)
    }

    /// The ACTIVE phase: every command an authenticated admin may send.
    fn active(&self, command: Command, out: &mut impl Write) -> Result<(), Refusal> {
        let shared = &self.context.shared;
        let verb = command.verb();
        match command {
            Command::Noop => reply::ok(out, verb)?,
            Command::HistoricConnec => reply_with_data(out, verb, [self.historic()])?,
            Command::LiveConnec => reply_with_data(out, verb, [self.live()])?,
            Command::BytesTrans => reply_with_data(out, verb, self.bytes())?,
            Command::Users => reply_with_data(out, verb, self.users())?,
            Command::Status => {
                let mut lines = vec![self.historic(), self.live()];
                lines.extend(self.bytes());
                lines.extend([
                    format!("TOTAL USERS: {}", shared.users.len()),
                    format!("MAX USERS: {}", shared.users.max_users()),
                    format!("MAX CONNECTIONS: {}", shared.connections.max()),
                    format!("IDLE TIMEOUT: {}", shared.idle_timeout().as_secs()),
                    format!("UPTIME: {}", shared.stats.uptime().as_secs()),
                ]);
                // Last, so that every `KEY: value` line comes before the
                // bare names of the list.
                lines.extend(self.users());
                reply_with_data(out, verb, lines)?;
            }
            Command::MaxConnec(max) => {
                let hard_max = shared.connections.hard_max();
                let max = usize::try_from(max).map_err(|_| MgmtError::MaxConnectionsOutOfRange { hard_max })?;
                shared
                    .connections
                    .set_max(max)
                    .map_err(|e| MgmtError::MaxConnectionsOutOfRange { hard_max: e.hard_max })?;
                log::info!("MGMT {}: max connections set to {max}", self.peer);
                reply::ok(out, format_args!("{verb} CHANGED"))?;
            }
            Command::MaxUsers(max) => {
                if max > MAX_USERS_LIMIT {
                    return Err(MgmtError::MaxUsersTooLarge.into());
                }
                shared.users.set_max_users(max as usize).map_err(MgmtError::from)?;
                log::info!("MGMT {}: max users set to {max}", self.peer);
                reply::ok(out, format_args!("{verb} CHANGED SUCCESSFULLY"))?;
            }
            Command::Timeout(seconds) => {
                if !(1..=MAX_PAUSE_SECS).contains(&seconds) {
                    return Err(MgmtError::TimeoutOutOfRange.into());
                }
                // Logged once the pause is on, so the log never runs ahead of it.
                let end = shared.pause.begin(Duration::from_secs(seconds));
                log::info!("MGMT {}: POP3 paused for {seconds} s", self.peer);
                out.flush()?;
                PauseGate::sleep_until(end);
                log::info!("MGMT {}: POP3 pause over", self.peer);
                reply::ok(out, format_args!("{verb} COMPLETED"))?;
            }
            Command::DeleteUser(name) => {
                shared.users.delete(&name).map_err(MgmtError::from)?;
                log::info!("MGMT {}: user {name} deleted", self.peer);
                self.save()?;
                reply::ok(out, format_args!("{verb} USER DELETED SUCCESSFULLY"))?;
            }
            Command::AddUser(credentials) => {
                let name = credentials.name.clone();
                // Stored hashed, like every password set over MGMT.
                shared.users.add(credentials.hashed()).map_err(MgmtError::from)?;
                log::info!("MGMT {}: user {name} added", self.peer);
                self.save()?;
                reply::ok(out, format_args!("{verb} USER ADDED SUCCESSFULLY"))?;
            }
            Command::ResetUserPassword(name) => {
                shared.users.set_password(&name, StoredPassword::hash(name.as_str())).map_err(MgmtError::from)?;
                log::info!("MGMT {}: password of {name} reset", self.peer);
                self.save()?;
                reply::ok(out, format_args!("{verb} PASSWORD RESET SUCCESSFULLY"))?;
            }
            Command::ChangePassword { old, new } => {
                let admin = shared.users.admin();
                if !shared.users.authenticate_admin(admin.as_str(), old.expose()) {
                    return Err(MgmtError::WrongPassword.into());
                }
                let new = StoredPassword::hash(new.expose());
                shared.users.set_password(admin.as_str(), new).map_err(MgmtError::from)?;
                log::info!("MGMT {}: admin password changed", self.peer);
                self.save()?;
                reply::ok(out, format_args!("{verb} PASSWORD CHANGED SUCCESSFULLY"))?;
            }
            // Phase-independent verbs are answered by `execute`.
            Command::User(_) | Command::Pass(_) | Command::Quit | Command::Capa => {}
        }
        Ok(())
    }

    /// `USER COUNT: n`, `USER LIST:`, then one name per line.
    fn users(&self) -> Vec<String> {
        let names = self.context.shared.users.names();
        let header = [format!("USER COUNT: {}", names.len()), "USER LIST:".to_owned()];
        header.into_iter().chain(names.iter().map(ToString::to_string)).collect()
    }

    fn historic(&self) -> String {
        format!("HISTORIC CONNECTIONS: {}", self.context.shared.stats.historic_connections())
    }

    fn live(&self) -> String {
        format!("LIVE CONNECTIONS: {}", self.context.shared.connections.live())
    }

    fn bytes(&self) -> [String; 2] {
        let stats = &self.context.shared.stats;
        [format!("BYTES SENT: {}", stats.bytes_sent()), format!("BYTES RECEIVED: {}", stats.bytes_received())]
    }

    /// Writes the users file after a change, if there is one.
    fn save(&self) -> Result<(), MgmtError> {
        let Some(file) = &self.context.users_file else {
            return Ok(());
        };
        file.save(&self.context.shared.users).map_err(|error| {
            log::error!("cannot save users file {}: {error}", file.path().display());
            MgmtError::NotSaved(error)
        })
    }
}

/// `+OK VERB`, the data lines, and the closing ".".
fn reply_with_data<L: fmt::Display>(
    out: &mut impl Write,
    verb: Verb,
    lines: impl IntoIterator<Item = L>,
) -> io::Result<()> {
    reply::ok(out, verb)?;
    for line in lines {
        reply::data_line(out, line)?;
    }
    reply::end_of_data(out)
}

/// Serves one admin until QUIT, EOF, idle timeout or too many failed
/// logins. The `permit` frees the admin session slot when this returns.
pub fn serve(stream: TcpStream, context: &Arc<Context>, permit: ConnectionPermit) {
    let peer = net::peer_name(&stream);
    log::info!("MGMT connection from {peer}{}", if context.tls.is_some() { " (TLS)" } else { "" });
    let mut session = MgmtSession::new(context, peer.clone());
    match converse(&stream, context.tls.clone(), &mut session) {
        Ok(()) => log::info!("MGMT closed {peer}"),
        Err(error) => log::info!("MGMT closed {peer}: {error}"),
    }
    drop(permit);
}

/// An admin connection: the socket, in clear or under TLS.
type MgmtTransport<'s> = Transport<&'s TcpStream>;

/// Where one command's replies collect before they are flushed together
/// (one TLS record, one write).
type Replies<'t, 's> = BufWriter<&'t mut MgmtTransport<'s>>;

fn converse(stream: &TcpStream, tls: Option<Arc<ServerConfig>>, session: &mut MgmtSession<'_>) -> io::Result<()> {
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
    let result = talk(&mut reader, session);
    reader.get_mut().close();
    result
}

fn talk(reader: &mut BufReader<MgmtTransport<'_>>, session: &mut MgmtSession<'_>) -> io::Result<()> {
    reply(reader, |out| reply::ok(out, GREETING))?;
    let mut line = Vec::with_capacity(MAX_LINE_OCTETS);
    loop {
        let read = match read_line(reader, &mut line) {
            Ok(LineRead::Eof) => return Ok(()),
            Ok(read) => read,
            Err(error) if net::is_timeout(&error) => {
                return reply(reader, |out| Failure::new("IDLE TIMEOUT").write_to(out));
            }
            Err(error) => return Err(error),
        };
        let flow = reply(reader, |out| session.handle(&read, &line, out))?;
        if flow == Flow::Close {
            return Ok(());
        }
    }
}

/// Lets `write` answer through the transport under `reader`, then flushes.
fn reply<T>(
    reader: &mut BufReader<MgmtTransport<'_>>,
    write: impl FnOnce(&mut Replies<'_, '_>) -> io::Result<T>,
) -> io::Result<T> {
    let mut out = BufWriter::new(reader.get_mut());
    let value = write(&mut out)?;
    out.flush()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::users::{Credentials, UserTable};
    use crate::net::tls::PlaintextAuth;
    use crate::shared::connections::ConnectionLimit;
    use crate::shared::limits::SessionLimits;
    use crate::shared::Shared;

    fn context() -> Context {
        let users =
            UserTable::new(Credentials::parse("admin:secret").unwrap(), [Credentials::parse("alice:pw").unwrap()], 10);
        let shared = Shared::new(
            "/nonexistent".into(),
            users,
            ConnectionLimit::new(5, 50, None),
            SessionLimits::default(),
            4096,
            None,
            PlaintextAuth::LoopbackOnly,
        );
        Context { shared: Arc::new(shared), users_file: None, login_delay: Duration::ZERO, tls: None }
    }

    /// Feeds `lines` to a session and returns everything it wrote.
    fn talk(session: &mut MgmtSession<'_>, lines: &[&str]) -> String {
        let mut out = Vec::new();
        for line in lines {
            session.handle(&LineRead::Line, line.as_bytes(), &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    fn logged_in(context: &Context) -> MgmtSession<'_> {
        let mut session = MgmtSession::new(context, "test".into());
        assert_eq!(talk(&mut session, &["USER admin", "PASS secret"]), "+OK USER\r\n+OK PASS\r\n");
        session
    }

    #[test]
    fn wrong_name_and_wrong_password_get_the_same_reply() {
        let context = context();
        let mut session = MgmtSession::new(&context, "test".into());
        let wrong_name = talk(&mut session, &["USER alice", "PASS pw"]);
        let wrong_password = talk(&mut session, &["USER admin", "PASS nope"]);
        assert_eq!(wrong_name, wrong_password);
        assert_eq!(wrong_name, "+OK USER\r\n-ERR AUTHENTICATION FAILED\r\n");
        let mut out = Vec::new();
        session.handle(&LineRead::Line, b"USER admin", &mut out).unwrap();
        assert_eq!(session.handle(&LineRead::Line, b"PASS again", &mut out).unwrap(), Flow::Close);
    }

    #[test]
    fn only_auth_verbs_work_before_login() {
        let context = context();
        let mut session = MgmtSession::new(&context, "test".into());
        assert_eq!(talk(&mut session, &["STATUS"]), "-ERR NOT AUTHENTICATED: USER AND PASS FIRST\r\n");
        assert_eq!(talk(&mut session, &["PASS x"]), "-ERR SEND USER FIRST\r\n");
        assert!(talk(&mut session, &["CAPA"]).starts_with("+OK CAPA\r\nUSER <name>\r\n"));
        assert!(!session.is_authenticated());
    }

    #[test]
    fn queries_answer_with_key_value_data() {
        let context = context();
        let mut session = logged_in(&context);
        assert_eq!(talk(&mut session, &["HISTORIC_CONNEC"]), "+OK HISTORIC_CONNEC\r\nHISTORIC CONNECTIONS: 0\r\n.\r\n");
        assert_eq!(talk(&mut session, &["live_connec"]), "+OK LIVE_CONNEC\r\nLIVE CONNECTIONS: 0\r\n.\r\n");
        assert_eq!(
            talk(&mut session, &["BYTES_TRANS"]),
            "+OK BYTES_TRANS\r\nBYTES SENT: 0\r\nBYTES RECEIVED: 0\r\n.\r\n"
        );
        assert_eq!(
            talk(&mut session, &["USERS"]),
            "+OK USERS\r\nUSER COUNT: 2\r\nUSER LIST:\r\nadmin\r\nalice\r\n.\r\n"
        );
        let status = talk(&mut session, &["STATUS"]);
        for key in [
            "TOTAL USERS: 2",
            "MAX USERS: 10",
            "MAX CONNECTIONS: 5",
            "IDLE TIMEOUT: 600",
            "UPTIME: ",
            "USER COUNT: 2\r\nUSER LIST:\r\nadmin\r\nalice\r\n.\r\n",
        ] {
            assert!(status.contains(key), "{status}");
        }
        assert_eq!(talk(&mut session, &["USER admin"]), "-ERR ALREADY AUTHENTICATED\r\n");
    }

    #[test]
    fn changes_apply_or_say_why_not() {
        let context = context();
        let mut session = logged_in(&context);
        let replies = talk(
            &mut session,
            &[
                "MAX_CONNEC 0",
                "MAX_CONNEC 51",
                "MAX_CONNEC 50",
                "MAX_USERS 1",
                "MAX_USERS 3",
                "ADD_USER bob bpw",
                "ADD_USER bob bpw",
                "ADD_USER carol cpw",
                "DELETE_USER admin",
                "DELETE_USER ghost",
                "RESET_USER_PASSWORD bob",
                "CHANGE_PASSWORD wrong new",
                "CHANGE_PASSWORD secret new",
                "TIMEOUT 0",
                "TIMEOUT 3601",
                "DELETE_USER bob",
            ],
        );
        let expected = "-ERR MAX CONNECTIONS MUST BE 1-50\r\n\
                        -ERR MAX CONNECTIONS MUST BE 1-50\r\n\
                        +OK MAX_CONNEC CHANGED\r\n\
                        -ERR MAX USERS BELOW CURRENT USER COUNT\r\n\
                        +OK MAX_USERS CHANGED SUCCESSFULLY\r\n\
                        +OK ADD_USER USER ADDED SUCCESSFULLY\r\n\
                        -ERR USER ALREADY EXISTS\r\n\
                        -ERR MAX USERS REACHED\r\n\
                        -ERR ADMIN CANNOT BE DELETED\r\n\
                        -ERR USER NOT FOUND\r\n\
                        +OK RESET_USER_PASSWORD PASSWORD RESET SUCCESSFULLY\r\n\
                        -ERR OLD PASSWORD DOES NOT MATCH\r\n\
                        +OK CHANGE_PASSWORD PASSWORD CHANGED SUCCESSFULLY\r\n\
                        -ERR TIMEOUT MUST BE 1-3600 SECONDS\r\n\
                        -ERR TIMEOUT MUST BE 1-3600 SECONDS\r\n\
                        +OK DELETE_USER USER DELETED SUCCESSFULLY\r\n";
        assert_eq!(replies, expected);
        let users = &context.shared.users;
        assert_eq!(context.shared.connections.max(), 50);
        assert!(users.authenticate_admin("admin", "new"));
        assert!(users.authenticate("bob", "bpw").is_none());
    }

    #[test]
    fn a_long_line_and_a_bad_line_do_not_end_the_session() {
        let context = context();
        let mut session = logged_in(&context);
        let mut out = Vec::new();
        assert_eq!(session.handle(&LineRead::TooLong, b"", &mut out).unwrap(), Flow::Continue);
        assert_eq!(session.handle(&LineRead::Line, b"\xff\xfe", &mut out).unwrap(), Flow::Continue);
        assert_eq!(session.handle(&LineRead::Line, b"NOOP", &mut out).unwrap(), Flow::Continue);
        assert_eq!(session.handle(&LineRead::Line, b"quit", &mut out).unwrap(), Flow::Close);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-ERR LINE TOO LONG (OVER 255 OCTETS)\r\n-ERR COMMAND IS NOT UTF-8\r\n+OK NOOP\r\n+OK GOODBYE\r\n"
        );
    }
}
