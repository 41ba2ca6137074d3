//! The AUTHORIZATION state: USER/PASS (RFC 1939 §7), AUTH PLAIN (RFC 5034)
//! and STLS (RFC 2595 §4), and [`log_in`], the one login path they share.
//!
//! Cleartext logins are refused where the policy forbids them (by default
//! from any non-loopback peer without TLS), with guidance to use STLS.
//! A successful login locks and opens the maildrop before `+OK`.
//!
//! These handlers must never tell a client which user names exist: an
//! unknown user and a wrong password get the same reply, and the session
//! gives both the same delay.

use std::io::Write;

use crate::accounts::users::UserName;
use crate::pop3::command::Credential;
use crate::pop3::sasl::{self, SaslError};
use crate::pop3::session::{ok_and_continue, Pop3Flow, Pop3Handled, Pop3Refusal, Pop3Session, Pop3State, Transaction};
use crate::shared::audit::{self, AuthFailure, RemoteIp};
use crate::shared::sessions::LoginRecord;
use crate::shared::stats::LoginResult;
use crate::storage::maildrop::{Maildrop, OpenError};
use crate::wire::reply::{self, Failure, ResponseCode};

/// True if USER/PASS and AUTH PLAIN are allowed on this connection.
pub(crate) fn plaintext_login_allowed(session: &Pop3Session<'_>) -> bool {
    session.link.tls || session.shared.plaintext_auth.allows(session.link.loopback)
}

/// True if CAPA should offer STLS: TLS is configured, not yet active, and
/// nobody has logged in.
pub(crate) fn offers_stls(session: &Pop3Session<'_>) -> bool {
    session.shared.tls.is_some() && !session.link.tls && matches!(session.state, Pop3State::Authorization(_))
}

/// USER: remembers the name for PASS.
pub(crate) fn user(session: &mut Pop3Session<'_>, name: Credential, out: &mut impl Write) -> Pop3Handled {
    refuse_cleartext(session)?;
    let authorization = session.state.authorization()?;
    // A name that can never exist (not even text, or not a legal name) is
    // refused here; an unknown but valid one is accepted so that USER does
    // not reveal which users exist.
    let name = match name {
        Credential::Text(name) if UserName::parse(&name).is_ok() => name,
        _ => {
            authorization.user = None;
            return Err(Pop3Refusal::Misuse(Failure::with_code(ResponseCode::Auth, "invalid user name")));
        }
    };
    authorization.user = Some(name);
    ok_and_continue(out, "send PASS")
}

/// PASS: logs in the user named by USER.
pub(crate) fn pass(session: &mut Pop3Session<'_>, password: &Credential, out: &mut impl Write) -> Pop3Handled {
    refuse_cleartext(session)?;
    // RFC 1939 §7: after a failed PASS the client starts again with USER.
    let Some(name) = session.state.authorization()?.user.take() else {
        return Err(Pop3Refusal::Misuse(Failure::new("send USER first")));
    };
    match password {
        Credential::Text(password) => log_in(session, &name, password, out),
        // No account's password: the reply and cost of a wrong one.
        Credential::NotText => wrong_credentials(session, &name),
    }
}

/// RFC 5034 AUTH: no mechanism lists them; PLAIN with or without an
/// initial response.
pub(crate) fn auth(
    session: &mut Pop3Session<'_>,
    mechanism: Option<String>,
    initial_response: Option<String>,
    out: &mut impl Write,
) -> Pop3Handled {
    session.state.authorization()?;
    let Some(mechanism) = mechanism else {
        reply::ok(out, "SASL mechanisms follow")?;
        if plaintext_login_allowed(session) {
            reply::data_line(out, sasl::PLAIN)?;
        }
        reply::end_of_data(out)?;
        return Ok(Pop3Flow::Continue);
    };
    if mechanism != sasl::PLAIN {
        return Err(Pop3Refusal::Failed(Failure::new(format!("unsupported SASL mechanism {mechanism}"))));
    }
    refuse_cleartext(session)?;
    match initial_response {
        Some(response) => finish_plain(session, &response, out),
        None => {
            session.state.authorization()?.awaiting_plain_response = true;
            // RFC 5034 §4: an empty challenge.
            out.write_all(b"+ \r\n")?;
            Ok(Pop3Flow::Continue)
        }
    }
}

/// The line after `AUTH PLAIN`: the credentials, or `*` to cancel.
pub(crate) fn sasl_response(session: &mut Pop3Session<'_>, line: &[u8], out: &mut impl Write) -> Pop3Handled {
    session.state.authorization()?.awaiting_plain_response = false;
    let response = String::from_utf8_lossy(line);
    if response == "*" {
        return Err(Pop3Refusal::Failed(Failure::new("authentication cancelled")));
    }
    finish_plain(session, &response, out)
}

/// STLS: only before login and only once (RFC 2595 §4). The connection
/// loop runs the handshake once the `+OK` is flushed.
pub(crate) fn stls(session: &mut Pop3Session<'_>, out: &mut impl Write) -> Pop3Handled {
    session.state.authorization()?;
    if session.shared.tls.is_none() {
        return Err(Pop3Refusal::Failed(Failure::new("STLS is not available: TLS is not configured")));
    }
    if session.link.tls {
        return Err(Pop3Refusal::Misuse(Failure::new("TLS is already active")));
    }
    reply::ok(out, "begin TLS negotiation")?;
    Ok(Pop3Flow::StartTls)
}

fn refuse_cleartext(session: &Pop3Session<'_>) -> Result<(), Pop3Refusal> {
    if plaintext_login_allowed(session) {
        return Ok(());
    }
    let advice = if session.shared.tls.is_some() { "use STLS first" } else { "ask the administrator to enable TLS" };
    Err(Pop3Refusal::Failed(Failure::with_code(
        ResponseCode::Auth,
        format!("cleartext login is disabled on unencrypted connections; {advice}"),
    )))
}

fn finish_plain(session: &mut Pop3Session<'_>, response: &str, out: &mut impl Write) -> Pop3Handled {
    match sasl::decode_plain(response) {
        Ok(credentials) => log_in(session, &credentials.user, &credentials.password, out),
        Err(error @ (SaslError::BadBase64 | SaslError::Malformed)) => {
            Err(Pop3Refusal::Misuse(Failure::new(error.to_string())))
        }
        Err(error @ SaslError::ProxyNotAllowed) => {
            let shared = session.shared;
            audit::auth_failed(&shared.stats, session.service, session.client, "", AuthFailure::Proxy);
            Err(Pop3Refusal::LoginFailed(Failure::with_code(ResponseCode::Auth, error.to_string())))
        }
    }
}

/// The refusal of a wrong user name or password, the same for both: logged
/// for ban tools, then delayed and counted by the session.
fn wrong_credentials(session: &mut Pop3Session<'_>, name: &str) -> Pop3Handled {
    let shared = session.shared;
    audit::auth_failed(&shared.stats, session.service, session.client, name, AuthFailure::Password);
    session.state.authorization()?.failed_name = Some(name.to_owned());
    Err(Pop3Refusal::LoginFailed(Failure::with_code(ResponseCode::Auth, "invalid user name or password")))
}

/// Checks the credentials, locks and opens the maildrop, and enters the
/// TRANSACTION state.
fn log_in(session: &mut Pop3Session<'_>, name: &str, password: &str, out: &mut impl Write) -> Pop3Handled {
    let shared = session.shared;
    let Some((account, user)) = shared.users.authenticate(name, password) else {
        return wrong_credentials(session, name);
    };
    let maildir = match shared.maildir_of(&user) {
        Ok(maildir) => maildir,
        Err(error) => {
            log::error!("{user} cannot log in: mail location {}: {error}", shared.mail_location);
            return Err(Failure::with_code(ResponseCode::SysPerm, "no maildrop for this user").into());
        }
    };
    let maildrop = match Maildrop::open(&maildir, &shared.uidl_format) {
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
    log::info!("{user} logged in from {}, {count} messages ({octets} octets)", RemoteIp(session.client));
    shared.stats.pop3_logins.increment(LoginResult::Success);
    if let Some(entry) = &session.live {
        let tls = session.link.tls;
        entry.logged_in(LoginRecord { user: user.clone(), client: session.client, tls, since: session.connected });
    }
    session.activity.user = Some(user.clone());
    session.state = Pop3State::Transaction(Box::new(Transaction { user, account, maildrop }));
    ok_and_continue(out, format_args!("maildrop has {count} messages ({octets} octets)"))
}
