//! The commands that change the server's limits while it runs: the POP3
//! connection cap, the most users the table may hold, and a pause of POP3.
//!
//! The parser has already checked that each argument is a number; the
//! ranges, which depend on the running server, are checked here.

use std::io::Write;
use std::time::Duration;

use super::MgmtRequest;
use crate::mgmt::error::MgmtError;
use crate::mgmt::protocol::MAX_PAUSE_SECS;
use crate::shared::pause::PauseGate;
use crate::wire::reply;

/// The same bound `--max-users` has.
const MAX_USERS_LIMIT: u64 = u32::MAX as u64;

/// Sets the POP3 connection cap, up to the hard limit fixed at start-up.
pub fn max_connec(request: &MgmtRequest<'_>, connections: u64, out: &mut impl Write) -> Result<(), MgmtError> {
    let limit = &request.context.shared.connections;
    let hard_max = limit.hard_max();
    let max = usize::try_from(connections).map_err(|_| MgmtError::MaxConnectionsOutOfRange { hard_max })?;
    limit.set_max(max).map_err(|error| MgmtError::MaxConnectionsOutOfRange { hard_max: error.hard_max })?;
    log::info!("MGMT {}: max connections set to {max}", request.peer);
    Ok(reply::ok(out, format_args!("{} CHANGED", request.verb))?)
}

/// Sets the most users the table may hold, never below how many it has.
pub fn max_users(request: &MgmtRequest<'_>, users: u64, out: &mut impl Write) -> Result<(), MgmtError> {
    if users > MAX_USERS_LIMIT {
        return Err(MgmtError::MaxUsersTooLarge { limit: MAX_USERS_LIMIT });
    }
    request.context.shared.users.set_max_users(users as usize)?;
    log::info!("MGMT {}: max users set to {users}", request.peer);
    Ok(reply::ok(out, format_args!("{} CHANGED SUCCESSFULLY", request.verb))?)
}

/// Pauses POP3 for `seconds` and answers once the pause is over. Only this
/// admin's thread sleeps, and it holds no lock while it does.
pub fn pause_pop3(request: &MgmtRequest<'_>, seconds: u64, out: &mut impl Write) -> Result<(), MgmtError> {
    if !(1..=MAX_PAUSE_SECS).contains(&seconds) {
        return Err(MgmtError::PauseOutOfRange);
    }
    // Logged once the pause is on, so the log never runs ahead of it.
    let end = request.context.shared.pause.begin(Duration::from_secs(seconds));
    log::info!("MGMT {}: POP3 paused for {seconds} s", request.peer);
    out.flush()?;
    PauseGate::sleep_until(end);
    log::info!("MGMT {}: POP3 pause over", request.peer);
    Ok(reply::ok(out, format_args!("{} COMPLETED", request.verb))?)
}
