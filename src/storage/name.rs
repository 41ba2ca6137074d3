//! Maildir file names: what the parts mean and what POP3 derives from them.
//!
//! A Maildir file name is `<unique>[:2,<flags>]`; the unique part may carry
//! Dovecot-style `,S=<octets>` (file size) and `,W=<octets>` (size with CRLF
//! line ends) fields. This module reads those fields, builds the name a
//! message gets when it moves from new/ to cur/, orders names by delivery
//! time, and derives the UIDL (RFC 1939 §7) from the unique part.

/// The unique part of a file name: everything before the `:` info suffix.
pub fn unique_part(file_name: &str) -> &str {
    file_name.split_once(':').map_or(file_name, |(unique, _)| unique)
}

/// The `,S=` and `,W=` fields of a file name, where present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SizeFields {
    pub file_size: Option<u64>,
    pub virtual_size: Option<u64>,
}

pub fn size_fields(file_name: &str) -> SizeFields {
    let mut fields = SizeFields::default();
    for field in unique_part(file_name).split(',').skip(1) {
        if let Some(value) = field.strip_prefix("S=") {
            fields.file_size = value.parse().ok();
        } else if let Some(value) = field.strip_prefix("W=") {
            fields.virtual_size = value.parse().ok();
        }
    }
    fields
}

/// The name a file from new/ gets in cur/: its unique part with the size
/// fields added (so no later login has to read the file to know its size)
/// and an empty `:2,` flag list, as Dovecot names it.
pub fn name_in_cur(new_name: &str, file_size: u64, virtual_size: u64) -> String {
    let unique = unique_part(new_name);
    let fields = size_fields(new_name);
    let mut name = unique.to_owned();
    if fields.file_size.is_none() {
        name.push_str(&format!(",S={file_size}"));
    }
    if fields.virtual_size.is_none() {
        name.push_str(&format!(",W={virtual_size}"));
    }
    name.push_str(":2,");
    name
}

/// When a message was delivered, from the leading seconds-since-epoch of
/// its file name. Messages are ordered by this as a number (so 999999999
/// comes before 1000000000), then by the whole name.
pub fn delivery_time(name: &str) -> Option<u64> {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    name[..digits].parse().ok()
}

/// RFC 1939 §7: a unique-id is 1 to 70 characters in 0x21-0x7E.
const MAX_UIDL_LEN: usize = 70;

/// The UIDL of a message: the unique part of its name when that is a legal
/// unique-id, otherwise a stable hash of it (the same name always maps to
/// the same id, across sessions and restarts).
pub fn uidl(file_name: &str) -> String {
    let unique = unique_part(file_name);
    let legal = (1..=MAX_UIDL_LEN).contains(&unique.len()) && unique.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if legal {
        unique.to_owned()
    } else {
        format!(
            "H{:016x}{:016x}",
            fnv1a(unique.as_bytes(), 0xcbf2_9ce4_8422_2325),
            fnv1a(unique.as_bytes(), 0x6c62_272e_07bb_0142)
        )
    }
}

/// FNV-1a, 64 bits: tiny, stable across Rust versions (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_fields_are_read_from_the_unique_part_only() {
        let name = "1700000000.M1P2.host,S=120,W=124:2,S";
        assert_eq!(size_fields(name), SizeFields { file_size: Some(120), virtual_size: Some(124) });
        assert_eq!(size_fields("1700000000.M1P2.host:2,W=5"), SizeFields::default());
    }

    #[test]
    fn names_in_cur_keep_existing_fields() {
        assert_eq!(name_in_cur("17.a.host", 10, 12), "17.a.host,S=10,W=12:2,");
        assert_eq!(name_in_cur("17.a.host,S=10", 10, 12), "17.a.host,S=10,W=12:2,");
        assert_eq!(name_in_cur("17.a.host,S=10,W=12", 10, 12), "17.a.host,S=10,W=12:2,");
    }

    #[test]
    fn delivery_key_compares_timestamps_numerically() {
        let mut names = vec!["1000000000.b", "999999999.z", "1000000000.a", "notime"];
        names.sort_by_key(|name| (delivery_time(name), *name));
        assert_eq!(names, vec!["notime", "999999999.z", "1000000000.a", "1000000000.b"]);
    }

    #[test]
    fn uidl_is_the_unique_part_or_a_stable_legal_hash() {
        assert_eq!(uidl("1700000000.M1P2.host,S=5:2,S"), "1700000000.M1P2.host,S=5");
        for odd in ["with space", &"x".repeat(71), "tab\there", "ünïcode"] {
            let id = uidl(odd);
            assert_eq!(id, uidl(odd));
            assert!((1..=70).contains(&id.len()));
            assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        }
        assert_ne!(uidl("a b"), uidl("a  b"));
    }
}
