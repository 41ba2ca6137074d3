//! The AUTHORIZATION state: USER/PASS (RFC 1939 §7), AUTH PLAIN (RFC 5034)
//! and STLS (RFC 2595 §4), and the one login path they share.
//!
//! Cleartext logins are refused where the policy forbids them (by default
//! from any non-loopback peer without TLS), with guidance to use STLS.
//! A successful login locks and opens the maildrop before `+OK`.

use std::io::Write;

use super::session::{
    ok_and_continue, Authorization, Handled, Pop3Flow, Pop3Refusal, Pop3Session, Pop3State, Transaction,
};
use crate::accounts::users::UserName;
use crate::pop3::sasl::{self, SaslError};
use crate::storage::maildrop::{Maildrop, OpenError};
use crate::wire::reply::{self, Failure, ResponseCode};

impl Pop3Session<'_> {
    /// True if USER/PASS and AUTH PLAIN are allowed on this connection.
    pub(super) fn plaintext_login_allowed(&self) -> bool {
        self.link.tls || self.shared.plaintext_auth.allows(self.link.loopback)
    }

    /// True if CAPA should offer STLS: TLS is configured, not yet active,
    /// and nobody has logged in.
    pub(super) fn offers_stls(&self) -> bool {
        self.shared.tls.is_some() && !self.link.tls && matches!(self.state, Pop3State::Authorization(_))
    }

    pub(super) fn awaiting_sasl_response(&self) -> bool {
        matches!(&self.state, Pop3State::Authorization(a) if a.awaiting_plain_response)
    }

    /// Forgets everything learned before the TLS handshake (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.link.tls = true;
        self.state = Pop3State::Authorization(Authorization::default());
    }

    /// The authorization progress, or the refusal for a second login.
    fn authorization(&mut self) -> Result<&mut Authorization, Pop3Refusal> {
        match &mut self.state {
            Pop3State::Authorization(authorization) => Ok(authorization),
            Pop3State::Transaction(_) => Err(Pop3Refusal::Misuse(Failure::new("already logged in"))),
        }
    }

    fn refuse_cleartext(&self) -> Result<(), Pop3Refusal> {
        if self.plaintext_login_allowed() {
            return Ok(());
        }
        let advice = if self.shared.tls.is_some() { "use STLS first" } else { "ask the administrator to enable TLS" };
        Err(Pop3Refusal::Failed(Failure::with_code(
            ResponseCode::Auth,
            format!("cleartext login is disabled on unencrypted connections; {advice}"),
        )))
    }

    pub(super) fn user_command(&mut self, name: String, out: &mut impl Write) -> Handled {
        self.refuse_cleartext()?;
        let authorization = self.authorization()?;
        // A name that can never exist is refused here; an unknown but valid
        // one is accepted so that USER does not reveal which users exist.
        if UserName::parse(&name).is_err() {
            authorization.user = None;
            return Err(Pop3Refusal::Misuse(Failure::with_code(ResponseCode::Auth, "invalid user name")));
        }
        authorization.user = Some(name);
        ok_and_continue(out, "send PASS")
    }

    pub(super) fn pass(&mut self, password: &str, out: &mut impl Write) -> Handled {
        self.refuse_cleartext()?;
        // RFC 1939 §7: after a failed PASS the client starts again with USER.
        let Some(name) = self.authorization()?.user.take() else {
            return Err(Pop3Refusal::Misuse(Failure::new("send USER first")));
        };
        self.log_in(&name, password, out)
    }

    /// RFC 5034 AUTH: no mechanism lists them; PLAIN with or without an
    /// initial response.
    pub(super) fn auth(
        &mut self,
        mechanism: Option<String>,
        initial_response: Option<String>,
        out: &mut impl Write,
    ) -> Handled {
        self.authorization()?;
        let Some(mechanism) = mechanism else {
            reply::ok(out, "SASL mechanisms follow")?;
            if self.plaintext_login_allowed() {
                reply::data_line(out, sasl::PLAIN)?;
            }
            reply::end_of_data(out)?;
            return Ok(Pop3Flow::Continue);
        };
        if mechanism != sasl::PLAIN {
            return Err(Pop3Refusal::Failed(Failure::new(format!("unsupported SASL mechanism {mechanism}"))));
        }
        self.refuse_cleartext()?;
        match initial_response {
            Some(response) => self.finish_plain(&response, out),
            None => {
                self.authorization()?.awaiting_plain_response = true;
                // RFC 5034 §4: an empty challenge.
                out.write_all(b"+ \r\n")?;
                Ok(Pop3Flow::Continue)
            }
        }
    }

    /// The line after `AUTH PLAIN`: the credentials, or `*` to cancel.
    pub(super) fn sasl_response(&mut self, line: &[u8], out: &mut impl Write) -> Handled {
        self.authorization()?.awaiting_plain_response = false;
        let response = String::from_utf8_lossy(line);
        if response == "*" {
            return Err(Pop3Refusal::Failed(Failure::new("authentication cancelled")));
        }
        self.finish_plain(&response, out)
    }

    fn finish_plain(&mut self, response: &str, out: &mut impl Write) -> Handled {
        match sasl::decode_plain(response) {
            Ok(credentials) => self.log_in(&credentials.user, &credentials.password, out),
            Err(error @ (SaslError::BadBase64 | SaslError::Malformed)) => {
                Err(Pop3Refusal::Misuse(Failure::new(error.to_string())))
            }
            Err(error @ SaslError::ProxyNotAllowed) => {
                Err(Pop3Refusal::LoginFailed(Failure::with_code(ResponseCode::Auth, error.to_string())))
            }
        }
    }

    /// RFC 2595 §4: STLS only before login and only once.
    pub(super) fn stls(&mut self, out: &mut impl Write) -> Handled {
        self.authorization()?;
        if self.shared.tls.is_none() {
            return Err(Pop3Refusal::Failed(Failure::new("STLS is not available: TLS is not configured")));
        }
        if self.link.tls {
            return Err(Pop3Refusal::Misuse(Failure::new("TLS is already active")));
        }
        reply::ok(out, "begin TLS negotiation")?;
        Ok(Pop3Flow::StartTls)
    }

    /// Checks the credentials, locks and opens the maildrop, and enters the
    /// TRANSACTION state.
    fn log_in(&mut self, name: &str, password: &str, out: &mut impl Write) -> Handled {
        let account = self.shared.users.authenticate(name, password);
        let (Some(account), Ok(user)) = (account, UserName::parse(name)) else {
            log::info!("failed login for {name:?}");
            return Err(Pop3Refusal::LoginFailed(Failure::with_code(
                ResponseCode::Auth,
                "invalid user name or password",
            )));
        };
        let maildrop = match Maildrop::open(&self.shared.maildir_of(&user)) {
            Ok(maildrop) => maildrop,
            Err(OpenError::Busy) => {
                return Err(Failure::with_code(ResponseCode::InUse, "maildrop is locked by another session").into());
            }
            Err(OpenError::Io(error)) => {
                log::error!("cannot open maildrop of {user}: {error}");
                return Err(Failure::with_code(ResponseCode::SysTemp, "cannot open maildrop, try again later").into());
            }
        };
        let (count, octets) = maildrop.stat();
        log::info!("{user} logged in, {count} messages ({octets} octets)");
        self.activity.user = Some(user.clone());
        self.state = Pop3State::Transaction(Box::new(Transaction { user, account, maildrop }));
        ok_and_continue(out, format_args!("maildrop has {count} messages ({octets} octets)"))
    }
}
