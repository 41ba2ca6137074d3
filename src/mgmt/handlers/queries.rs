//! The commands that only read: the no-op, the capability list, the
//! counters, the user list and the status summary that combines them.
//!
//! Each answers `+OK VERB` (the verb as sent, in capitals), then for a
//! query `KEY: value` data lines and a closing "."; which verbs carry data
//! is the table's [`has_data`](crate::mgmt::verbs::MgmtVerb::has_data).

use std::fmt;
use std::io::{self, Write};

use super::MgmtRequest;
use crate::mgmt::error::MgmtError;
use crate::mgmt::verbs::MgmtVerb;
use crate::shared::Shared;
use crate::wire::reply;

pub fn noop(request: &MgmtRequest<'_>, out: &mut impl Write) -> Result<(), MgmtError> {
    Ok(reply::ok(out, request.verb)?)
}

/// One line per verb: its name and the names of its arguments.
pub fn capa(request: &MgmtRequest<'_>, out: &mut impl Write) -> Result<(), MgmtError> {
    let lines = MgmtVerb::ALL.iter().map(|verb| format!("{verb}{}", verb.usage_suffix()));
    Ok(reply_with_data(out, request.verb, lines)?)
}

pub fn historic_connec(request: &MgmtRequest<'_>, out: &mut impl Write) -> Result<(), MgmtError> {
    Ok(reply_with_data(out, request.verb, [historic(shared(request))])?)
}

pub fn live_connec(request: &MgmtRequest<'_>, out: &mut impl Write) -> Result<(), MgmtError> {
    Ok(reply_with_data(out, request.verb, [live(shared(request))])?)
}

pub fn bytes_trans(request: &MgmtRequest<'_>, out: &mut impl Write) -> Result<(), MgmtError> {
    Ok(reply_with_data(out, request.verb, bytes(shared(request)))?)
}

pub fn users(request: &MgmtRequest<'_>, out: &mut impl Write) -> Result<(), MgmtError> {
    Ok(reply_with_data(out, request.verb, user_list(shared(request)))?)
}

/// Every counter and limit, then the user list.
pub fn status(request: &MgmtRequest<'_>, out: &mut impl Write) -> Result<(), MgmtError> {
    let shared = shared(request);
    let mut lines = vec![historic(shared), live(shared)];
    lines.extend(bytes(shared));
    lines.extend([
        format!("TOTAL USERS: {}", shared.users.len()),
        format!("MAX USERS: {}", shared.users.max_users()),
        format!("MAX CONNECTIONS: {}", shared.connections.max()),
        format!("IDLE TIMEOUT: {}", shared.idle_timeout().as_secs()),
        format!("UPTIME: {}", shared.stats.uptime().as_secs()),
    ]);
    // Last, so that every `KEY: value` line comes before the bare names
    // of the list.
    lines.extend(user_list(shared));
    Ok(reply_with_data(out, request.verb, lines)?)
}

fn shared<'a>(request: &MgmtRequest<'a>) -> &'a Shared {
    &request.context.shared
}

fn historic(shared: &Shared) -> String {
    format!("HISTORIC CONNECTIONS: {}", shared.stats.historic_connections())
}

fn live(shared: &Shared) -> String {
    format!("LIVE CONNECTIONS: {}", shared.connections.live())
}

fn bytes(shared: &Shared) -> [String; 2] {
    [format!("BYTES SENT: {}", shared.stats.bytes_sent()), format!("BYTES RECEIVED: {}", shared.stats.bytes_received())]
}

/// `USER COUNT: n`, `USER LIST:`, then one name per line.
fn user_list(shared: &Shared) -> Vec<String> {
    let names = shared.users.names();
    let header = [format!("USER COUNT: {}", names.len()), "USER LIST:".to_owned()];
    header.into_iter().chain(names.iter().map(ToString::to_string)).collect()
}

/// `+OK VERB`, the data lines, and the closing ".".
pub(super) fn reply_with_data<L: fmt::Display>(
    out: &mut impl Write,
    verb: MgmtVerb,
    lines: impl IntoIterator<Item = L>,
) -> io::Result<()> {
    reply::ok(out, verb)?;
    for line in lines {
        reply::data_line(out, line)?;
    }
    reply::end_of_data(out)
}
