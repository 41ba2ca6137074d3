//! RETR and TOP (RFC 1939 §7): one message file streamed to the client.
//!
//! [`send_message`] is the whole reply: the `+OK` line, the body read
//! through one fixed buffer (`retr_buffer`, 4 KiB by default) and encoded
//! chunk by chunk (CRLF line ends, byte-stuffing) into a reused output
//! buffer that is written with one call per chunk, never per line, and the
//! final "." line. Memory stays a few KiB whatever the message size.
//!
//! This file must never hold a whole message in memory, nor look a message
//! up twice: the maildrop's one lookup gives the open file and its size.

use std::io::{self, Read, Write};

use super::message_failure;
use crate::pop3::command::MessageNumber;
use crate::pop3::encode::MessageEncoder;
use crate::pop3::session::{Activity, Pop3Flow, Pop3Handled};
use crate::storage::maildrop::{Maildrop, MessageFile};
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
/// write error after it ends the connection (as every `Io` refusal does).
pub(crate) fn send_message(
    maildrop: &mut Maildrop,
    number: MessageNumber,
    part: MessagePart,
    buffer_size: usize,
    activity: &mut Activity,
    out: &mut impl Write,
) -> Pop3Handled {
    let MessageFile { mut file, size } = maildrop.open_message(number).map_err(|e| message_failure(number, e))?;
    let mut encoder = match part {
        MessagePart::Top(lines) => {
            reply::ok(out, "top of message follows")?;
            MessageEncoder::top(lines)
        }
        MessagePart::Whole => {
            reply::ok(out, format_args!("{size} octets"))?;
            activity.retrieved += 1;
            MessageEncoder::whole_message()
        }
    };
    let mut input = vec![0; buffer_size];
    let mut encoded = Vec::with_capacity(buffer_size * 2 + 8);
    while !encoder.is_finished() {
        let read = match file.read(&mut input) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error.into()),
        };
        encoded.clear();
        encoder.encode(&input[..read], &mut encoded);
        out.write_all(&encoded)?;
    }
    encoded.clear();
    encoder.finish(&mut encoded);
    out.write_all(&encoded)?;
    Ok(Pop3Flow::Continue)
}
