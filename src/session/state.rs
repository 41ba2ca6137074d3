//! The POP3 state machine (RFC 1939 §3): AUTHORIZATION, TRANSACTION and the
//! UPDATE step on QUIT, and the reply to every command in every state.
//!
//! Handlers write replies to any `Write` and never see the socket. A handler
//! either succeeds (its `+OK` reply is written) or returns a [`Refusal`]
//! that becomes one `-ERR` line; the session goes on after a refusal unless
//! a limit on bad commands or failed logins is reached. Only I/O errors end
//! the connection otherwise. Logging in (USER, PASS, AUTH, STLS) lives in
//! [`super::login`].

use std::fmt::Write as _;
use std::io::{self, Write};
use std::num::NonZeroU32;
use std::time::Instant;

use crate::protocol::command::{self, Command};
use crate::protocol::encode::MessageEncoder;
use crate::protocol::line::MAX_LINE_OCTETS;
use crate::protocol::response::{self, Failure, ResponseCode};
use crate::state::users::{AccountId, UserName};
use crate::state::Shared;
use crate::storage::maildrop::{Maildrop, Message, MessageError};

use super::transfer;

/// What the connection loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// STLS was accepted: flush the `+OK`, then run the TLS handshake.
    StartTls,
    /// QUIT was answered; close the connection.
    Quit,
    /// A limit was broken and the client told so; close the connection.
    Disconnect,
}

/// What the state machine knows about the connection under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// TLS is active (implicit TLS, or after STLS).
    pub tls: bool,
    /// The peer is on a loopback address: nothing crosses a network.
    pub loopback: bool,
}

/// The two states a client can send commands in.
pub(super) enum Phase {
    Authorization(Authorization),
    Transaction(Box<Transaction>),
}

/// Progress towards a login.
#[derive(Debug, Default)]
pub(super) struct Authorization {
    /// The name given by USER, waiting for PASS.
    pub(super) user: Option<String>,
    /// AUTH PLAIN was sent without an initial response: the next line is
    /// the client's SASL response, not a command (RFC 5034 §4).
    pub(super) awaiting_plain_response: bool,
}

pub(super) struct Transaction {
    pub(super) user: UserName,
    pub(super) account: AccountId,
    pub(super) maildrop: Maildrop,
}

const IMPLEMENTATION: &str = concat!("IMPLEMENTATION pop3d-", env!("CARGO_PKG_VERSION"));

/// Totals for the log line written when the connection closes.
#[derive(Debug, Default, Clone)]
pub struct Activity {
    /// Who logged in, kept after QUIT for the closing log line.
    pub user: Option<UserName>,
    pub retrieved: u64,
    pub deleted: u64,
}

/// One client's progress through the protocol.
pub struct Pop3State<'a> {
    pub(super) shared: &'a Shared,
    pub(super) phase: Phase,
    pub(super) connection: ConnectionInfo,
    pub activity: Activity,
    /// Unknown, malformed, wrong-state and over-long commands so far.
    bad_commands: u32,
    failed_logins: u32,
}

/// A handler's way out when it does not succeed.
pub(super) enum Refusal {
    /// An ordinary failure (no such message, maildrop locked, ...).
    Failed(Failure),
    /// The client broke the protocol: counted against the bad-command cap.
    Misuse(Failure),
    /// PASS with wrong credentials: delayed, and counted.
    LoginFailed(Failure),
    /// The connection is broken.
    Io(io::Error),
}

impl From<Failure> for Refusal {
    fn from(failure: Failure) -> Self {
        Refusal::Failed(failure)
    }
}

impl From<io::Error> for Refusal {
    fn from(error: io::Error) -> Self {
        Refusal::Io(error)
    }
}

pub(super) type Handled = Result<Flow, Refusal>;

impl<'a> Pop3State<'a> {
    pub fn new(shared: &'a Shared, connection: ConnectionInfo) -> Self {
        Self {
            shared,
            phase: Phase::Authorization(Authorization::default()),
            connection,
            activity: Activity::default(),
            bad_commands: 0,
            failed_logins: 0,
        }
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&UserName> {
        match &self.phase {
            Phase::Transaction(transaction) => Some(&transaction.user),
            Phase::Authorization { .. } => None,
        }
    }

    /// False once MGMT has deleted the account this session is logged in to.
    pub fn account_still_exists(&self) -> bool {
        match &self.phase {
            Phase::Transaction(t) => self.shared.users.is_current(&t.user, t.account),
            Phase::Authorization { .. } => true,
        }
    }

    /// Parses and answers one command line (or, in the middle of AUTH, one
    /// SASL response line).
    pub fn handle_line(&mut self, line: &[u8], out: &mut impl Write) -> io::Result<Flow> {
        let started = Instant::now();
        let result = match command::parse(line) {
            _ if self.awaiting_sasl_response() => self.sasl_response(line, out),
            Ok(command) => {
                log::debug!(
                    "command {}{}",
                    command.keyword(),
                    self.user().map(|u| format!(" ({u})")).unwrap_or_default()
                );
                self.handle(command, out)
            }
            Err(error) if error.is_misuse() => Err(Refusal::Misuse(Failure::new(error.to_string()))),
            Err(error) => Err(Refusal::Failed(Failure::new(error.to_string()))),
        };
        match result {
            Ok(flow) => Ok(flow),
            Err(Refusal::Failed(failure)) => failure.write_to(out).map(|()| Flow::Continue),
            Err(Refusal::Misuse(failure)) => self.misuse(failure, out),
            Err(Refusal::LoginFailed(failure)) => self.login_failed(failure, started, out),
            Err(Refusal::Io(error)) => Err(error),
        }
    }

    /// Answers a line longer than RFC 2449 allows; it counts as a bad command.
    pub fn reject_long_line(&mut self, out: &mut impl Write) -> io::Result<Flow> {
        self.misuse(Failure::new(format!("line too long (over {MAX_LINE_OCTETS} octets)")), out)
    }

    fn misuse(&mut self, failure: Failure, out: &mut impl Write) -> io::Result<Flow> {
        self.bad_commands += 1;
        let limits = &self.shared.limits;
        let allowed = match self.phase {
            Phase::Authorization { .. } => limits.max_bad_commands_before_login,
            Phase::Transaction(_) => limits.max_bad_commands_after_login,
        };
        finish_or_close(failure, self.bad_commands >= allowed, "too many bad commands", out)
    }

    /// Hackers guessing passwords get slowed down (the delay blocks only this
    /// session's thread) and cut off after a few tries; the reply and its
    /// timing are the same whether the user exists or not. The delay runs
    /// from when the command arrived, so a wrong password checked against a
    /// slow hash is answered no later than an unknown user, who has no hash
    /// to check.
    fn login_failed(&mut self, failure: Failure, started: Instant, out: &mut impl Write) -> io::Result<Flow> {
        self.failed_logins += 1;
        std::thread::sleep(self.shared.limits.auth_failure_delay.saturating_sub(started.elapsed()));
        let close = self.failed_logins >= self.shared.limits.max_auth_failures;
        finish_or_close(failure, close, "too many failed logins", out)
    }

    fn handle(&mut self, command: Command, out: &mut impl Write) -> Handled {
        match command {
            Command::Capa => self.capa(out),
            Command::Quit => self.quit(out),
            Command::User(name) => self.user_command(name, out),
            Command::Pass(password) => self.pass(&password, out),
            Command::Auth { mechanism, initial_response } => self.auth(mechanism, initial_response, out),
            Command::Stls => self.stls(out),
            Command::Noop => {
                self.transaction()?;
                reply(out, "")
            }
            Command::Stat => {
                let (count, octets) = self.transaction()?.maildrop.stat();
                reply(out, format_args!("{count} {octets}"))
            }
            Command::List(number) => self.listing(number, out, |message| message.size().to_string()),
            Command::Uidl(number) => self.listing(number, out, Message::uidl),
            Command::Retr(number) => self.retrieve(number, None, out),
            Command::Top(number, lines) => self.retrieve(number, Some(lines), out),
            Command::Dele(number) => {
                let maildrop = &mut self.transaction()?.maildrop;
                maildrop.mark_deleted(number).map_err(|e| message_failure(number, e))?;
                self.activity.deleted += 1;
                reply(out, format_args!("message {number} deleted"))
            }
            Command::Rset => {
                let maildrop = &mut self.transaction()?.maildrop;
                maildrop.reset();
                let (count, octets) = maildrop.stat();
                self.activity.deleted = 0;
                reply(out, format_args!("maildrop has {count} messages ({octets} octets)"))
            }
        }
    }

    /// The open transaction, or the refusal every TRANSACTION-only command
    /// gets before login.
    fn transaction(&mut self) -> Result<&mut Transaction, Refusal> {
        match &mut self.phase {
            Phase::Transaction(transaction) => Ok(transaction),
            Phase::Authorization { .. } => {
                Err(Refusal::Misuse(Failure::new("not logged in; send USER and PASS first")))
            }
        }
    }

    /// RFC 2449 §5: only what this server really does, on this connection,
    /// in this state.
    fn capa(&self, out: &mut impl Write) -> Handled {
        response::ok(out, "Capability list follows")?;
        let mut capabilities = vec!["TOP", "UIDL"];
        if self.plaintext_login_allowed() {
            capabilities.extend(["USER", "SASL PLAIN"]);
        }
        if self.offers_stls() {
            capabilities.push("STLS");
        }
        capabilities.extend(["RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "EXPIRE NEVER", IMPLEMENTATION]);
        for capability in capabilities {
            response::data_line(out, capability)?;
        }
        response::end_of_data(out)?;
        Ok(Flow::Continue)
    }

    /// LIST and UIDL share one shape (RFC 1939 §5, §7): with an argument a
    /// one-line "+OK n value", without it a multi-line "n value" listing of
    /// every message not marked deleted.
    fn listing(
        &mut self,
        number: Option<NonZeroU32>,
        out: &mut impl Write,
        value: impl Fn(&Message) -> String,
    ) -> Handled {
        let maildrop = &self.transaction()?.maildrop;
        if let Some(number) = number {
            let message = maildrop.message(number).map_err(|e| message_failure(number, e))?;
            return reply(out, format_args!("{number} {}", value(message)));
        }
        let (count, octets) = maildrop.stat();
        response::ok(out, format_args!("{count} messages ({octets} octets)"))?;
        let mut line = String::new();
        for (number, message) in maildrop.live_messages() {
            line.clear();
            let _ = write!(line, "{number} {}", value(message));
            response::data_line(out, &line)?;
        }
        response::end_of_data(out)?;
        Ok(Flow::Continue)
    }

    /// RETR (`top_lines` is `None`) and TOP (RFC 1939 §7).
    fn retrieve(&mut self, number: NonZeroU32, top_lines: Option<u64>, out: &mut impl Write) -> Handled {
        let buffer_size = self.shared.retr_buffer;
        let maildrop = &mut self.transaction()?.maildrop;
        let size = maildrop.message(number).map_err(|e| message_failure(number, e))?.size();
        let mut file = maildrop.open_message(number).map_err(|e| message_failure(number, e))?;
        let encoder = match top_lines {
            Some(lines) => {
                response::ok(out, "top of message follows")?;
                MessageEncoder::top(lines)
            }
            None => {
                response::ok(out, format_args!("{size} octets"))?;
                self.activity.retrieved += 1;
                MessageEncoder::whole_message()
            }
        };
        transfer::send_message(&mut file, encoder, out, buffer_size)?;
        Ok(Flow::Continue)
    }

    fn quit(&mut self, out: &mut impl Write) -> Handled {
        let phase = std::mem::replace(&mut self.phase, Phase::Authorization(Authorization::default()));
        let Phase::Transaction(transaction) = phase else {
            reply(out, "bye")?;
            return Ok(Flow::Quit);
        };
        // RFC 1939 §6: the UPDATE state, entered only through QUIT.
        let report = transaction.maildrop.commit();
        self.activity.deleted = report.removed as u64;
        if report.failed > 0 {
            Failure::with_code(ResponseCode::SysTemp, format!("{} deleted messages not removed", report.failed))
                .write_to(out)?;
            return Ok(Flow::Quit);
        }
        reply(out, format_args!("bye, {} messages deleted", report.removed))?;
        Ok(Flow::Quit)
    }
}

/// Writes `failure`; when a limit is reached, says so on the same line and
/// ends the connection (one reply per command keeps pipelining in step).
fn finish_or_close(mut failure: Failure, close: bool, why: &str, out: &mut impl Write) -> io::Result<Flow> {
    if !close {
        return failure.write_to(out).map(|()| Flow::Continue);
    }
    failure.reason = format!("{}; {why}, closing connection", failure.reason);
    failure.write_to(out)?;
    Ok(Flow::Disconnect)
}

/// Writes a one-line `+OK` reply and carries on.
pub(super) fn reply(out: &mut impl Write, text: impl std::fmt::Display) -> Handled {
    response::ok(out, text)?;
    Ok(Flow::Continue)
}

fn message_failure(number: NonZeroU32, error: MessageError) -> Failure {
    match error {
        MessageError::NoSuchMessage => Failure::new(format!("no such message {number}")),
        MessageError::Deleted => Failure::new(format!("message {number} is deleted")),
        MessageError::Changed => {
            Failure::with_code(ResponseCode::SysTemp, format!("message {number} changed on disk; log in again"))
        }
        MessageError::Io(error) => {
            log::error!("cannot read message {number}: {error}");
            Failure::with_code(ResponseCode::SysTemp, format!("cannot read message {number}"))
        }
    }
}
