//! The POP3 command handlers, one file per command family, each called from
//! the one dispatch in [`Pop3Session`](super::session::Pop3Session):
//!
//! - [`login`]: USER, PASS, AUTH and STLS (the AUTHORIZATION state), and
//!   the one login path they share.
//! - [`listing`]: STAT, LIST and UIDL.
//! - [`fetching`]: RETR and TOP.
//! - [`deleting`]: DELE, RSET and QUIT (the UPDATE state).
//!
//! CAPA is here, because it speaks for every family: TOP, UIDL, the login
//! mechanisms, STLS. So is the one `-ERR` text for a message number that
//! cannot be used, which listing, fetching and deleting share.
//!
//! A handler writes its reply to any `Write` and never sees a socket, never
//! flushes, never sleeps and never counts a refusal: it returns a
//! [`Pop3Refusal`](super::session::Pop3Refusal) and the session decides
//! what that costs.

pub(crate) mod deleting;
pub(crate) mod fetching;
pub(crate) mod listing;
pub(crate) mod login;

use std::io::Write;

use super::command::MessageNumber;
use super::session::{Pop3Flow, Pop3Handled, Pop3Session};
use crate::storage::maildrop::MessageError;
use crate::wire::reply::{self, Failure, ResponseCode};

const IMPLEMENTATION: &str = concat!("IMPLEMENTATION pop3d-", env!("CARGO_PKG_VERSION"));

/// CAPA (RFC 2449 §5): only what this server really does, on this
/// connection, in this state.
pub(crate) fn capa(session: &Pop3Session<'_>, out: &mut impl Write) -> Pop3Handled {
    reply::ok(out, "Capability list follows")?;
    let mut capabilities = vec!["TOP", "UIDL"];
    if login::plaintext_login_allowed(session) {
        capabilities.extend(["USER", "SASL PLAIN"]);
    }
    if login::offers_stls(session) {
        capabilities.push("STLS");
    }
    capabilities.extend(["RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "EXPIRE NEVER", IMPLEMENTATION]);
    for capability in capabilities {
        reply::data_line(out, capability)?;
    }
    reply::end_of_data(out)?;
    Ok(Pop3Flow::Continue)
}

/// The `-ERR` for a message `number` the maildrop would not give.
fn message_failure(number: MessageNumber, error: MessageError) -> Failure {
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
