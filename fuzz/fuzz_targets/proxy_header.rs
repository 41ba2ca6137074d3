//! The PROXY protocol header parser over arbitrary bytes in arbitrary
//! pieces.
//!
//! The first input byte chooses the piece size. Properties: `push` never
//! panics, never consumes more than it is given, gives the same answer
//! (header or error, and octets consumed) whatever the pieces, and once a
//! header is complete consumes nothing more. A header made by the encoders
//! from fuzzed addresses parses back to those addresses.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use pop3d::wire::proxy_header::{encode_v1, encode_v2, ProxyHeader, ProxyHeaderError, ProxyHeaderParser};

/// Feeds `input` in pieces of `piece` octets: the header (or error) and
/// the octets consumed in all.
fn parse(input: &[u8], piece: usize) -> (Result<Option<ProxyHeader>, ProxyHeaderError>, usize) {
    let mut parser = ProxyHeaderParser::new();
    let mut consumed = 0;
    for chunk in input.chunks(piece) {
        match parser.push(chunk) {
            Err(error) => return (Err(error), consumed),
            Ok(pushed) => {
                assert!(pushed.consumed <= chunk.len());
                consumed += pushed.consumed;
                if let Some(header) = pushed.header {
                    assert_eq!(parser.push(b"more").unwrap().consumed, 0);
                    return (Ok(Some(header)), consumed);
                }
                assert_eq!(pushed.consumed, chunk.len(), "an incomplete header takes every octet");
            }
        }
    }
    (Ok(None), consumed)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else { return };
    let piece = usize::from(first % 32) + 1;
    let (whole, consumed) = parse(input, input.len().max(1));
    let (pieces, consumed_in_pieces) = parse(input, piece);
    // An error may be found at a different octet, but is the same error.
    assert_eq!(whole, pieces);
    if whole.is_ok() {
        assert_eq!(consumed, consumed_in_pieces);
    }

    // Round trip: the first 36 octets as two IPv6 (or, by the first bit,
    // IPv4) addresses and ports.
    if input.len() >= 36 {
        let port = |at: usize| u16::from_be_bytes([input[at], input[at + 1]]);
        let (source, destination) = if first & 0x80 == 0 {
            let ip = |at: usize| IpAddr::V4(Ipv4Addr::new(input[at], input[at + 1], input[at + 2], input[at + 3]));
            (SocketAddr::new(ip(0), port(32)), SocketAddr::new(ip(4), port(34)))
        } else {
            let ip = |at: usize| {
                let mut octets = [0; 16];
                octets.copy_from_slice(&input[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            (SocketAddr::new(ip(0), port(32)), SocketAddr::new(ip(16), port(34)))
        };
        let want = Ok(Some(ProxyHeader::Proxied { source, destination }));
        for header in [encode_v1(source, destination), encode_v2(source, destination, &input[36..])] {
            let (got, consumed) = parse(&header, piece);
            assert_eq!(got, want);
            assert_eq!(consumed, header.len());
        }
    }
});
