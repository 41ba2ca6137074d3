//! The commands about live POP3 sessions, as `doveadm who` and `doveadm
//! kick` are for Dovecot: `WHO` lists who is logged in, `KICK` ends one
//! user's sessions.
//!
//! Both read the live list in [`crate::shared::sessions`], which also says
//! what a kicked session does: it is woken from its read, answers
//! `-ERR [SYS/TEMP]` and closes without entering UPDATE, so its DELE marks
//! are dropped and its maildrop lock released. A command in flight, such
//! as a long RETR, finishes first, final "." included.

use std::io::Write;

use super::queries::reply_with_data;
use super::MgmtRequest;
use crate::mgmt::error::MgmtError;
use crate::shared::audit::RemoteIp;
use crate::shared::sessions::SessionSummary;
use crate::wire::reply;

/// `SESSION COUNT: n`, then one line per logged-in session, longest
/// connected first: `<user> <client address> tls=yes|no seconds=<n>`.
pub fn who(request: &MgmtRequest<'_>, out: &mut impl Write) -> Result<(), MgmtError> {
    let sessions = request.context.shared.shutdown.sessions.who();
    let header = format!("SESSION COUNT: {}", sessions.len());
    let lines = std::iter::once(header).chain(sessions.iter().map(who_line));
    Ok(reply_with_data(out, request.verb, lines)?)
}

fn who_line(session: &SessionSummary) -> String {
    format!(
        "{} {} tls={} seconds={}",
        session.user,
        RemoteIp(session.client),
        if session.tls { "yes" } else { "no" },
        session.connected.as_secs()
    )
}

/// Ends every POP3 session of `name` (matched as logins match it) and says
/// how many there were; none is not an error.
pub fn kick(request: &MgmtRequest<'_>, name: &str, out: &mut impl Write) -> Result<(), MgmtError> {
    let shared = &request.context.shared;
    let kicked = shared.users.normalize(name).map_or(0, |user| shared.shutdown.sessions.kick(&user));
    log::info!("MGMT {}: kicked {kicked} sessions of {name:?}", request.peer);
    Ok(reply::ok(out, format_args!("{} {kicked} SESSIONS ENDED", request.verb))?)
}
