//! Maildir file names: what the parts mean and what POP3 derives from them.
//!
//! A Maildir file name is `<unique>[:2,<flags>]`; the unique part may carry
//! Dovecot-style `,S=<octets>` (file size) and `,W=<octets>` (size with CRLF
//! line ends) fields. This module reads those fields, builds the name a
//! message gets when it moves from new/ to cur/, orders names by delivery
//! time, and derives the UIDL (RFC 1939 §7) from the unique part.
//!
//! A Unix file name is bytes, not text: a name that is not UTF-8 is still a
//! message, which must be listed, fetched and deleted like any other. So
//! every function here takes the name as an [`OsStr`] and works on its
//! bytes; none ever needs it to be UTF-8.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::wire::number::parse_decimal;

/// The unique part of a file name: everything before the `:` info suffix.
pub fn unique_part(file_name: &OsStr) -> &[u8] {
    let name = file_name.as_bytes();
    name.iter().position(|&b| b == b':').map_or(name, |colon| &name[..colon])
}

/// The `,S=` and `,W=` fields of a file name, where present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SizeFields {
    pub file_size: Option<u64>,
    pub virtual_size: Option<u64>,
}

pub fn size_fields(file_name: &OsStr) -> SizeFields {
    let mut fields = SizeFields::default();
    for field in unique_part(file_name).split(|&b| b == b',').skip(1) {
        if let Some(value) = field.strip_prefix(b"S=") {
            fields.file_size = decimal(value);
        } else if let Some(value) = field.strip_prefix(b"W=") {
            fields.virtual_size = decimal(value);
        }
    }
    fields
}

/// The name a file from new/ gets in cur/: its unique part with the size
/// fields added (so no later login has to read the file to know its size)
/// and an empty `:2,` flag list, as Dovecot names it.
pub fn name_in_cur(new_name: &OsStr, file_size: u64, virtual_size: u64) -> OsString {
    let fields = size_fields(new_name);
    let mut name = unique_part(new_name).to_vec();
    if fields.file_size.is_none() {
        name.extend_from_slice(format!(",S={file_size}").as_bytes());
    }
    if fields.virtual_size.is_none() {
        name.extend_from_slice(format!(",W={virtual_size}").as_bytes());
    }
    name.extend_from_slice(b":2,");
    OsString::from_vec(name)
}

/// When a message was delivered, from the leading seconds-since-epoch of
/// its file name. Messages are ordered by this as a number (so 999999999
/// comes before 1000000000), then by the bytes of the whole name.
pub fn delivery_time(file_name: &OsStr) -> Option<u64> {
    let name = file_name.as_bytes();
    let digits = name.iter().take_while(|b| b.is_ascii_digit()).count();
    decimal(&name[..digits])
}

/// The number that `digits` spell, if they are plain decimal digits.
fn decimal(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok().and_then(parse_decimal)
}

/// RFC 1939 §7: a unique-id is 1 to 70 characters in 0x21-0x7E.
const MAX_UIDL_LEN: usize = 70;

/// The UIDL of a message: the unique part of its name when that is a legal
/// unique-id, otherwise a stable hash of its bytes (the same name always
/// maps to the same id, across sessions and restarts, UTF-8 or not).
pub fn uidl(file_name: &OsStr) -> String {
    let unique = unique_part(file_name);
    let legal = (1..=MAX_UIDL_LEN).contains(&unique.len()) && unique.iter().all(|b| (0x21..=0x7e).contains(b));
    if legal {
        // Printable ASCII, so each byte is one char.
        unique.iter().copied().map(char::from).collect()
    } else {
        format!("H{:016x}{:016x}", fnv1a(unique, 0xcbf2_9ce4_8422_2325), fnv1a(unique, 0x6c62_272e_07bb_0142))
    }
}

/// FNV-1a, 64 bits: tiny, stable across Rust versions (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file name from its bytes, as `read_dir` hands it over.
    fn name(bytes: &[u8]) -> &OsStr {
        OsStr::from_bytes(bytes)
    }

    #[test]
    fn size_fields_are_read_from_the_unique_part_only() {
        let fields = size_fields(name(b"1700000000.M1P2.host,S=120,W=124:2,S"));
        assert_eq!(fields, SizeFields { file_size: Some(120), virtual_size: Some(124) });
        assert_eq!(size_fields(name(b"1700000000.M1P2.host:2,W=5")), SizeFields::default());
        let odd = size_fields(name(b"17.\xff,S=+1,W=1\xff,S=9"));
        assert_eq!(odd, SizeFields { file_size: Some(9), virtual_size: None }, "only plain digits count");
    }

    #[test]
    fn names_in_cur_keep_existing_fields() {
        assert_eq!(name_in_cur(name(b"17.a.host"), 10, 12), "17.a.host,S=10,W=12:2,");
        assert_eq!(name_in_cur(name(b"17.a.host,S=10"), 10, 12), "17.a.host,S=10,W=12:2,");
        assert_eq!(name_in_cur(name(b"17.a.host,S=10,W=12"), 10, 12), "17.a.host,S=10,W=12:2,");
        assert_eq!(name_in_cur(name(b"17.\xff\xfe:2,S"), 1, 2), name(b"17.\xff\xfe,S=1,W=2:2,"), "bytes kept");
    }

    #[test]
    fn delivery_key_compares_timestamps_numerically() {
        let mut names = vec![name(b"1000000000.b"), name(b"999999999.z"), name(b"1000000000.a"), name(b"notime")];
        names.push(name(b"999999999.\xff"));
        names.sort_by_key(|name| (delivery_time(name), name.as_bytes()));
        let sorted = [&b"notime"[..], b"999999999.z", b"999999999.\xff", b"1000000000.a", b"1000000000.b"];
        assert_eq!(names, sorted.map(name));
    }

    #[test]
    fn uidl_is_the_unique_part_or_a_stable_legal_hash() {
        assert_eq!(uidl(name(b"1700000000.M1P2.host,S=5:2,S")), "1700000000.M1P2.host,S=5");
        let long = "x".repeat(71);
        let odd: [&[u8]; 6] = [b"with space", long.as_bytes(), b"tab\there", "ünïcode".as_bytes(), b"\xff\xfe", b""];
        for odd in odd {
            let id = uidl(name(odd));
            assert_eq!(id, uidl(name(odd)));
            assert!((1..=70).contains(&id.len()));
            assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        }
        assert_ne!(uidl(name(b"a b")), uidl(name(b"a  b")));
        assert_ne!(uidl(name(b"\xff")), uidl(name(b"\xfe")));
    }

    /// UIDLs must never change for mail already seen by clients: these are
    /// the hashes that names which are UTF-8 have always had.
    #[test]
    fn hashed_uidls_of_utf8_names_are_unchanged() {
        assert_eq!(uidl(name(b"with space:2,S")), "H2fa3977cadeceaa73baa578c5f43abc4");
        assert_eq!(uidl(name("ünïcode".as_bytes())), "Hb1b0d40350a25bebf72f3f48086eee5a");
    }
}
