//! Line framing over arbitrary bytes arriving in arbitrary pieces.
//!
//! The input is a small header choosing the `BufReader` capacity and the
//! sizes of the reads the peer's bytes arrive in (a zero means an
//! interrupted read), then the bytes themselves. Properties: `read_line`
//! never panics, never holds more than the RFC 2449 limit, and yields the
//! same lines as a naive split of the whole input (on LF, every CR before
//! it stripped).
#![no_main]

use std::io::{self, BufReader, Read};

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pop3d::wire::line::{read_line, LineRead, MAX_LINE_OCTETS};

#[derive(Debug)]
struct Header {
    buffer_capacity: u16,
    read_sizes: Vec<u8>,
}

/// Hands out `data` in the given read sizes, in turn.
struct Pieces<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    next: usize,
    /// An interrupted read is always followed by a real one, so a header of
    /// all zeros cannot stall the reader forever.
    interrupted: bool,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size =
            if self.sizes.is_empty() { usize::MAX } else { usize::from(self.sizes[self.next % self.sizes.len()]) };
        self.next += 1;
        if size == 0 && !self.interrupted && !self.data.is_empty() {
            self.interrupted = true;
            return Err(io::ErrorKind::Interrupted.into());
        }
        self.interrupted = false;
        let n = size.max(1).min(self.data.len()).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Framed {
    Line(Vec<u8>),
    TooLong,
}

fn naive(input: &[u8]) -> Vec<Framed> {
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    lines.pop(); // after the last LF: unterminated, never a command
    lines
        .into_iter()
        .map(|line| {
            // The line as sent, one CR (or the bare LF) counted as its CRLF.
            if line.strip_suffix(b"\r").unwrap_or(line).len() + 2 > MAX_LINE_OCTETS {
                return Framed::TooLong;
            }
            // Every CR right before the LF is line ending.
            let end = line.iter().rposition(|&b| b != b'\r').map_or(0, |last| last + 1);
            Framed::Line(line[..end].to_vec())
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut unstructured = Unstructured::new(data);
    let Ok(header) = header(&mut unstructured) else {
        return;
    };
    let input = unstructured.take_rest();
    let capacity = usize::from(header.buffer_capacity % 1024) + 1;
    let pieces = Pieces { data: input, sizes: &header.read_sizes, next: 0, interrupted: false };
    let mut reader = BufReader::with_capacity(capacity, pieces);
    let mut line = Vec::with_capacity(MAX_LINE_OCTETS);
    let mut framed = Vec::new();
    // Every call consumes at least one byte or ends, so this is bounded.
    for _ in 0..=input.len() {
        let result = read_line(&mut reader, &mut line).expect("only interrupted reads, which are retried");
        assert!(line.capacity() <= MAX_LINE_OCTETS, "line buffer grew to {}", line.capacity());
        match result {
            LineRead::Line => {
                assert!(line.len() + 2 <= MAX_LINE_OCTETS, "a {}-octet line was accepted", line.len());
                framed.push(Framed::Line(line.clone()));
            }
            LineRead::TooLong => {
                assert!(line.is_empty());
                framed.push(Framed::TooLong);
            }
            LineRead::Eof => {
                assert_eq!(framed, naive(input));
                return;
            }
        }
    }
    panic!("read_line did not reach the end of {} octets", input.len());
});

fn header(unstructured: &mut Unstructured<'_>) -> Result<Header> {
    Ok(Header { buffer_capacity: unstructured.arbitrary()?, read_sizes: unstructured.arbitrary()? })
}
