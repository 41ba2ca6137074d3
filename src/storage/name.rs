//! Maildir file names: what the parts mean and what POP3 derives from them.
//!
//! A Maildir file name is `<unique>[:2,<flags>]`; the unique part may carry
//! Dovecot-style `,S=<octets>` (file size) and `,W=<octets>` (size with CRLF
//! line ends) fields. This module reads those fields, builds the name a
//! message gets when it moves from new/ to cur/, orders names by delivery
//! time (pop3d's order, and the order in which Dovecot gives new mail its
//! UIDs), and turns an id RFC 1939 §7 does not allow as a UIDL (by default
//! the unique part) into a legal one.
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

/// The name Dovecot gives a file from new/ in cur/: the same name, with an
/// empty `:2,` flag list when it has no info suffix yet. The unique part
/// stays as it is, so a message `dovecot-uidlist` already lists under it
/// keeps its UID.
pub fn dovecot_name_in_cur(new_name: &OsStr) -> OsString {
    let mut name = new_name.to_os_string();
    if !new_name.as_bytes().contains(&b':') {
        name.push(":2,");
    }
    name
}

/// The order in which Dovecot gives new messages their UIDs, from
/// `maildir_filename_sort_cmp()` (maildir-filename.c): by the leading
/// seconds, then by the microseconds of an `M<usecs>` in the part after
/// them when both names have one, then by the rest of the unique part,
/// octet by octet as C's signed `char` compares them.
pub fn dovecot_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let ((secs_a, rest_a), (secs_b, rest_b)) = (leading_seconds(a), leading_seconds(b));
    secs_a
        .cmp(&secs_b)
        .then_with(|| match (dovecot_usecs(rest_a), dovecot_usecs(rest_b)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => std::cmp::Ordering::Equal,
        })
        .then_with(|| {
            let base = |rest: &[u8]| -> Vec<i8> { rest.iter().take_while(|&&b| b != b':').map(|&b| b as i8).collect() };
            base(rest_a).cmp(&base(rest_b))
        })
}

/// The number the leading digits of a name spell (wrapping, as C's
/// `time_t` arithmetic would), and what follows them.
fn leading_seconds(name: &[u8]) -> (u64, &[u8]) {
    let digits = name.iter().take_while(|b| b.is_ascii_digit()).count();
    (leading_digits(&name[..digits]), &name[digits..])
}

fn leading_digits(digits: &[u8]) -> u64 {
    digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0, |n, d| n.wrapping_mul(10).wrapping_add(u64::from(d - b'0')))
}

/// The microseconds in `.<uniqueness>.<host>` after a name's seconds: the
/// digits after the first `M` of the uniqueness part.
fn dovecot_usecs(rest: &[u8]) -> Option<u64> {
    let uniqueness = rest.strip_prefix(b".")?;
    let uniqueness = &uniqueness[..uniqueness.iter().position(|&b| b == b'.' || b == b':').unwrap_or(uniqueness.len())];
    Some(leading_digits(&uniqueness[uniqueness.iter().position(|&b| b == b'M')? + 1..]))
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

/// The UIDL of a message whose `--uidl-format` gave `id` (by default the
/// unique part of its name): `id` itself when it is a legal unique-id,
/// otherwise a stable hash of its bytes (the same id always maps to the
/// same UIDL, across sessions and restarts, UTF-8 or not).
pub fn legal_uidl(id: &[u8]) -> String {
    let legal = (1..=MAX_UIDL_LEN).contains(&id.len()) && id.iter().all(|b| (0x21..=0x7e).contains(b));
    if legal {
        // Printable ASCII, so each byte is one char.
        id.iter().copied().map(char::from).collect()
    } else {
        format!("H{:016x}{:016x}", fnv1a(id, 0xcbf2_9ce4_8422_2325), fnv1a(id, 0x6c62_272e_07bb_0142))
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
    fn dovecot_keeps_the_unique_part_when_it_moves_a_file() {
        assert_eq!(dovecot_name_in_cur(name(b"17.a.host")), "17.a.host:2,");
        assert_eq!(dovecot_name_in_cur(name(b"17.a.host,S=5:2,S")), "17.a.host,S=5:2,S");
        assert_eq!(dovecot_name_in_cur(name(b"17.\xff")), name(b"17.\xff:2,"));
    }

    #[test]
    fn new_mail_is_ordered_as_dovecot_numbers_it() {
        let mut names: Vec<&[u8]> = vec![
            b"1700000001.M5P1.host",
            b"1700000000.M20P1.host",
            b"1700000000.M3P9.host",
            b"1700000000.X.host",
            b"1500000000.Q.host",
            b"999999999.z",
            b"1700000000.\xff.host",
            b"notime",
        ];
        names.sort_by(|a, b| dovecot_order(a, b));
        let expected: [&[u8]; 8] = [
            b"notime",
            b"999999999.z",
            b"1500000000.Q.host",
            // Microseconds only count when both names have them; a byte
            // over 0x7f is a negative C char, before any ASCII.
            b"1700000000.\xff.host",
            b"1700000000.M3P9.host",
            b"1700000000.M20P1.host",
            b"1700000000.X.host",
            b"1700000001.M5P1.host",
        ];
        assert_eq!(names, expected);
        assert_eq!(dovecot_order(b"5.a:2,S", b"5.a:2,"), std::cmp::Ordering::Equal, "flags are not compared");
    }

    #[test]
    fn delivery_key_compares_timestamps_numerically() {
        let mut names = vec![name(b"1000000000.b"), name(b"999999999.z"), name(b"1000000000.a"), name(b"notime")];
        names.push(name(b"999999999.\xff"));
        names.sort_by_key(|name| (delivery_time(name), name.as_bytes()));
        let sorted = [&b"notime"[..], b"999999999.z", b"999999999.\xff", b"1000000000.a", b"1000000000.b"];
        assert_eq!(names, sorted.map(name));
    }

    /// The default UIDL: the unique part, made legal.
    fn uidl(file_name: &OsStr) -> String {
        legal_uidl(unique_part(file_name))
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
