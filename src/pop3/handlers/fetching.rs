//! RETR and TOP (RFC 1939 §7): one message file streamed to the client.
//!
//! [`send_message`] is the whole reply: the `+OK` line, the body read
//! through one fixed buffer (`retr_buffer`, 4 KiB by default) and encoded
//! chunk by chunk (CRLF line ends, byte-stuffing) into a reused output
//! buffer that is written with one call per chunk, never per line, and the
//! final "." line. Memory stays a few KiB whatever the message size.
//!
//! The size announced is a promise (RFC 1939 §11), made before the first
//! octet of the body is read. Another program may still truncate the file,
//! or be still writing it, while it is sent, so the octets read are counted
//! against the file's size as listed: a file that ends early or goes on
//! past it gets no final ".", and the connection ends, so that the client
//! sees a failed download rather than a wrong message passed as whole.
//!
//! This file must never hold a whole message in memory, nor look a message
//! up twice: the maildrop's one lookup gives the open file and its sizes.

use std::cmp::Ordering;
use std::fmt;
use std::io::{self, Read, Write};

use super::message_failure;
use crate::pop3::command::MessageNumber;
use crate::pop3::encode::MessageEncoder;
use crate::pop3::session::{Activity, Pop3Flow, Pop3Handled, Pop3Refusal};
use crate::storage::maildrop::{Maildrop, Message, MessageFile};
use crate::wire::reply;

/// How much of a message the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessagePart {
    /// RETR: all of it, announced with its size.
    Whole,
    /// TOP: the header and this many lines of the body.
    Top(u64),
}

/// Sends message `number` (or its top), from `+OK` to the final ".".
///
/// Once the `+OK` line is out the reply cannot be taken back, so a read or
/// write error after it ends the connection (as every `Io` refusal does),
/// and so does a file that turns out not to hold the octets it was listed
/// with ([`ChangedWhileSent`]). The session ends with the connection,
/// without UPDATE: nothing marked for deletion in it is removed.
pub(crate) fn send_message(
    maildrop: &mut Maildrop,
    number: MessageNumber,
    part: MessagePart,
    buffer_size: usize,
    activity: &mut Activity,
    out: &mut impl Write,
) -> Pop3Handled {
    let MessageFile { mut file, size, file_size } =
        maildrop.open_message(number).map_err(|e| message_failure(number, e))?;
    let mut encoder = match part {
        MessagePart::Top(lines) => {
            reply::ok(out, "top of message follows")?;
            MessageEncoder::top(lines)
        }
        MessagePart::Whole => {
            reply::ok(out, format_args!("{size} octets"))?;
            MessageEncoder::whole_message()
        }
    };
    let mut input = vec![0; buffer_size];
    let mut encoded = Vec::with_capacity(buffer_size * 2 + 8);
    let mut read_so_far = 0u64;
    while !encoder.is_finished() {
        let read = match file.read(&mut input) {
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error.into()),
        };
        read_so_far += read as u64;
        match (read, read_so_far.cmp(&file_size)) {
            // Ending early, or reading past the listed size: the octets
            // announced (and those on their way) are not this message's.
            (0, Ordering::Less) | (_, Ordering::Greater) => {
                let changed = ChangedWhileSent { number, listed: file_size, read: read_so_far };
                return Err(abandon(changed, maildrop, activity));
            }
            (0, _) => break,
            _ => {}
        }
        encoded.clear();
        encoder.encode(&input[..read], &mut encoded);
        out.write_all(&encoded)?;
    }
    encoded.clear();
    encoder.finish(&mut encoded);
    out.write_all(&encoded)?;
    if part == MessagePart::Whole {
        activity.retrieved += 1;
    }
    Ok(Pop3Flow::Continue)
}

/// Logs why a reply is left unfinished, naming the message, and turns that
/// into the I/O error that ends the connection.
fn abandon(changed: ChangedWhileSent, maildrop: &Maildrop, activity: &Activity) -> Pop3Refusal {
    let user = activity.user.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
    let uid = maildrop.message(changed.number).map(Message::uidl).unwrap_or_default();
    log::warn!("{changed} (user {user}, UID {uid}); closing the connection without the final \".\"");
    Pop3Refusal::Io(io::Error::new(io::ErrorKind::InvalidData, changed))
}

/// A message file that did not hold the octets it was listed with when it
/// was read to be sent: it was truncated, or something was still writing it.
#[derive(Debug)]
pub(crate) struct ChangedWhileSent {
    number: MessageNumber,
    /// The file's size when the maildrop listed it (and when RETR opened it).
    listed: u64,
    /// Octets read before the change showed.
    read: u64,
}

impl fmt::Display for ChangedWhileSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { number, listed, read } = self;
        if read < listed {
            write!(f, "message {number} shrank while it was sent: its file ended after {read} of {listed} octets")
        } else {
            write!(f, "message {number} grew while it was sent: its file holds more than the {listed} octets listed")
        }
    }
}

impl std::error::Error for ChangedWhileSent {}
