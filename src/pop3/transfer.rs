//! Streaming a message file to the client for RETR and TOP.
//!
//! The file is read through one fixed buffer (4 KiB by default, as the
//! original measured best) and each chunk is encoded (CRLF, byte-stuffing)
//! into a reused output buffer and written with one call, never per line.
//! Memory stays a few KiB whatever the message size.

use std::io::{self, Read, Write};

use crate::pop3::encode::MessageEncoder;

/// Sends the body of `message` through `encoder`, ending with "." CRLF.
///
/// # Errors
/// Any read or write error. The "+OK" line has gone out before this runs,
/// so the caller must end the connection: the reply cannot be taken back.
pub fn send_message(
    message: &mut impl Read,
    mut encoder: MessageEncoder,
    out: &mut impl Write,
    buffer_size: usize,
) -> io::Result<()> {
    let mut input = vec![0; buffer_size];
    let mut encoded = Vec::with_capacity(buffer_size * 2 + 8);
    while !encoder.is_finished() {
        let read = match message.read(&mut input) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        encoded.clear();
        encoder.encode(&input[..read], &mut encoded);
        out.write_all(&encoded)?;
    }
    encoded.clear();
    encoder.finish(&mut encoded);
    out.write_all(&encoded)
}
