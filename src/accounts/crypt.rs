//! crypt(3) strings: what Dovecot's `{CRYPT}`, `{MD5-CRYPT}`,
//! `{SHA256-CRYPT}`, `{SHA512-CRYPT}` and `{BLF-CRYPT}` hold, and what a
//! password field without any `{SCHEME}` is read as.
//!
//! Dovecot hands all of them to the system's crypt(3), which picks the
//! algorithm from the string's own prefix whatever the scheme's name says,
//! so [`CryptHash::parse`] does the same:
//!
//! | prefix | algorithm | checked by |
//! | --- | --- | --- |
//! | `$1$` | MD5-crypt | [`md5_crypt`] here, over the `md-5` crate |
//! | `$5$`, `$6$` | SHA256-crypt, SHA512-crypt | the `sha-crypt` crate |
//! | `$2a$`, `$2b$`, `$2x$`, `$2y$` | bcrypt | the `bcrypt` crate |
//!
//! The shape of a string is checked when the users file is read, so a
//! malformed hash is reported once at start-up, not at every login. Other
//! crypt(3) algorithms (DES, yescrypt, ...) are named in the refusal so the
//! administrator knows which user to re-hash.

use std::fmt;

use md5::{Digest, Md5};
use sha_crypt::{PasswordVerifier, ShaCrypt};

use super::password::constant_time_eq;
use crate::wire::number::parse_decimal;

/// The 64 characters crypt(3) encodes its salts and checksums with.
const CRYPT64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// MD5-crypt's salt is at most 8 characters; a longer one is cut by every
/// implementation, so a stored hash never has one.
const MD5_CRYPT_MAX_SALT: usize = 8;
/// SHA-crypt keeps at most 16 characters of salt.
const SHA_CRYPT_MAX_SALT: usize = 16;
/// Rounds a SHA-crypt string may name (glibc clamps to this range, so a
/// string it wrote never holds another number).
const SHA_CRYPT_ROUNDS: std::ops::RangeInclusive<u64> = 1_000..=999_999_999;
/// bcrypt's cost is a base-2 logarithm of its rounds.
const BCRYPT_COST: std::ops::RangeInclusive<u32> = 4..=31;

/// A crypt(3) string whose shape has been checked.
#[derive(Clone, PartialEq, Eq)]
pub struct CryptHash {
    algorithm: CryptAlgorithm,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CryptAlgorithm {
    Md5,
    Sha256,
    Sha512,
    Bcrypt,
}

/// Why a crypt(3) string cannot be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptError {
    /// A crypt(3) algorithm this server does not implement, by name.
    Unsupported(&'static str),
    /// Not the shape of any crypt(3) string this server knows, or a known
    /// prefix followed by something that is not that algorithm's hash.
    Malformed(&'static str),
}

impl fmt::Display for CryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptError::Unsupported(algorithm) => write!(f, "{algorithm} crypt(3) hashes are not supported"),
            CryptError::Malformed(what) => write!(f, "the value is not a valid {what} hash"),
        }
    }
}

impl std::error::Error for CryptError {}

/// crypt(3) prefixes of algorithms this server does not implement: no
/// well-kept Rust crate covers them (DES, BSDi) or they are rare in
/// passwd-files (the rest). Their users are reported, not guessed at.
const UNSUPPORTED: [(&str, &str); 6] = [
    ("$y$", "yescrypt"),
    ("$gy$", "gost-yescrypt"),
    ("$7$", "scrypt"),
    ("$3$", "NT-hash"),
    ("$md5", "SunMD5"),
    ("$sha1$", "sha1crypt"),
];

impl CryptHash {
    /// Checks the shape of `text` and names its algorithm.
    pub fn parse(text: &str) -> Result<Self, CryptError> {
        let algorithm = if let Some(rest) = text.strip_prefix("$1$") {
            check_md5_crypt(rest)?;
            CryptAlgorithm::Md5
        } else if let Some(rest) = text.strip_prefix("$5$") {
            check_sha_crypt(rest, 43, "SHA256-crypt")?;
            CryptAlgorithm::Sha256
        } else if let Some(rest) = text.strip_prefix("$6$") {
            check_sha_crypt(rest, 86, "SHA512-crypt")?;
            CryptAlgorithm::Sha512
        } else if text.starts_with("$2") {
            check_bcrypt(text)?;
            CryptAlgorithm::Bcrypt
        } else {
            return Err(unsupported(text));
        };
        Ok(Self { algorithm, text: text.to_owned() })
    }

    /// True if `guess` hashes to this string.
    pub fn matches(&self, guess: &[u8]) -> bool {
        match self.algorithm {
            CryptAlgorithm::Md5 => md5_crypt_matches(&self.text, guess),
            CryptAlgorithm::Sha256 => ShaCrypt::SHA256.verify_password(guess, self.text.as_str()).is_ok(),
            CryptAlgorithm::Sha512 => ShaCrypt::SHA512.verify_password(guess, self.text.as_str()).is_ok(),
            CryptAlgorithm::Bcrypt => bcrypt::verify(guess, &self.text).unwrap_or(false),
        }
    }
}

impl fmt::Debug for CryptHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CryptHash({:?}, ***)", self.algorithm)
    }
}

/// Names what `text` is, given it is no prefix this server checks.
fn unsupported(text: &str) -> CryptError {
    if let Some((_, name)) = UNSUPPORTED.iter().find(|(prefix, _)| text.starts_with(prefix)) {
        return CryptError::Unsupported(name);
    }
    let crypt64 = |part: &str| part.bytes().all(|b| CRYPT64.contains(&b));
    if text.len() == 13 && crypt64(text) {
        CryptError::Unsupported("DES")
    } else if text.len() == 20 && text.starts_with('_') && crypt64(&text[1..]) {
        CryptError::Unsupported("BSDi extended DES")
    } else {
        CryptError::Malformed("crypt(3)")
    }
}

/// `salt$checksum` after `$1$`: up to 8 salt characters, 22 of checksum.
fn check_md5_crypt(rest: &str) -> Result<(), CryptError> {
    const MALFORMED: CryptError = CryptError::Malformed("MD5-crypt");
    let (salt, checksum) = rest.split_once('$').ok_or(MALFORMED)?;
    let valid = salt.len() <= MD5_CRYPT_MAX_SALT && is_crypt64(checksum, 22);
    valid.then_some(()).ok_or(MALFORMED)
}

/// `[rounds=N$]salt$checksum` after `$5$` or `$6$`.
fn check_sha_crypt(rest: &str, checksum_len: usize, what: &'static str) -> Result<(), CryptError> {
    let malformed = CryptError::Malformed(what);
    let rest = match rest.strip_prefix("rounds=") {
        Some(rounds) => {
            let (number, rest) = rounds.split_once('$').ok_or(malformed)?;
            let rounds = parse_decimal(number).ok_or(malformed)?;
            if !SHA_CRYPT_ROUNDS.contains(&rounds) {
                return Err(malformed);
            }
            rest
        }
        None => rest,
    };
    let (salt, checksum) = rest.split_once('$').ok_or(malformed)?;
    let valid = salt.len() <= SHA_CRYPT_MAX_SALT && is_crypt64(checksum, checksum_len);
    valid.then_some(()).ok_or(malformed)
}

/// `$2?$NN$` and 53 characters of salt and checksum, with a cost bcrypt
/// accepts.
fn check_bcrypt(text: &str) -> Result<(), CryptError> {
    const MALFORMED: CryptError = CryptError::Malformed("bcrypt");
    let parts: bcrypt::HashParts = text.parse().map_err(|_| MALFORMED)?;
    BCRYPT_COST.contains(&parts.get_cost()).then_some(()).ok_or(MALFORMED)
}

fn is_crypt64(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| CRYPT64.contains(&b))
}

/// True if `guess` gives the MD5-crypt string `stored` (`$1$salt$checksum`,
/// already checked by [`check_md5_crypt`]).
fn md5_crypt_matches(stored: &str, guess: &[u8]) -> bool {
    let Some((salt, checksum)) = stored["$1$".len()..].split_once('$') else {
        return false;
    };
    constant_time_eq(md5_crypt(guess, salt.as_bytes()).as_bytes(), checksum.as_bytes())
}

/// The 22-character checksum of MD5-crypt (Poul-Henning Kamp's algorithm,
/// as FreeBSD, glibc and Dovecot's own `password-scheme-md5crypt.c` compute
/// it): one digest of password, magic and salt, mixed with a digest of
/// password, salt, password, then 1,000 rounds that each hash a different
/// combination of the three so the work cannot be shortened.
pub fn md5_crypt(password: &[u8], salt: &[u8]) -> String {
    const MAGIC: &[u8] = b"$1$";
    let salt = &salt[..salt.len().min(MD5_CRYPT_MAX_SALT)];
    let alternate = Md5::new().chain_update(password).chain_update(salt).chain_update(password).finalize();
    let mut context = Md5::new().chain_update(password).chain_update(MAGIC).chain_update(salt);
    for chunk in password.chunks(alternate.len()) {
        context.update(&alternate[..chunk.len()]);
    }
    // The bits of the password's length pick a zero byte or the password's
    // first byte: a quirk of the original that every copy keeps.
    let mut length = password.len();
    while length > 0 {
        context.update(if length & 1 == 1 { &[0u8][..] } else { &password[..1] });
        length >>= 1;
    }
    let mut digest = context.finalize();
    for round in 0..1000 {
        let previous = digest;
        let (first, last): (&[u8], &[u8]) = if round % 2 == 1 { (password, &previous) } else { (&previous, password) };
        let mut context = Md5::new().chain_update(first);
        if round % 3 != 0 {
            context.update(salt);
        }
        if round % 7 != 0 {
            context.update(password);
        }
        digest = context.chain_update(last).finalize();
    }
    // The digest's bytes go out in this order, three at a time, low
    // six bits first.
    let groups = [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)];
    let mut checksum = String::with_capacity(22);
    for (a, b, c) in groups {
        let value = u32::from(digest[a]) << 16 | u32::from(digest[b]) << 8 | u32::from(digest[c]);
        push_crypt64(&mut checksum, value, 4);
    }
    push_crypt64(&mut checksum, u32::from(digest[11]), 2);
    checksum
}

fn push_crypt64(out: &mut String, mut value: u32, count: usize) {
    for _ in 0..count {
        out.push(char::from(CRYPT64[(value & 0x3f) as usize]));
        value >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each made by `doveadm pw -s SCHEME -p 'pass word'` (Dovecot 2.3.19),
    /// and one from each crate's or Dovecot's own test vectors.
    const VECTORS: [(&str, &str); 7] = [
        ("$1$cPmfbiVG$4vZGLgvQxCj9HhX2Rbbyk/", "pass word"),
        ("$1$97z4kemh$fSa50247DOWzc1M/sALl41", "pass word"),
        ("$5$uRtps3he3Q4lVczK$7DuhZiNGTok6kVyf35Pcn9LJBLnbsvvOqXkSmnb4LKB", "pass word"),
        (
            "$6$FSyQ15B1ej4v4nzA$42y9IHnv8uVfz6tOGr6O2OflvOlVDUwAnhGEVx.p5WJkmpDeijAxDtpKq9Od18ecXfJWDw2nOr9uUvd8cjGGV0",
            "pass word",
        ),
        ("$2y$05$QB5LyITwscCgyhgBYGIcrusHgvh2J0vMZv.dPpZiTtYIQkqioNafa", "pass word"),
        // Dovecot's own self-test samples (password-scheme-crypt.c).
        ("$5$rounds=1000$0123456789abcdef$K/DksR0DT01hGc8g/kt9McEgrbFMKi9qrb1jehe7hn4", "08/15!test~4711"),
        ("$2a$04$0123456789abcdefABCDE.N.drYX5yIAL1LkTaaZotW3yI0hQhZru", "08/15!test~4711"),
    ];

    #[test]
    fn dovecot_crypt_strings_verify() {
        for (text, password) in VECTORS {
            let hash = CryptHash::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
            assert!(hash.matches(password.as_bytes()), "{text}");
            assert!(!hash.matches(b"pass wore"), "{text}");
            assert!(!hash.matches(b""), "{text}");
        }
    }

    #[test]
    fn md5_crypt_matches_the_reference() {
        // As `openssl passwd -1 -salt SALT PASSWORD` prints them.
        assert_eq!(md5_crypt(b"password", b"saltsalt"), "qjXMvbEw8oaL.CzflDtaK/");
        assert_eq!(md5_crypt(b"", b"salt"), "UsdFqFVB.FsuinRDK5eE..");
        assert_eq!(md5_crypt(b"hunter2", b"1234abcd"), "k941IFPqhCBpKvhOnZqRd/");
        // A salt longer than eight characters counts only its first eight.
        assert_eq!(md5_crypt(b"password", b"saltsaltEXTRA"), md5_crypt(b"password", b"saltsalt"));
    }

    #[test]
    fn malformed_and_unsupported_strings_are_named() {
        let cases = [
            ("$1$md5$x", CryptError::Malformed("MD5-crypt")),
            ("$1$toolongsalt$4vZGLgvQxCj9HhX2Rbbyk/", CryptError::Malformed("MD5-crypt")),
            ("$6$x", CryptError::Malformed("SHA512-crypt")),
            ("$6$rounds=10$salt$x", CryptError::Malformed("SHA512-crypt")),
            ("$5$salt$short", CryptError::Malformed("SHA256-crypt")),
            ("$2y$05$short", CryptError::Malformed("bcrypt")),
            ("$2y$99$QB5LyITwscCgyhgBYGIcrusHgvh2J0vMZv.dPpZiTtYIQkqioNafa", CryptError::Malformed("bcrypt")),
            ("xOAFZqRz5RduI", CryptError::Unsupported("DES")),
            ("_J9..CCCCXBrJUJV154M", CryptError::Unsupported("BSDi extended DES")),
            ("$y$j9T$salt$hash", CryptError::Unsupported("yescrypt")),
            ("secret", CryptError::Malformed("crypt(3)")),
            ("", CryptError::Malformed("crypt(3)")),
        ];
        for (text, error) in cases {
            assert_eq!(CryptHash::parse(text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_hash() {
        let text = format!("{:?}", CryptHash::parse(VECTORS[0].0).unwrap());
        assert!(!text.contains("cPmfbiVG"), "{text}");
    }
}
