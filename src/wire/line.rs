//! Bounded line framing for the text protocols (POP3 and MGMT alike).
//!
//! RFC 2449 §4 caps a command line at 255 octets including the CRLF. This
//! module reads one line at a time from any `BufRead` without ever holding
//! more than that limit: a longer line is reported as [`LineRead::TooLong`]
//! and the rest of it is discarded as it arrives, so megabytes without a
//! newline cost a session nothing but the time to skip them. It never parses
//! what is inside a line.

use std::io::{self, BufRead};

/// RFC 2449 §4: "commands ... may be up to 255 octets, including the
/// terminating CRLF".
pub const MAX_LINE_OCTETS: usize = 255;

/// What one call to [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum LineRead {
    /// A complete line is in the caller's buffer, without its line ending
    /// (the LF and every CR right before it).
    Line,
    /// The line was longer than [`MAX_LINE_OCTETS`]; it has been discarded
    /// up to and including its newline.
    TooLong,
    /// The peer closed the connection. Any partial line is dropped: a
    /// command without its newline was never sent.
    Eof,
}

/// Reads the next line into `line` (cleared first), without its line ending.
///
/// A line ends at LF. Every CR right before that LF belongs to the line
/// ending, so CRLF, a bare LF (clients typing into netcat) and CR CR LF (a
/// CRLF written through a text-mode stream that turns LF into CRLF again)
/// all end a line the same way, for every command of either protocol. Arguments
/// are printable text (RFC 1939 §3), so a CR at the end of one is never
/// meant, and a command must not work or fail by its client's line ending
/// (before this rule `LIST 1` took CR CR LF and `QUIT` did not). A CR
/// anywhere else stays in the line, for the parsers to judge.
///
/// The RFC 2449 cap counts the line as sent, every octet before the LF
/// included, with a bare LF judged as if it were CRLF. Bytes arriving one
/// at a time work the same as a whole packet.
///
/// # Errors
/// Returns the underlying I/O error, including the `WouldBlock`/`TimedOut`
/// raised by a socket read timeout.
pub fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<LineRead> {
    line.clear();
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(LineRead::Eof);
        }
        let (chunk, found_newline) = match memchr::memchr(b'\n', available) {
            Some(index) => (&available[..index], true),
            None => (available, false),
        };
        let consumed = chunk.len() + usize::from(found_newline);
        // Room for the longest legal content plus the CR of its CRLF.
        if !too_long && line.len() + chunk.len() > MAX_LINE_OCTETS - 1 {
            too_long = true;
            line.clear();
        } else if !too_long {
            line.extend_from_slice(chunk);
        }
        reader.consume(consumed);
        if found_newline {
            if too_long || octets_with_crlf(line) > MAX_LINE_OCTETS {
                line.clear();
                return Ok(LineRead::TooLong);
            }
            strip_line_ending(line);
            return Ok(LineRead::Line);
        }
    }
}

/// The octets `content` (a line before its LF) took on the wire with its
/// line ending, a bare LF counted as the two octets of CRLF.
fn octets_with_crlf(content: &[u8]) -> usize {
    content.len() + if content.ends_with(b"\r") { 1 } else { 2 }
}

/// Drops every CR at the end of `content`: see [`read_line`].
fn strip_line_ending(content: &mut Vec<u8>) {
    while content.last() == Some(&b'\r') {
        content.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    /// A reader that hands out its bytes a few at a time, to prove framing
    /// does not depend on how the bytes were split into packets.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(self.data.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn read_all(input: &[u8], step: usize) -> Vec<Result<Vec<u8>, LineRead>> {
        let mut reader = BufReader::with_capacity(16, Trickle { data: input, step });
        let mut line = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line(&mut reader, &mut line).unwrap() {
                LineRead::Line => out.push(Ok(line.clone())),
                LineRead::TooLong => out.push(Err(LineRead::TooLong)),
                LineRead::Eof => return out,
            }
        }
    }

    /// The obvious reference: split on LF, judge the length with one CR
    /// (or the bare LF) counted as the CRLF, strip every CR before the LF.
    fn naive(input: &[u8]) -> Vec<Result<Vec<u8>, LineRead>> {
        let mut out = Vec::new();
        let mut rest = input;
        while let Some(index) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..index];
            let with_crlf = line.strip_suffix(b"\r").unwrap_or(line).len() + 2;
            if with_crlf > MAX_LINE_OCTETS {
                out.push(Err(LineRead::TooLong));
            } else {
                let end = line.iter().rposition(|&b| b != b'\r').map_or(0, |last| last + 1);
                out.push(Ok(line[..end].to_vec()));
            }
            rest = &rest[index + 1..];
        }
        out
    }

    #[test]
    fn matches_the_naive_reference_at_every_packet_size() {
        let long = vec![b'x'; 300];
        let limit = vec![b'y'; MAX_LINE_OCTETS - 2];
        let over = vec![b'z'; MAX_LINE_OCTETS - 1];
        let mut inputs: Vec<Vec<u8>> = vec![
            b"USER a\r\nPASS b\r\n".to_vec(),
            b"NOOP\nLIST\r\n\r\n".to_vec(),
            b"partial".to_vec(),
            b"\r\r\n\n".to_vec(),
            b"QUIT\r\r\nLIST 1\r\r\r\nNO\rOP\r\n\r".to_vec(),
        ];
        for body in [&long, &limit, &over] {
            let mut input = body.clone();
            input.extend_from_slice(b"\r\nNOOP\r\n");
            inputs.push(input);
            let mut bare = body.clone();
            bare.extend_from_slice(b"\nQUIT\n");
            inputs.push(bare);
        }
        for input in &inputs {
            for step in 1..=input.len().max(1) {
                assert_eq!(read_all(input, step), naive(input), "input {input:?} step {step}");
            }
        }
    }

    /// A line as sent may have 255 octets, every CR before its LF included
    /// and a bare LF counted as CRLF; one more is too long.
    #[test]
    fn a_line_of_exactly_255_octets_is_accepted_whatever_its_ending() {
        for ending in [&b"\r\n"[..], b"\n", b"\r\r\n"] {
            let room = MAX_LINE_OCTETS - ending.len().max(2);
            for (length, expected) in [(room, Ok(vec![b'a'; room])), (room + 1, Err(LineRead::TooLong))] {
                let mut input = vec![b'a'; length];
                input.extend_from_slice(ending);
                assert_eq!(read_all(&input, 7), vec![expected], "{length} octets and {ending:?}");
            }
        }
    }

    /// Every CR right before the LF is line ending; a CR elsewhere stays.
    #[test]
    fn every_cr_before_the_lf_is_line_ending() {
        assert_eq!(read_all(b"QUIT\r\r\n", 3), vec![Ok(b"QUIT".to_vec())]);
        assert_eq!(read_all(b"A\rB\r\r\r\n\r\n", 2), vec![Ok(b"A\rB".to_vec()), Ok(Vec::new())]);
    }

    #[test]
    fn megabytes_without_newline_keep_the_buffer_small() {
        let input = vec![b'A'; 4 << 20];
        let mut reader = BufReader::with_capacity(4096, &input[..]);
        let mut line = Vec::new();
        assert_eq!(read_line(&mut reader, &mut line).unwrap(), LineRead::Eof);
        assert!(line.capacity() <= 2 * 4096, "held {} bytes", line.capacity());
    }
}
