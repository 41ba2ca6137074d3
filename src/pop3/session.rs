//! The POP3 state machine (RFC 1939 §3): AUTHORIZATION, TRANSACTION and the
//! UPDATE step on QUIT, and the reply to every command in every state.
//!
//! Handlers write replies to any `Write` and never see the socket. A handler
//! either succeeds (its `+OK` reply is written) or returns a [`Pop3Refusal`]
//! that becomes one `-ERR` line; the session goes on after a refusal unless
//! a limit on bad commands or failed logins is reached. Only I/O errors end
//! the connection otherwise. Logging in (USER, PASS, AUTH, STLS) lives in
//! [`super::login`].

use std::fmt::Write as _;
use std::io::{self, Write};
use std::num::NonZeroU32;
use std::time::Instant;

use crate::accounts::users::{AccountId, UserName};
use crate::pop3::command::{self, Pop3Command};
use crate::pop3::encode::MessageEncoder;
use crate::shared::Shared;
use crate::storage::maildrop::{Maildrop, Message, MessageError, MessageFile};
use crate::wire::line::MAX_LINE_OCTETS;
use crate::wire::reply::{self, Failure, ResponseCode};

use super::transfer;

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

/// The two states a client can send commands in.
pub(super) enum Pop3State {
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
pub struct Pop3Session<'a> {
    pub(super) shared: &'a Shared,
    pub(super) state: Pop3State,
    pub(super) link: LinkSecurity,
    pub activity: Activity,
    /// Unknown, malformed, wrong-state and over-long commands so far.
    bad_commands: u32,
    failed_logins: u32,
}

/// A handler's way out when it does not succeed.
pub(super) enum Pop3Refusal {
    /// An ordinary failure (no such message, maildrop locked, ...).
    Failed(Failure),
    /// The client broke the protocol: counted against the bad-command cap.
    Misuse(Failure),
    /// PASS with wrong credentials: delayed, and counted.
    LoginFailed(Failure),
    /// The connection is broken.
    Io(io::Error),
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

pub(super) type Handled = Result<Pop3Flow, Pop3Refusal>;

impl<'a> Pop3Session<'a> {
    pub fn new(shared: &'a Shared, link: LinkSecurity) -> Self {
        Self {
            shared,
            state: Pop3State::Authorization(Authorization::default()),
            link,
            activity: Activity::default(),
            bad_commands: 0,
            failed_logins: 0,
        }
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&UserName> {
        match &self.state {
            Pop3State::Transaction(transaction) => Some(&transaction.user),
            Pop3State::Authorization { .. } => None,
        }
    }

    /// False once MGMT has deleted the account this session is logged in to.
    pub fn account_still_exists(&self) -> bool {
        match &self.state {
            Pop3State::Transaction(t) => self.shared.users.is_current(&t.user, t.account),
            Pop3State::Authorization { .. } => true,
        }
    }

    /// Parses and answers one command line (or, in the middle of AUTH, one
    /// SASL response line).
    pub fn handle_line(&mut self, line: &[u8], out: &mut impl Write) -> io::Result<Pop3Flow> {
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
            Err(error) if error.is_misuse() => Err(Pop3Refusal::Misuse(Failure::new(error.to_string()))),
            Err(error) => Err(Pop3Refusal::Failed(Failure::new(error.to_string()))),
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

    fn misuse(&mut self, failure: Failure, out: &mut impl Write) -> io::Result<Pop3Flow> {
        self.bad_commands += 1;
        let limits = &self.shared.limits;
        let allowed = match self.state {
            Pop3State::Authorization { .. } => limits.max_bad_commands_before_login,
            Pop3State::Transaction(_) => limits.max_bad_commands_after_login,
        };
        finish_or_close(failure, self.bad_commands >= allowed, "too many bad commands", out)
    }

    /// Hackers guessing passwords get slowed down (the delay blocks only this
    /// session's thread) and cut off after a few tries; the reply and its
    /// timing are the same whether the user exists or not. The delay runs
    /// from when the command arrived, so a wrong password checked against a
    /// slow hash is answered no later than an unknown user, who has no hash
    /// to check.
    fn login_failed(&mut self, failure: Failure, started: Instant, out: &mut impl Write) -> io::Result<Pop3Flow> {
        self.failed_logins += 1;
        std::thread::sleep(self.shared.limits.auth_failure_delay.saturating_sub(started.elapsed()));
        let close = self.failed_logins >= self.shared.limits.max_auth_failures;
        finish_or_close(failure, close, "too many failed logins", out)
    }

    fn handle(&mut self, command: Pop3Command, out: &mut impl Write) -> Handled {
        match command {
            Pop3Command::Capa => self.capa(out),
            Pop3Command::Quit => self.quit(out),
            Pop3Command::User(name) => self.user_command(name, out),
            Pop3Command::Pass(password) => self.pass(&password, out),
            Pop3Command::Auth { mechanism, initial_response } => self.auth(mechanism, initial_response, out),
            Pop3Command::Stls => self.stls(out),
            Pop3Command::Noop => {
                self.transaction()?;
                ok_and_continue(out, "")
            }
            Pop3Command::Stat => {
                let (count, octets) = self.transaction()?.maildrop.stat();
                ok_and_continue(out, format_args!("{count} {octets}"))
            }
            Pop3Command::List(number) => self.listing(number, out, |message| message.size().to_string()),
            Pop3Command::Uidl(number) => self.listing(number, out, Message::uidl),
            Pop3Command::Retr(number) => self.retrieve(number, None, out),
            Pop3Command::Top(number, lines) => self.retrieve(number, Some(lines), out),
            Pop3Command::Dele(number) => {
                let maildrop = &mut self.transaction()?.maildrop;
                maildrop.mark_deleted(number).map_err(|e| message_failure(number, e))?;
                self.activity.deleted += 1;
                ok_and_continue(out, format_args!("message {number} deleted"))
            }
            Pop3Command::Rset => {
                let maildrop = &mut self.transaction()?.maildrop;
                maildrop.reset();
                let (count, octets) = maildrop.stat();
                self.activity.deleted = 0;
                ok_and_continue(out, format_args!("maildrop has {count} messages ({octets} octets)"))
            }
        }
    }

    /// The open transaction, or the refusal every TRANSACTION-only command
    /// gets before login.
    fn transaction(&mut self) -> Result<&mut Transaction, Pop3Refusal> {
        match &mut self.state {
            Pop3State::Transaction(transaction) => Ok(transaction),
            Pop3State::Authorization { .. } => {
                Err(Pop3Refusal::Misuse(Failure::new("not logged in; send USER and PASS first")))
            }
        }
    }

    /// RFC 2449 §5: only what this server really does, on this connection,
    /// in this state.
    fn capa(&self, out: &mut impl Write) -> Handled {
        reply::ok(out, "Capability list follows")?;
        let mut capabilities = vec!["TOP", "UIDL"];
        if self.plaintext_login_allowed() {
            capabilities.extend(["USER", "SASL PLAIN"]);
        }
        if self.offers_stls() {
            capabilities.push("STLS");
        }
        capabilities.extend(["RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "EXPIRE NEVER", IMPLEMENTATION]);
        for capability in capabilities {
            reply::data_line(out, capability)?;
        }
        reply::end_of_data(out)?;
        Ok(Pop3Flow::Continue)
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
            return ok_and_continue(out, format_args!("{number} {}", value(message)));
        }
        let (count, octets) = maildrop.stat();
        reply::ok(out, format_args!("{count} messages ({octets} octets)"))?;
        let mut line = String::new();
        for (number, message) in maildrop.live_messages() {
            line.clear();
            let _ = write!(line, "{number} {}", value(message));
            reply::data_line(out, &line)?;
        }
        reply::end_of_data(out)?;
        Ok(Pop3Flow::Continue)
    }

    /// RETR (`top_lines` is `None`) and TOP (RFC 1939 §7).
    fn retrieve(&mut self, number: NonZeroU32, top_lines: Option<u64>, out: &mut impl Write) -> Handled {
        let buffer_size = self.shared.retr_buffer;
        let maildrop = &mut self.transaction()?.maildrop;
        let MessageFile { mut file, size } = maildrop.open_message(number).map_err(|e| message_failure(number, e))?;
        let encoder = match top_lines {
            Some(lines) => {
                reply::ok(out, "top of message follows")?;
                MessageEncoder::top(lines)
            }
            None => {
                reply::ok(out, format_args!("{size} octets"))?;
                self.activity.retrieved += 1;
                MessageEncoder::whole_message()
            }
        };
        transfer::send_message(&mut file, encoder, out, buffer_size)?;
        Ok(Pop3Flow::Continue)
    }

    fn quit(&mut self, out: &mut impl Write) -> Handled {
        let state = std::mem::replace(&mut self.state, Pop3State::Authorization(Authorization::default()));
        let Pop3State::Transaction(transaction) = state else {
            ok_and_continue(out, "bye")?;
            return Ok(Pop3Flow::Quit);
        };
        // RFC 1939 §6: the UPDATE state, entered only through QUIT.
        let report = transaction.maildrop.commit();
        self.activity.deleted = report.removed as u64;
        if report.failed > 0 {
            Failure::with_code(ResponseCode::SysTemp, format!("{} deleted messages not removed", report.failed))
                .write_to(out)?;
            return Ok(Pop3Flow::Quit);
        }
        ok_and_continue(out, format_args!("bye, {} messages deleted", report.removed))?;
        Ok(Pop3Flow::Quit)
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

/// Writes a one-line `+OK` reply and carries on.
pub(super) fn ok_and_continue(out: &mut impl Write, text: impl std::fmt::Display) -> Handled {
    reply::ok(out, text)?;
    Ok(Pop3Flow::Continue)
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
