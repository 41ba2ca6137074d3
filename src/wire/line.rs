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
    /// A complete line is in the caller's buffer, without its CRLF or LF.
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
/// Accepts both CRLF and a bare LF as the end of a line, as lenient servers
/// do for clients typing into netcat. Bytes arriving one at a time work the
/// same as a whole packet.
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
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            // A bare LF is judged as if it were CRLF.
            if too_long || line.len() + 2 > MAX_LINE_OCTETS {
                line.clear();
                return Ok(LineRead::TooLong);
            }
            return Ok(LineRead::Line);
        }
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

    /// The obvious reference: split on LF, strip one CR, judge length.
    fn naive(input: &[u8]) -> Vec<Result<Vec<u8>, LineRead>> {
        let mut out = Vec::new();
        let mut rest = input;
        while let Some(index) = rest.iter().position(|&b| b == b'\n') {
            let mut line = rest[..index].to_vec();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() + 2 > MAX_LINE_OCTETS {
                out.push(Err(LineRead::TooLong));
            } else {
                out.push(Ok(line));
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

    #[test]
    fn a_line_of_exactly_255_octets_with_crlf_is_accepted() {
        let mut input = vec![b'a'; MAX_LINE_OCTETS - 2];
        input.extend_from_slice(b"\r\n");
        assert_eq!(read_all(&input, 7), vec![Ok(vec![b'a'; MAX_LINE_OCTETS - 2])]);
        let mut over = vec![b'a'; MAX_LINE_OCTETS - 1];
        over.extend_from_slice(b"\r\n");
        assert_eq!(read_all(&over, 7), vec![Err(LineRead::TooLong)]);
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
