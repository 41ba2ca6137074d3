//! What an authenticated admin can ask for, one family of commands per
//! file: [`queries`] read counters and lists, [`settings`] change the
//! server's limits, [`users`] change accounts and save the users file,
//! [`sessions`] list and end live POP3 sessions.
//!
//! A handler gets the [`MgmtRequest`], its typed arguments, and a `Write`
//! for its reply. It never sees a socket, and it refuses by returning an
//! [`MgmtError`](super::error::MgmtError) before writing anything, so a
//! refusal is always exactly one `-ERR` line, written by the session.

pub mod queries;
pub mod sessions;
pub mod settings;
pub mod users;

use super::verbs::MgmtVerb;
use super::Context;

/// One command being answered: what every handler needs besides its
/// arguments.
pub struct MgmtRequest<'a> {
    /// The server the admin manages.
    pub context: &'a Context,
    /// Where the admin connected from, for log lines.
    pub peer: &'a str,
    /// The verb being answered, echoed in the `+OK` line.
    pub verb: MgmtVerb,
}
