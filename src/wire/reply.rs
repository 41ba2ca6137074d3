//! Formatting of status lines and multi-line replies, shared by POP3 and MGMT.
//!
//! Both protocols answer `+OK text` or `-ERR text`, optionally followed by
//! data lines closed by a line holding a single "." (RFC 1939 §3). This is
//! the only place that writes those shapes; callers pass any `Write` (the
//! connection's reply buffer, or a `Vec` in tests) and never format a status
//! line by hand.

use std::fmt;
use std::io::{self, Write};

/// Extended response codes (RFC 2449 §8, RFC 3206), written in brackets
/// right after `-ERR` so a client can tell why it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseCode {
    /// The maildrop is locked by another session (RFC 2449 §8.1.1).
    InUse,
    /// The credentials were wrong (RFC 3206 §5).
    Auth,
    /// A temporary server-side problem: try again later (RFC 3206 §4).
    SysTemp,
    /// A permanent server-side problem (RFC 3206 §4).
    SysPerm,
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResponseCode::InUse => "[IN-USE]",
            ResponseCode::Auth => "[AUTH]",
            ResponseCode::SysTemp => "[SYS/TEMP]",
            ResponseCode::SysPerm => "[SYS/PERM]",
        })
    }
}

/// A failed command: the optional code and the reason shown after `-ERR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: Option<ResponseCode>,
    pub reason: String,
}

impl Failure {
    pub fn new(reason: impl Into<String>) -> Self {
        Self { code: None, reason: reason.into() }
    }

    pub fn with_code(code: ResponseCode, reason: impl Into<String>) -> Self {
        Self { code: Some(code), reason: reason.into() }
    }

    /// Writes this failure as one `-ERR` line.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        match self.code {
            Some(code) => write!(out, "-ERR {code} {}\r\n", self.reason),
            None => write!(out, "-ERR {}\r\n", self.reason),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{code} {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// Writes `+OK text`, or a bare `+OK` when `text` is empty.
pub fn ok(out: &mut impl Write, text: impl fmt::Display) -> io::Result<()> {
    let text = text.to_string();
    if text.is_empty() {
        out.write_all(b"+OK\r\n")
    } else {
        write!(out, "+OK {text}\r\n")
    }
}

/// Writes one data line of a multi-line reply, byte-stuffing a leading ".".
pub fn data_line(out: &mut impl Write, line: impl fmt::Display) -> io::Result<()> {
    let line = line.to_string();
    if line.starts_with('.') {
        out.write_all(b".")?;
    }
    write!(out, "{line}\r\n")
}

/// Writes the "." line that closes a multi-line reply.
pub fn end_of_data(out: &mut impl Write) -> io::Result<()> {
    out.write_all(b".\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn status_lines_have_their_exact_shape() {
        assert_eq!(written(|o| ok(o, "2 320")), "+OK 2 320\r\n");
        assert_eq!(written(|o| ok(o, "")), "+OK\r\n");
        assert_eq!(written(|o| Failure::new("no such message").write_to(o)), "-ERR no such message\r\n");
        assert_eq!(
            written(|o| Failure::with_code(ResponseCode::InUse, "maildrop busy").write_to(o)),
            "-ERR [IN-USE] maildrop busy\r\n"
        );
    }

    #[test]
    fn data_lines_are_stuffed_and_closed() {
        let text = written(|o| {
            data_line(o, "TOP")?;
            data_line(o, ".hidden")?;
            end_of_data(o)
        });
        assert_eq!(text, "TOP\r\n..hidden\r\n.\r\n");
    }
}
