//! STAT, LIST and UIDL (RFC 1939 §5, §7): what the maildrop holds, by count,
//! size and unique-id.
//!
//! These handlers only read the maildrop's list: they must never open a
//! message file, mark a message or change the state.

use std::fmt::Write as _;
use std::io::Write;

use super::message_failure;
use crate::pop3::command::MessageNumber;
use crate::pop3::session::{ok_and_continue, Pop3Flow, Pop3Handled};
use crate::storage::maildrop::{Maildrop, Message};
use crate::wire::reply;

/// STAT: "+OK count octets" of the messages not marked deleted.
pub(crate) fn stat(maildrop: &Maildrop, out: &mut impl Write) -> Pop3Handled {
    let (count, octets) = maildrop.stat();
    ok_and_continue(out, format_args!("{count} {octets}"))
}

/// LIST: each message's size as RETR will send it (RFC 1939 §11).
pub(crate) fn list(maildrop: &Maildrop, number: Option<MessageNumber>, out: &mut impl Write) -> Pop3Handled {
    listing(maildrop, number, out, |message| message.size().to_string())
}

/// UIDL: each message's unique-id.
pub(crate) fn uidl(maildrop: &Maildrop, number: Option<MessageNumber>, out: &mut impl Write) -> Pop3Handled {
    listing(maildrop, number, out, Message::uidl)
}

/// LIST and UIDL share one shape (RFC 1939 §5, §7): with an argument a
/// one-line "+OK n value", without it a multi-line "n value" listing of
/// every message not marked deleted.
fn listing(
    maildrop: &Maildrop,
    number: Option<MessageNumber>,
    out: &mut impl Write,
    value: impl Fn(&Message) -> String,
) -> Pop3Handled {
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
