//! STAT, LIST and UIDL (RFC 1939 §5, §7): what the maildrop holds, by count,
//! size and unique-id.
//!
//! These handlers only read the maildrop's list: they must never open a
//! message file, mark a message or change the state.

use std::io::Write;

use super::message_failure;
use crate::pop3::command::MessageNumber;
use crate::pop3::session::{ok_and_continue, Pop3Flow, Pop3Handled};
use crate::storage::maildrop::{Maildrop, Message};
use crate::wire::number::push_decimal;
use crate::wire::reply;

/// STAT: "+OK count octets" of the messages not marked deleted.
pub(crate) fn stat(maildrop: &Maildrop, out: &mut impl Write) -> Pop3Handled {
    let (count, octets) = maildrop.stat();
    ok_and_continue(out, format_args!("{count} {octets}"))
}

/// LIST: each message's size as RETR will send it (RFC 1939 §11).
pub(crate) fn list(maildrop: &Maildrop, number: Option<MessageNumber>, out: &mut impl Write) -> Pop3Handled {
    listing(maildrop, number, out, |message, line| push_decimal(line, message.size()))
}

/// UIDL: each message's unique-id.
pub(crate) fn uidl(maildrop: &Maildrop, number: Option<MessageNumber>, out: &mut impl Write) -> Pop3Handled {
    listing(maildrop, number, out, |message, line| line.extend_from_slice(message.uidl_bytes()))
}

/// LIST and UIDL share one shape (RFC 1939 §5, §7): with an argument a
/// one-line "+OK n value", without it a multi-line "n value" listing of
/// every message not marked deleted. `value` appends a message's value to
/// the line. Each line starts with a digit, so none needs byte-stuffing,
/// and each is built in one reused buffer: a listing of thousands of
/// messages allocates nothing per line.
fn listing(
    maildrop: &Maildrop,
    number: Option<MessageNumber>,
    out: &mut impl Write,
    value: impl Fn(Message<'_>, &mut Vec<u8>),
) -> Pop3Handled {
    let mut line = Vec::with_capacity(128);
    if let Some(number) = number {
        let message = maildrop.message(number).map_err(|e| message_failure(number, e))?;
        value(message, &mut line);
        return ok_and_continue(out, format_args!("{number} {}", String::from_utf8_lossy(&line)));
    }
    let (count, octets) = maildrop.stat();
    reply::ok(out, format_args!("{count} messages ({octets} octets)"))?;
    for (number, message) in maildrop.live_messages() {
        line.clear();
        push_decimal(&mut line, u64::from(number.get()));
        line.push(b' ');
        value(message, &mut line);
        line.extend_from_slice(b"\r\n");
        out.write_all(&line)?;
    }
    reply::end_of_data(out)?;
    Ok(Pop3Flow::Continue)
}
