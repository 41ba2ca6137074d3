//! The RETR/TOP encoder and the size rule over arbitrary message bytes cut
//! into arbitrary chunks.
//!
//! Properties: the chunked [`MessageEncoder`] emits exactly what the naive
//! whole-input [`reference_encode`] emits, for RETR and for TOP; the body
//! ends at its first "." line and nowhere earlier; [`VirtualSize`] equals
//! the length of the output once un-stuffed; and the un-stuffed output is
//! the input with its line ends turned into CRLF.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pop3d::pop3::encode::{reference_encode, MessageEncoder};
use pop3d::storage::size::VirtualSize;

#[derive(Debug)]
struct Header {
    /// TOP's line count, or RETR when absent.
    top: Option<u8>,
    chunk_sizes: Vec<u8>,
}

/// Byte by byte: every LF not after a CR becomes CRLF, and an unterminated
/// last line is terminated.
fn crlf_normalised(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut previous = None;
    for &byte in input {
        if byte == b'\n' && previous != Some(b'\r') {
            out.push(b'\r');
        }
        out.push(byte);
        previous = Some(byte);
    }
    match previous {
        None | Some(b'\n') => {}
        Some(b'\r') => out.push(b'\n'),
        Some(_) => out.extend_from_slice(b"\r\n"),
    }
    out
}

/// What a client does with a multi-line body: stops at the first line that
/// is exactly ".", and removes one leading "." from every other line.
/// Returns the un-stuffed content and what followed the "." line.
fn unstuff(body: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut content = Vec::new();
    let mut rest = body;
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").expect("the body ends with a CRLF line");
        let line = &rest[..end];
        rest = &rest[end + 2..];
        if line == b"." {
            return (content, rest);
        }
        content.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        content.extend_from_slice(b"\r\n");
    }
}

/// Cuts `input` into the given chunk sizes, in turn (a zero is an empty
/// chunk, which the encoder must also take).
fn chunks<'a>(input: &'a [u8], sizes: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = input;
    let mut turn = 0;
    let mut last_was_empty = false;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut size = if sizes.is_empty() { rest.len() } else { usize::from(sizes[turn % sizes.len()]) };
        turn += 1;
        // Never two empty chunks in a row, so every input is used up.
        if last_was_empty {
            size = size.max(1);
        }
        last_was_empty = size == 0;
        let (chunk, after) = rest.split_at(size.min(rest.len()));
        rest = after;
        Some(chunk)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut unstructured = Unstructured::new(data);
    let Ok(header) = header(&mut unstructured) else {
        return;
    };
    let input = unstructured.take_rest();
    let top = header.top.map(u64::from);

    let mut encoder = match top {
        Some(lines) => MessageEncoder::top(lines),
        None => MessageEncoder::whole_message(),
    };
    let mut size = VirtualSize::new();
    let mut out = Vec::new();
    let mut fed = 0;
    for chunk in chunks(input, &header.chunk_sizes) {
        fed += chunk.len();
        size.update(chunk);
        // As the fetching handler does: stop reading once TOP has what it needs.
        if !encoder.is_finished() {
            encoder.encode(chunk, &mut out);
        }
    }
    assert_eq!(fed, input.len(), "the chunks cover the input");
    encoder.finish(&mut out);

    assert_eq!(out, reference_encode(input, top, true), "encoder output differs from the reference");
    let (content, after) = unstuff(&out);
    assert!(after.is_empty(), "the body has a \".\" line before its end");
    let normalised = crlf_normalised(input);
    assert!(normalised.starts_with(&content), "un-stuffed output is not a prefix of the CRLF-normalised input");
    if top.is_none() {
        assert_eq!(content, normalised, "un-stuffed output is not the CRLF-normalised input");
        assert_eq!(size.finish(), content.len() as u64, "VirtualSize disagrees with the output");
    }
});

fn header(unstructured: &mut Unstructured<'_>) -> Result<Header> {
    Ok(Header { top: unstructured.arbitrary()?, chunk_sizes: unstructured.arbitrary()? })
}
