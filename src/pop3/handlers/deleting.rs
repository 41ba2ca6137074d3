//! DELE, RSET and QUIT (RFC 1939 §5, §6): marking messages for deletion,
//! unmarking them, and the UPDATE state that QUIT enters.
//!
//! DELE and RSET only change marks in memory. QUIT from TRANSACTION is the
//! one way a message ever leaves the disk ([`Maildrop::commit`]); nothing
//! here may remove a file any other way.

use std::io::Write;

use super::message_failure;
use crate::pop3::command::MessageNumber;
use crate::pop3::session::{ok_and_continue, Activity, Pop3Flow, Pop3Handled, Pop3State};
use crate::storage::maildrop::Maildrop;
use crate::wire::reply::{self, Failure, ResponseCode};

/// DELE: marks message `number`; QUIT will remove it. Only the mark is
/// made here, so nothing is counted as deleted yet.
pub(crate) fn dele(maildrop: &mut Maildrop, number: MessageNumber, out: &mut impl Write) -> Pop3Handled {
    maildrop.mark_deleted(number).map_err(|e| message_failure(number, e))?;
    ok_and_continue(out, format_args!("message {number} deleted"))
}

/// RSET: unmarks every message.
pub(crate) fn rset(maildrop: &mut Maildrop, out: &mut impl Write) -> Pop3Handled {
    maildrop.reset();
    let (count, octets) = maildrop.stat();
    ok_and_continue(out, format_args!("maildrop has {count} messages ({octets} octets)"))
}

/// QUIT, in either state. It takes the session's `state` by value: in
/// TRANSACTION the commit consumes the maildrop, releasing its lock.
///
/// The order is what lets a client log in again the moment it reads the
/// `+OK`: the commit removes the files, the maildrop (and with it the lock
/// file) is gone when `commit` returns, and only then is the reply written;
/// it leaves with the connection loop's last flush, later still.
pub(crate) fn quit(state: Pop3State, activity: &mut Activity, out: &mut impl Write) -> Pop3Handled {
    let Pop3State::Transaction(transaction) = state else {
        reply::ok(out, "bye")?;
        return Ok(Pop3Flow::Quit);
    };
    // RFC 1939 §6: the UPDATE state, entered only through QUIT.
    let report = transaction.maildrop.commit();
    // The closing log line counts what was removed, never mere marks.
    activity.deleted = report.removed as u64;
    if report.failed > 0 {
        Failure::with_code(ResponseCode::SysTemp, format!("{} deleted messages not removed", report.failed))
            .write_to(out)?;
        return Ok(Pop3Flow::Quit);
    }
    reply::ok(out, format_args!("bye, {} messages deleted", report.removed))?;
    Ok(Pop3Flow::Quit)
}
