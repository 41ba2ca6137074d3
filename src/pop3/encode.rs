//! Turning stored message bytes into a POP3 multi-line body, chunk by chunk.
//!
//! RFC 1939 §3: a multi-line response is CRLF-terminated lines, every line
//! that starts with "." gets one more ".", and the response ends with
//! CRLF "." CRLF. Maildir files are usually written with bare LF line ends,
//! so the encoder also turns every bare LF into CRLF and gives a last line
//! without a newline its CRLF.
//!
//! The same rules define a message's size: RFC 1939 §11 asks for the size
//! the message has "in the maildrop" as the client will see it, which here is
//! the octets [`MessageEncoder`] emits *before* byte-stuffing.
//! [`VirtualSize`](crate::storage::size::VirtualSize) computes exactly that
//! without producing output; the tests here hold the two to agreement.
//! Both keep their state across chunk boundaries, so the caller may feed any
//! split of the file (RETR and TOP use 4 KiB).
//!
//! Bytes in, bytes out: this module never reads a file or writes to a
//! socket, and keeps nothing between chunks but a few flags.

use memchr::memchr;

/// Encodes a message (RETR) or its headers plus some body lines (TOP).
#[derive(Debug, Clone)]
pub struct MessageEncoder {
    /// The next content byte begins a line (dot-stuffing decision point).
    at_line_start: bool,
    /// A chunk ended in CR: it is either half of a CRLF or plain content,
    /// which only the next chunk can tell.
    held_cr: bool,
    /// For TOP, how much of the message is wanted.
    top: Option<TopProgress>,
    /// TOP has emitted all it was asked for; the rest of the input is ignored.
    finished: bool,
}

#[derive(Debug, Clone, Copy)]
struct TopProgress {
    in_headers: bool,
    body_lines_left: u64,
}

impl MessageEncoder {
    /// Encodes the whole message (RETR).
    pub fn whole_message() -> Self {
        Self { at_line_start: true, held_cr: false, top: None, finished: false }
    }

    /// Encodes the header, the blank line after it and at most `body_lines`
    /// lines of the body (RFC 1939 §7, TOP). A message without a blank line
    /// is all header.
    pub fn top(body_lines: u64) -> Self {
        let top = TopProgress { in_headers: true, body_lines_left: body_lines };
        Self { top: Some(top), ..Self::whole_message() }
    }

    /// True once TOP has everything it needs: reading further is wasted work.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Appends the encoding of `input` to `out`.
    pub fn encode(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() * 2 + 4);
        if self.held_cr && !input.is_empty() && !self.finished {
            self.held_cr = false;
            if input[0] == b'\n' {
                input = &input[1..];
                self.end_line(out);
            } else {
                out.push(b'\r');
                self.at_line_start = false;
            }
        }
        while !input.is_empty() && !self.finished {
            let (segment, has_newline) = match memchr(b'\n', input) {
                Some(index) => (&input[..index], true),
                None => (input, false),
            };
            input = &input[segment.len() + usize::from(has_newline)..];
            let mut content = segment;
            if let Some((&b'\r', before)) = content.split_last() {
                content = before;
                // Without a newline in this chunk the CR's meaning is unknown.
                self.held_cr = !has_newline;
            }
            if let Some(&first) = content.first() {
                // RFC 1939 §3: byte-stuff a line that begins with ".".
                if self.at_line_start && first == b'.' {
                    out.push(b'.');
                }
                out.extend_from_slice(content);
                self.at_line_start = false;
            }
            if has_newline {
                self.end_line(out);
            }
        }
    }

    /// Ends the body: a CRLF for an unterminated last line, then "." CRLF.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        // A CR at the very end is taken as a line end that lost its LF.
        if !self.finished && (self.held_cr || !self.at_line_start) {
            out.extend_from_slice(b"\r\n");
        }
        self.held_cr = false;
        out.extend_from_slice(b".\r\n");
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n");
        let blank = self.at_line_start;
        self.at_line_start = true;
        if let Some(top) = &mut self.top {
            if top.in_headers {
                top.in_headers = !blank;
            } else {
                top.body_lines_left -= 1;
            }
            self.finished = !top.in_headers && top.body_lines_left == 0;
        }
    }
}

/// The obvious whole-input encoder (RFC 1939 §3 and §7), line by line: the
/// oracle [`MessageEncoder`] is checked against, by the unit tests below and
/// by the `encoder` fuzz target (which builds the library with the
/// `fuzzing` feature). `top` is TOP's body line count, `None` for RETR;
/// `stuff` adds byte-stuffing and the final "." line.
#[cfg(any(test, feature = "fuzzing"))]
pub fn reference_encode(input: &[u8], top: Option<u64>, stuff: bool) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out = Vec::new();
    let mut in_headers = true;
    let mut body_left = top;
    for line in lines {
        if !in_headers && body_left == Some(0) {
            break;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if stuff && line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        if in_headers {
            in_headers = !line.is_empty();
        } else if let Some(left) = &mut body_left {
            *left -= 1;
        }
    }
    if stuff {
        out.extend_from_slice(b".\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::size::VirtualSize;

    fn encode_in_two(input: &[u8], split: usize, top: Option<u64>) -> Vec<u8> {
        let mut encoder = match top {
            Some(lines) => MessageEncoder::top(lines),
            None => MessageEncoder::whole_message(),
        };
        let mut out = Vec::new();
        encoder.encode(&input[..split], &mut out);
        encoder.encode(&input[split..], &mut out);
        encoder.finish(&mut out);
        out
    }

    fn samples() -> Vec<Vec<u8>> {
        let mut samples: Vec<Vec<u8>> = [
            &b""[..],
            b"\n",
            b"\r\n",
            b"\r",
            b".",
            b".\n",
            b"..\r\n",
            b"a\nb\n",
            b"a\r\nb\r\n",
            b"a\nb",
            b"a\r",
            b"a\r\rb\r\n",
            b"Subject: x\n\nbody\n.\n..x\nlast",
            b"Subject: x\r\n\r\n.one\r\ntwo\r\n.\r\nthree\r\n",
            b"H: 1\nH: 2\n",
            b"\n\n\n",
            b".\r.\n\r\n.",
            b"8bit \xe9\xff\x00 nul\n\x00\n",
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect();
        // Every short string over the alphabet that matters to the encoder.
        let alphabet = [b'.', b'\r', b'\n', b'x'];
        for len in 1..=5u32 {
            for mut index in 0..4usize.pow(len) {
                let mut sample = Vec::new();
                for _ in 0..len {
                    sample.push(alphabet[index % 4]);
                    index /= 4;
                }
                samples.push(sample);
            }
        }
        samples
    }

    #[test]
    fn retr_matches_the_reference_at_every_split_point() {
        for input in samples() {
            for split in 0..=input.len() {
                assert_eq!(
                    encode_in_two(&input, split, None),
                    reference_encode(&input, None, true),
                    "{input:?} split {split}"
                );
            }
        }
    }

    #[test]
    fn top_matches_the_reference_at_every_split_point() {
        for input in samples() {
            for lines in 0..4 {
                for split in 0..=input.len() {
                    assert_eq!(
                        encode_in_two(&input, split, Some(lines)),
                        reference_encode(&input, Some(lines), true),
                        "{input:?} top {lines} split {split}"
                    );
                }
            }
        }
    }

    #[test]
    fn virtual_size_is_the_unstuffed_length_at_every_split_point() {
        for input in samples() {
            let expected = reference_encode(&input, None, false).len() as u64;
            for split in 0..=input.len() {
                let mut size = VirtualSize::new();
                size.update(&input[..split]);
                size.update(&input[split..]);
                assert_eq!(size.finish(), expected, "{input:?} split {split}");
            }
        }
    }

    #[test]
    fn byte_at_a_time_encoding_matches() {
        let input = b"From: a\n\n.dot\r\nline\rx\n.";
        let mut encoder = MessageEncoder::whole_message();
        let mut out = Vec::new();
        for byte in input {
            encoder.encode(std::slice::from_ref(byte), &mut out);
        }
        encoder.finish(&mut out);
        assert_eq!(out, b"From: a\r\n\r\n..dot\r\nline\rx\r\n..\r\n.\r\n");
    }

    #[test]
    fn top_zero_sends_only_the_header_and_blank_line() {
        let out = encode_in_two(b"A: 1\nB: 2\n\nbody\n", 3, Some(0));
        assert_eq!(out, b"A: 1\r\nB: 2\r\n\r\n.\r\n");
    }
}
