//! One client's progress through POP3 (RFC 1939 §3): the state it is in
//! ([`Pop3State`]: AUTHORIZATION or TRANSACTION; UPDATE is QUIT's commit),
//! the one dispatch from a [`Pop3Command`] to its handler, and what a
//! refusal costs: one `-ERR` line, counted against the limits on bad
//! commands and failed logins.
//!
//! The handlers live in `handlers/`, one file per command family: `login`
//! (USER, PASS, AUTH, STLS), `listing` (STAT, LIST, UIDL), `fetching`
//! (RETR, TOP) and `deleting` (DELE, RSET, QUIT). CAPA, which speaks for
//! every family, is in `handlers/mod.rs`; NOOP does nothing but check the
//! state, so its one line is in the dispatch (`Pop3Session::dispatch`).
//!
//! Nothing here sees a socket: replies go to any `Write`, and the
//! connection loop decides when they are flushed. A handler either succeeds
//! (its reply is written) or returns a [`Pop3Refusal`]; the session goes on
//! after a refusal unless a limit is reached. Only I/O errors end the
//! connection otherwise.

use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::handlers::fetching::{self, MessagePart};
use super::handlers::{self, deleting, listing, login};
use crate::accounts::users::{AccountId, UserName};
use crate::pop3::command::{self, Pop3Command};
use crate::shared::audit;
use crate::shared::sessions::SessionEntry;
use crate::shared::stats::{Limit, ListenerKind};
use crate::shared::Shared;
use crate::storage::maildrop::Maildrop;
use crate::wire::line::MAX_LINE_OCTETS;
use crate::wire::reply::{self, Failure};

/// What the connection loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pop3Flow {
    Continue,
    /// STLS was accepted: flush the `+OK`, then run the TLS handshake.
    StartTls,
    /// QUIT was answered; close the connection.
    Quit,
    /// A limit was broken and the client told so; close the connection.
    Disconnect,
}

/// Whether a password sent on this connection could cross a network in
/// clear: it cannot under TLS, nor from a loopback peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSecurity {
    /// TLS is active (implicit TLS, or after STLS).
    pub tls: bool,
    /// The peer is on a loopback address: nothing crosses a network.
    pub loopback: bool,
}

/// The two states a client can send commands in (RFC 1939 §3).
pub(crate) enum Pop3State {
    Authorization(Authorization),
    Transaction(Box<Transaction>),
}

/// Progress towards a login.
#[derive(Debug, Default)]
pub(crate) struct Authorization {
    /// The name given by USER, waiting for PASS.
    pub(crate) user: Option<String>,
    /// The name of the last failed login, for the log line of the limit
    /// on failed logins.
    pub(crate) failed_name: Option<String>,
    /// AUTH PLAIN was sent without an initial response: the next line is
    /// the client's SASL response, not a command (RFC 5034 §4).
    pub(crate) awaiting_plain_response: bool,
}

/// A logged-in client and its locked maildrop.
pub(crate) struct Transaction {
    pub(crate) user: UserName,
    pub(crate) account: AccountId,
    pub(crate) maildrop: Maildrop,
}

impl Default for Pop3State {
    /// Every connection starts here, and starts again here after STLS.
    fn default() -> Self {
        Pop3State::Authorization(Authorization::default())
    }
}

impl Pop3State {
    /// The open transaction, or the refusal every TRANSACTION-only command
    /// gets before login.
    pub(crate) fn transaction(&mut self) -> Result<&mut Transaction, Pop3Refusal> {
        match self {
            Pop3State::Transaction(transaction) => Ok(transaction),
            Pop3State::Authorization(_) => {
                Err(Pop3Refusal::Misuse(Failure::new("not logged in; send USER and PASS first")))
            }
        }
    }

    /// The progress towards a login, or the refusal for a second login.
    pub(crate) fn authorization(&mut self) -> Result<&mut Authorization, Pop3Refusal> {
        match self {
            Pop3State::Authorization(authorization) => Ok(authorization),
            Pop3State::Transaction(_) => Err(Pop3Refusal::Misuse(Failure::new("already logged in"))),
        }
    }
}

/// Totals for the log line written when the connection closes.
#[derive(Debug, Default, Clone)]
pub struct Activity {
    /// Who logged in, kept after QUIT for the closing log line.
    pub user: Option<UserName>,
    /// Messages sent whole by RETR.
    pub retrieved: u64,
    /// Messages QUIT removed from disk. DELE only marks, so a session that
    /// ends without QUIT has deleted nothing, whatever it marked.
    pub deleted: u64,
}

/// One client's progress through the protocol.
pub struct Pop3Session<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) state: Pop3State,
    pub(crate) link: LinkSecurity,
    pub activity: Activity,
    /// The client's address: the one place a session keeps it, for the
    /// log lines a ban tool reads and for WHO. The connection loop sets it
    /// to the socket's peer, or for a trusted balancer to the client its
    /// PROXY header names.
    pub client: Option<IpAddr>,
    /// The listener the client came in on, for the log lines and counters.
    pub service: ListenerKind,
    /// This connection's entry on the live list, where a login is
    /// recorded for WHO and KICK (none in unit tests).
    pub(crate) live: Option<Arc<SessionEntry>>,
    /// When the session began.
    pub(crate) connected: Instant,
    /// Unknown, malformed, wrong-state and over-long commands so far.
    bad_commands: u32,
    failed_logins: u32,
}

/// A handler's way out when it does not succeed.
#[derive(Debug)]
pub(crate) enum Pop3Refusal {
    /// An ordinary failure (no such message, maildrop locked, ...).
    Failed(Failure),
    /// The client broke the protocol: counted against the bad-command cap.
    Misuse(Failure),
    /// Wrong credentials: delayed, and counted against the failed-login cap.
    LoginFailed(Failure),
    /// The connection is broken.
    Io(io::Error),
}

impl fmt::Display for Pop3Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pop3Refusal::Failed(failure) | Pop3Refusal::Misuse(failure) | Pop3Refusal::LoginFailed(failure) => {
                failure.fmt(f)
            }
            Pop3Refusal::Io(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for Pop3Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Pop3Refusal::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<Failure> for Pop3Refusal {
    fn from(failure: Failure) -> Self {
        Pop3Refusal::Failed(failure)
    }
}

impl From<io::Error> for Pop3Refusal {
    fn from(error: io::Error) -> Self {
        Pop3Refusal::Io(error)
    }
}

/// What every handler returns.
pub(crate) type Pop3Handled = Result<Pop3Flow, Pop3Refusal>;

/// Writes a one-line `+OK` reply and carries on: how most handlers end.
pub(crate) fn ok_and_continue(out: &mut impl Write, text: impl fmt::Display) -> Pop3Handled {
    reply::ok(out, text)?;
    Ok(Pop3Flow::Continue)
}

impl<'a> Pop3Session<'a> {
    pub fn new(shared: &'a Shared, link: LinkSecurity) -> Self {
        Self {
            shared,
            state: Pop3State::default(),
            link,
            activity: Activity::default(),
            client: None,
            service: ListenerKind::Pop3,
            live: None,
            connected: Instant::now(),
            bad_commands: 0,
            failed_logins: 0,
        }
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&UserName> {
        match &self.state {
            Pop3State::Transaction(transaction) => Some(&transaction.user),
            Pop3State::Authorization(_) => None,
        }
    }

    /// Puts this session's logins on the live list, under `entry`.
    pub fn track(&mut self, entry: Arc<SessionEntry>) {
        self.live = Some(entry);
    }

    /// True once MGMT's KICK has ended this session.
    pub fn is_kicked(&self) -> bool {
        self.live.as_ref().is_some_and(|entry| entry.is_kicked())
    }

    /// The name logged in, or the one USER gave, for limit log lines.
    fn user_for_log(&self) -> Option<String> {
        match &self.state {
            Pop3State::Transaction(transaction) => Some(transaction.user.to_string()),
            Pop3State::Authorization(authorization) => {
                authorization.user.clone().or_else(|| authorization.failed_name.clone())
            }
        }
    }

    /// False once MGMT has deleted the account this session is logged in to.
    pub fn account_still_exists(&self) -> bool {
        match &self.state {
            Pop3State::Transaction(t) => self.shared.users.is_current(&t.user, t.account),
            Pop3State::Authorization(_) => true,
        }
    }

    /// Forgets everything learned before the TLS handshake (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.link.tls = true;
        self.state = Pop3State::default();
    }

    /// Answers one command line, or, in the middle of AUTH, one SASL
    /// response line.
    pub fn handle_line(&mut self, line: &[u8], out: &mut impl Write) -> io::Result<Pop3Flow> {
        let started = Instant::now();
        let result = if self.awaiting_sasl_response() {
            // RFC 5034 §4: this line is credentials (or `*`), never a command.
            login::sasl_response(self, line, out)
        } else {
            match command::parse(line) {
                Ok(command) => {
                    self.shared.stats.commands.increment(command.verb());
                    log::debug!(
                        "command {}{}",
                        command.keyword(),
                        self.user().map(|u| format!(" ({u})")).unwrap_or_default()
                    );
                    self.dispatch(command, out)
                }
                Err(error) if error.is_misuse() => Err(Pop3Refusal::Misuse(Failure::new(error.to_string()))),
                Err(error) => Err(Pop3Refusal::Failed(Failure::new(error.to_string()))),
            }
        };
        match result {
            Ok(flow) => Ok(flow),
            Err(Pop3Refusal::Failed(failure)) => failure.write_to(out).map(|()| Pop3Flow::Continue),
            Err(Pop3Refusal::Misuse(failure)) => self.misuse(failure, out),
            Err(Pop3Refusal::LoginFailed(failure)) => self.login_failed(failure, started, out),
            Err(Pop3Refusal::Io(error)) => Err(error),
        }
    }

    /// Answers a line longer than RFC 2449 allows; it counts as a bad command.
    pub fn reject_long_line(&mut self, out: &mut impl Write) -> io::Result<Pop3Flow> {
        self.misuse(Failure::new(format!("line too long (over {MAX_LINE_OCTETS} octets)")), out)
    }

    fn awaiting_sasl_response(&self) -> bool {
        matches!(&self.state, Pop3State::Authorization(a) if a.awaiting_plain_response)
    }

    /// The one place a command meets its handler. CAPA and the login
    /// commands read or change the whole session, so they get it; QUIT takes
    /// the state by value (its commit consumes the maildrop); every other
    /// handler gets only what it works on.
    fn dispatch(&mut self, command: Pop3Command, out: &mut impl Write) -> Pop3Handled {
        let retr_buffer = self.shared.retr_buffer;
        match command {
            Pop3Command::Capa => handlers::capa(self, out),
            Pop3Command::User(name) => login::user(self, name, out),
            Pop3Command::Pass(password) => login::pass(self, &password, out),
            Pop3Command::Auth { mechanism, initial_response } => login::auth(self, mechanism, initial_response, out),
            Pop3Command::Stls => login::stls(self, out),
            Pop3Command::Noop => {
                self.state.transaction()?;
                ok_and_continue(out, "")
            }
            Pop3Command::Stat => listing::stat(&self.state.transaction()?.maildrop, out),
            Pop3Command::List(number) => listing::list(&self.state.transaction()?.maildrop, number, out),
            Pop3Command::Uidl(number) => listing::uidl(&self.state.transaction()?.maildrop, number, out),
            Pop3Command::Retr(number) => {
                let maildrop = &mut self.state.transaction()?.maildrop;
                let flow =
                    fetching::send_message(maildrop, number, MessagePart::Whole, retr_buffer, &mut self.activity, out)?;
                self.shared.stats.message_retrieved();
                Ok(flow)
            }
            Pop3Command::Top(number, lines) => {
                let maildrop = &mut self.state.transaction()?.maildrop;
                fetching::send_message(maildrop, number, MessagePart::Top(lines), retr_buffer, &mut self.activity, out)
            }
            Pop3Command::Dele(number) => deleting::dele(&mut self.state.transaction()?.maildrop, number, out),
            Pop3Command::Rset => deleting::rset(&mut self.state.transaction()?.maildrop, out),
            Pop3Command::Quit => {
                let flow = deleting::quit(std::mem::take(&mut self.state), &mut self.activity, out)?;
                self.shared.stats.messages_deleted(self.activity.deleted);
                Ok(flow)
            }
        }
    }

    fn misuse(&mut self, failure: Failure, out: &mut impl Write) -> io::Result<Pop3Flow> {
        self.bad_commands += 1;
        let limits = self.shared.limits();
        let allowed = match self.state {
            Pop3State::Authorization(_) => limits.max_bad_commands_before_login,
            Pop3State::Transaction(_) => limits.max_bad_commands_after_login,
        };
        let close = self.bad_commands >= allowed;
        if close {
            self.limit_hit(Limit::BadCommands);
        }
        finish_or_close(failure, close, "too many bad commands", out)
    }

    /// Hackers guessing passwords get slowed down (the delay blocks only this
    /// session's thread) and cut off after a few tries; the reply and its
    /// timing are the same whether the user exists or not. The delay runs
    /// from when the command arrived, so a wrong password checked against a
    /// slow hash is answered no later than an unknown user, who has no hash
    /// to check.
    fn login_failed(&mut self, failure: Failure, started: Instant, out: &mut impl Write) -> io::Result<Pop3Flow> {
        self.failed_logins += 1;
        let limits = self.shared.limits();
        std::thread::sleep(limits.auth_failure_delay.saturating_sub(started.elapsed()));
        let close = self.failed_logins >= limits.max_auth_failures;
        if close {
            self.limit_hit(Limit::AuthFailures);
        }
        finish_or_close(failure, close, "too many failed logins", out)
    }

    fn limit_hit(&self, limit: Limit) {
        let user = self.user_for_log();
        audit::limit_hit(&self.shared.stats, self.service, self.client, limit, user.as_deref());
    }
}

/// Writes `failure`; when a limit is reached, says so on the same line and
/// ends the connection (one reply per command keeps pipelining in step).
fn finish_or_close(mut failure: Failure, close: bool, why: &str, out: &mut impl Write) -> io::Result<Pop3Flow> {
    if !close {
        return failure.write_to(out).map(|()| Pop3Flow::Continue);
    }
    failure.reason = format!("{}; {why}, closing connection", failure.reason);
    failure.write_to(out)?;
    Ok(Pop3Flow::Disconnect)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::accounts::users::{Credentials, UserTable};
    use crate::net::tls::PlaintextAuth;
    use crate::shared::connections::ConnectionLimit;
    use crate::shared::limits::SessionLimits;

    fn shared() -> Shared {
        let admin = Credentials::parse("admin:admin-pw").unwrap();
        Shared::new(
            PathBuf::from("/nonexistent"),
            UserTable::new(admin, [], 10),
            ConnectionLimit::new(10, 10, None),
            SessionLimits::default(),
            4096,
            None,
            PlaintextAuth::LoopbackOnly,
        )
    }

    /// Answers `line` and returns the flow and the reply as text.
    fn answer(session: &mut Pop3Session<'_>, line: &str) -> (Pop3Flow, String) {
        let mut out = Vec::new();
        let flow = session.handle_line(line.as_bytes(), &mut out).unwrap();
        (flow, String::from_utf8(out).unwrap())
    }

    /// RFC 5034 §4: after `AUTH PLAIN` alone the next line is the SASL
    /// response, however much it looks like a command.
    #[test]
    fn the_line_after_auth_plain_is_never_a_command() {
        let shared = shared();
        let mut session = Pop3Session::new(&shared, LinkSecurity { tls: false, loopback: true });
        assert_eq!(answer(&mut session, "AUTH PLAIN"), (Pop3Flow::Continue, "+ \r\n".to_owned()));
        let (flow, reply) = answer(&mut session, "QUIT");
        assert_eq!((flow, reply.as_str()), (Pop3Flow::Continue, "-ERR malformed SASL PLAIN response\r\n"));
        assert_eq!(answer(&mut session, "QUIT"), (Pop3Flow::Quit, "+OK bye\r\n".to_owned()));
    }
}
