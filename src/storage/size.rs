//! A message's size as a mail client sees it: every line ended by CRLF.
//!
//! Maildir files usually end lines with a bare LF; on the wire (and in
//! Dovecot's `,W=` file-name field) each line ends with CRLF, so a message's
//! size is its file size plus one octet per bare LF, plus a CRLF for an
//! unterminated last line. RFC 1939 §11 asks for that size (before
//! byte-stuffing) in STAT, LIST and the `+OK` of RETR. It is computed here,
//! chunk by chunk, without holding the message; the POP3 encoder's tests
//! check that it matches what RETR sends.

use memchr::{memchr_iter, memmem};

/// Counts a message's octets with every line ending a CRLF.
#[derive(Debug, Clone, Default)]
pub struct VirtualSize {
    total: u64,
    last_byte: Option<u8>,
}

impl VirtualSize {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, chunk: &[u8]) {
        let Some(&last) = chunk.last() else { return };
        let newlines = memchr_iter(b'\n', chunk).count();
        let mut crlfs = memmem::find_iter(chunk, b"\r\n").count();
        if self.last_byte == Some(b'\r') && chunk[0] == b'\n' {
            crlfs += 1;
        }
        // Every bare LF grows by one octet when it becomes CRLF.
        self.total += (chunk.len() + newlines - crlfs) as u64;
        self.last_byte = Some(last);
    }

    /// The final size: an unterminated last line gains its CRLF (or just
    /// the LF, when it already ends in CR).
    pub fn finish(&self) -> u64 {
        match self.last_byte {
            None | Some(b'\n') => self.total,
            Some(b'\r') => self.total + 1,
            Some(_) => self.total + 2,
        }
    }
}
