//! Dovecot's password schemes: one password field of a passwd-file,
//! `{SCHEME}value` or a bare value, read into a [`StoredPassword`] as
//! Dovecot's `password-scheme.c` reads it, and the checks that are not
//! crypt(3) (those are in [`super::crypt`]).
//!
//! [`SCHEMES`] is the one list of what is understood: each scheme's name,
//! how its value is encoded, and how a password is checked against it.
//! Scheme names are case-insensitive. A `.HEX`, `.B64` or `.BASE64` suffix
//! (`{SHA256.HEX}`, `{PLAIN.B64}`) overrides the scheme's own encoding.
//! Without one, a digest scheme's value is read as hex when it has exactly
//! twice the digest's length and as base64 otherwise, as Dovecot guesses.
//!
//! A bare field is a CRYPT value, Dovecot's `default_pass_scheme` for a
//! passwd-file; a bare `$1$salt$checksum` is MD5-CRYPT and whatever follows
//! its checksum is ignored, as Dovecot's `password_get_scheme` does.
//!
//! Every digest is compared in constant time, so the time a wrong guess
//! takes does not tell how much of its digest was right.

use std::fmt;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::crypt::{CryptError, CryptHash};
use super::password::{constant_time_eq, StoredPassword};
use super::users::Password;
use crate::wire::number::parse_decimal;

/// How a scheme's value is written when its name has no encoding suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// Used as it stands (a crypt string, plain text).
    Text,
    Hex,
    Base64,
}

/// How a password is checked against a scheme's decoded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// Equal to the value.
    Plain,
    /// `{PLAIN-TRUNC}N-text`: see [`plain_trunc_matches`].
    PlainTrunc,
    /// Any crypt(3) string: Dovecot gives every crypt scheme to crypt(3),
    /// which goes by the string's prefix.
    Crypt,
    /// An MD5-crypt (`$1$`) string only.
    Md5Crypt,
    /// `{MD5}`: an MD5-crypt string, or else a PLAIN-MD5 digest.
    Md5,
    /// The digest of the password.
    Digest(DigestAlgorithm),
    /// The digest of the password and a salt, followed by that salt.
    Salted(DigestAlgorithm),
    /// The 32-byte HMAC-MD5 context of the password (RFC 2195's CRAM-MD5
    /// secret): see [`cram_md5_context`].
    CramMd5,
    /// Dovecot's `$1$salt$rounds$hex` PBKDF2-HMAC-SHA1.
    Pbkdf2,
    /// A PHC string `$argon2id$v=19$m=...,t=...,p=...$salt$hash`.
    Argon2,
}

struct Scheme {
    /// The name and its aliases: Dovecot registers each alias as a scheme
    /// of its own with the same encoding and check.
    names: &'static [&'static str],
    encoding: Encoding,
    method: Method,
}

/// Also what `{MD5}` falls back to for a value that is not MD5-crypt.
const PLAIN_MD5: Scheme =
    Scheme { names: &["PLAIN-MD5"], encoding: Encoding::Hex, method: Method::Digest(DigestAlgorithm::Md5) };

/// Every scheme pop3d verifies, with Dovecot 2.3's encodings, as (names,
/// encoding, method). The crypt family, PBKDF2 and Argon2 are slow on
/// purpose; the verified-login cache spares a repeated login their cost
/// (see [`super::password`]).
const SCHEMES: [Scheme; 17] = {
    use DigestAlgorithm::{Md5, Sha1, Sha256, Sha512};
    use Encoding::{Base64, Hex, Text};
    use Method::{Argon2, CramMd5, Crypt, Digest, Md5Crypt, Pbkdf2, Plain, PlainTrunc, Salted};
    const fn row(names: &'static [&'static str], encoding: Encoding, method: Method) -> Scheme {
        Scheme { names, encoding, method }
    }
    [
        row(&["PLAIN", "CLEAR", "CLEARTEXT"], Text, Plain),
        row(&["PLAIN-TRUNC"], Text, PlainTrunc),
        row(&["CRYPT", "DES-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT", "BLF-CRYPT"], Text, Crypt),
        row(&["MD5-CRYPT"], Text, Md5Crypt),
        row(&["MD5"], Text, Method::Md5),
        PLAIN_MD5,
        row(&["LDAP-MD5"], Base64, Digest(Md5)),
        row(&["SHA", "SHA1"], Base64, Digest(Sha1)),
        row(&["SHA256"], Base64, Digest(Sha256)),
        row(&["SHA512"], Base64, Digest(Sha512)),
        row(&["SMD5"], Base64, Salted(Md5)),
        row(&["SSHA"], Base64, Salted(Sha1)),
        row(&["SSHA256"], Base64, Salted(Sha256)),
        row(&["SSHA512"], Base64, Salted(Sha512)),
        row(&["CRAM-MD5", "HMAC-MD5"], Hex, CramMd5),
        row(&["PBKDF2"], Text, Pbkdf2),
        row(&["ARGON2I", "ARGON2ID", "ARGON2"], Text, Argon2),
    ]
};

/// The scheme of a password field that names none (Dovecot's
/// `default_pass_scheme` for passwd-files).
const DEFAULT_SCHEME: &str = "CRYPT";

/// `CRAM_MD5_CONTEXTLEN`: the outer and the inner MD5 state, 4 words each.
const CRAM_MD5_CONTEXT_LEN: usize = 32;
/// Dovecot's PBKDF2 keeps a 160-bit (SHA-1 sized) key.
const PBKDF2_KEY_LEN: usize = 20;
/// The most memory (KiB) an Argon2 value may ask for: 1 GiB, libsodium's
/// "sensitive" limit, the most `doveadm pw` ever asks for. A larger value
/// would let one login exhaust the server's memory.
const ARGON2_MAX_MEMORY_KIB: u32 = 1 << 20;

/// The digests Dovecot's plain and salted schemes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl DigestAlgorithm {
    /// The digest's length in bytes.
    fn len(self) -> usize {
        match self {
            DigestAlgorithm::Md5 => 16,
            DigestAlgorithm::Sha1 => 20,
            DigestAlgorithm::Sha256 => 32,
            DigestAlgorithm::Sha512 => 64,
        }
    }

    /// The digest of `parts` one after the other.
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut digest = D::new();
            for part in parts {
                digest.update(part);
            }
            digest.finalize().to_vec()
        }
        match self {
            DigestAlgorithm::Md5 => run::<Md5>(parts),
            DigestAlgorithm::Sha1 => run::<Sha1>(parts),
            DigestAlgorithm::Sha256 => run::<Sha256>(parts),
            DigestAlgorithm::Sha512 => run::<Sha512>(parts),
        }
    }
}

/// A decoded password value a login can be checked against (everything
/// but plain text, which is a [`Password`]).
#[derive(Clone, PartialEq, Eq)]
pub enum Verifier {
    PlainTrunc {
        text: Vec<u8>,
        limit: usize,
    },
    Crypt(CryptHash),
    Digest {
        algorithm: DigestAlgorithm,
        digest: Vec<u8>,
    },
    Salted {
        algorithm: DigestAlgorithm,
        digest: Vec<u8>,
        salt: Vec<u8>,
    },
    CramMd5([u8; CRAM_MD5_CONTEXT_LEN]),
    Pbkdf2 {
        salt: Vec<u8>,
        rounds: u32,
        key: [u8; PBKDF2_KEY_LEN],
    },
    /// The PHC string, checked when read.
    Argon2(String),
}

impl Verifier {
    /// True if `guess` is the password this value was made from.
    pub fn matches(&self, guess: &[u8]) -> bool {
        match self {
            Verifier::PlainTrunc { text, limit } => plain_trunc_matches(text, *limit, guess),
            Verifier::Crypt(hash) => hash.matches(guess),
            Verifier::Digest { algorithm, digest } => constant_time_eq(&algorithm.digest(&[guess]), digest),
            Verifier::Salted { algorithm, digest, salt } => constant_time_eq(&algorithm.digest(&[guess, salt]), digest),
            Verifier::CramMd5(context) => constant_time_eq(&cram_md5_context(guess), context),
            Verifier::Pbkdf2 { salt, rounds, key } => {
                let mut derived = [0u8; PBKDF2_KEY_LEN];
                pbkdf2::pbkdf2_hmac::<Sha1>(guess, salt, *rounds, &mut derived);
                constant_time_eq(&derived, key)
            }
            Verifier::Argon2(phc) => {
                PasswordHash::new(phc).is_ok_and(|hash| Argon2::default().verify_password(guess, &hash).is_ok())
            }
        }
    }

    /// True for the schemes that are slow on purpose (worth caching).
    pub fn is_slow(&self) -> bool {
        matches!(self, Verifier::Crypt(_) | Verifier::Pbkdf2 { .. } | Verifier::Argon2(_))
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verifier::PlainTrunc { .. } => "Verifier::PlainTrunc(***)",
            Verifier::Crypt(_) => "Verifier::Crypt(***)",
            Verifier::Digest { .. } => "Verifier::Digest(***)",
            Verifier::Salted { .. } => "Verifier::Salted(***)",
            Verifier::CramMd5(_) => "Verifier::CramMd5(***)",
            Verifier::Pbkdf2 { .. } => "Verifier::Pbkdf2(***)",
            Verifier::Argon2(_) => "Verifier::Argon2(***)",
        })
    }
}

/// Why a password field cannot be checked. `Display` names the scheme and
/// what is wrong, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeError {
    /// The scheme as the field names it (`CRYPT` for a bare field).
    pub scheme: String,
    pub problem: SchemeProblem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeProblem {
    /// No scheme of that name (or an encoding suffix other than `.HEX`,
    /// `.B64`, `.BASE64`).
    Unknown,
    /// The value is empty: no password could match it.
    Empty,
    BadHex,
    BadBase64,
    /// Decoded to the wrong number of bytes for the scheme's digest.
    WrongLength,
    /// Plain text that is not UTF-8, which no POP3 password can be here.
    NotUtf8,
    /// A value that does not have the scheme's shape.
    Malformed(&'static str),
    Crypt(CryptError),
}

impl fmt::Display for SchemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme: String = self.scheme.escape_debug().take(40).collect();
        write!(f, "password scheme {{{scheme}}}: {}", self.problem)
    }
}

impl fmt::Display for SchemeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemeProblem::Unknown => f.write_str("not supported"),
            SchemeProblem::Empty => f.write_str("the value is empty"),
            SchemeProblem::BadHex => f.write_str("the value is not valid hex"),
            SchemeProblem::BadBase64 => f.write_str("the value is not valid base64"),
            SchemeProblem::WrongLength => f.write_str("the value has the wrong length for this scheme"),
            SchemeProblem::NotUtf8 => f.write_str("the value is not UTF-8 text"),
            SchemeProblem::Malformed(what) => write!(f, "the value is not {what}"),
            SchemeProblem::Crypt(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for SchemeError {}

/// Reads one passwd-file password field (everything between the first and
/// the second `:` of its line).
pub fn read_field(field: &str) -> Result<StoredPassword, SchemeError> {
    let (scheme, value) = split_scheme(field);
    let fail = |problem| SchemeError { scheme: scheme.to_owned(), problem };
    let (name, suffix) = match scheme.split_once('.') {
        Some((name, suffix)) => (name, Some(suffix)),
        None => (scheme, None),
    };
    let known = SCHEMES.iter().find(|known| known.names.iter().any(|known| known.eq_ignore_ascii_case(name)));
    let explicit = match suffix.map(str::to_ascii_uppercase).as_deref() {
        None => None,
        Some("HEX") => Some(Encoding::Hex),
        Some("B64" | "BASE64") => Some(Encoding::Base64),
        Some(_) => return Err(fail(SchemeProblem::Unknown)),
    };
    let known = known.ok_or_else(|| fail(SchemeProblem::Unknown))?;
    if value.is_empty() {
        return Err(fail(SchemeProblem::Empty));
    }
    let raw = decode(value, known, explicit).map_err(fail)?;
    stored(known.method, &raw, field).map_err(fail)
}

/// The scheme a field names and its value, as `password_get_scheme` and
/// the passwd-file default make them.
fn split_scheme(field: &str) -> (&str, &str) {
    if let Some(rest) = field.strip_prefix("$1$") {
        // $1$salt$checksum[$ignored]
        if let Some(salt_end) = rest.find('$') {
            let end = rest[salt_end + 1..].find('$').map_or(field.len(), |at| "$1$".len() + salt_end + 1 + at);
            return ("MD5-CRYPT", &field[..end]);
        }
    }
    match field.strip_prefix('{').and_then(|rest| rest.split_once('}')) {
        Some((scheme, value)) => (scheme, value),
        None => (DEFAULT_SCHEME, field),
    }
}

/// The bytes a value stands for, as `password_decode` makes them.
fn decode(value: &str, scheme: &Scheme, explicit: Option<Encoding>) -> Result<Vec<u8>, SchemeProblem> {
    let expected_len = match scheme.method {
        Method::Digest(algorithm) => Some(algorithm.len()),
        Method::CramMd5 => Some(CRAM_MD5_CONTEXT_LEN),
        _ => None,
    };
    // Hex is twice as long as the digest, base64 about 4/3: the length
    // tells them apart, and a value that is not hex after all is tried as
    // base64.
    let guessed = explicit.is_none() && scheme.encoding != Encoding::Text && expected_len.is_some();
    let encoding = match explicit {
        Some(encoding) => encoding,
        None if guessed && expected_len.is_some_and(|len| value.len() == 2 * len) => Encoding::Hex,
        None if guessed => Encoding::Base64,
        None => scheme.encoding,
    };
    let raw = match encoding {
        Encoding::Text => value.as_bytes().to_vec(),
        Encoding::Hex => match decode_hex(value) {
            Some(raw) => raw,
            None if guessed => decode_base64(value).ok_or(SchemeProblem::BadBase64)?,
            None => return Err(SchemeProblem::BadHex),
        },
        Encoding::Base64 => decode_base64(value).ok_or(SchemeProblem::BadBase64)?,
    };
    if expected_len.is_some_and(|len| len != raw.len()) {
        return Err(SchemeProblem::WrongLength);
    }
    if raw.is_empty() {
        return Err(SchemeProblem::Empty);
    }
    Ok(raw)
}

/// The password a decoded value of `method` stands for; `field` is kept
/// with it so that saving the file writes it back unchanged.
fn stored(method: Method, raw: &[u8], field: &str) -> Result<StoredPassword, SchemeProblem> {
    let text = || std::str::from_utf8(raw).map_err(|_| SchemeProblem::NotUtf8);
    let crypt = |text: &str| CryptHash::parse(text).map(Verifier::Crypt).map_err(SchemeProblem::Crypt);
    let verifier = match method {
        Method::Plain => return Ok(StoredPassword::Plain(Password::new(text()?))),
        Method::PlainTrunc => plain_trunc(raw)?,
        Method::Crypt => crypt(text()?)?,
        Method::Md5Crypt if text()?.starts_with("$1$") => crypt(text()?)?,
        Method::Md5Crypt => return Err(SchemeProblem::Malformed("an MD5-crypt ($1$) hash")),
        Method::Md5 if text()?.starts_with("$1$") => crypt(text()?)?,
        Method::Md5 => {
            let digest = decode(text()?, &PLAIN_MD5, None)
                .map_err(|_| SchemeProblem::Malformed("an MD5-crypt hash or an MD5 digest"))?;
            Verifier::Digest { algorithm: DigestAlgorithm::Md5, digest }
        }
        Method::Digest(algorithm) => Verifier::Digest { algorithm, digest: raw.to_vec() },
        Method::Salted(algorithm) if raw.len() <= algorithm.len() => {
            return Err(SchemeProblem::Malformed("a salted digest (too short for its salt)"));
        }
        Method::Salted(algorithm) => {
            let (digest, salt) = raw.split_at(algorithm.len());
            Verifier::Salted { algorithm, digest: digest.to_vec(), salt: salt.to_vec() }
        }
        Method::CramMd5 => Verifier::CramMd5(raw.try_into().map_err(|_| SchemeProblem::WrongLength)?),
        Method::Pbkdf2 => pbkdf2(text()?)?,
        Method::Argon2 => argon2(text()?)?,
    };
    Ok(StoredPassword::Hashed { field: field.to_owned(), verifier })
}

/// `N-text`: the first `N` bytes of a password that may have been cut to
/// `N` when stored.
fn plain_trunc(raw: &[u8]) -> Result<Verifier, SchemeProblem> {
    const MALFORMED: SchemeProblem = SchemeProblem::Malformed("<length>-<password>");
    let dash = raw.iter().position(|&b| b == b'-').ok_or(MALFORMED)?;
    let limit = std::str::from_utf8(&raw[..dash]).ok().and_then(parse_decimal).ok_or(MALFORMED)?;
    let limit = usize::try_from(limit).map_err(|_| MALFORMED)?;
    Ok(Verifier::PlainTrunc { text: raw[dash + 1..].to_vec(), limit })
}

/// Dovecot's `plain_trunc_verify`: when the stored text is exactly `limit`
/// bytes it may have been cut, so a longer guess passes if it starts with
/// it; otherwise the guess must equal it.
fn plain_trunc_matches(text: &[u8], limit: usize, guess: &[u8]) -> bool {
    if text.len() == limit && guess.len() >= limit {
        return constant_time_eq(&guess[..limit], text);
    }
    constant_time_eq(guess, text)
}

/// `$1$salt$rounds$hex` (password-scheme-pbkdf2.c): the salt is used as the
/// text it is, the key is 20 bytes of PBKDF2-HMAC-SHA1.
fn pbkdf2(text: &str) -> Result<Verifier, SchemeProblem> {
    const MALFORMED: SchemeProblem = SchemeProblem::Malformed("$1$salt$rounds$hex");
    let fields: Vec<&str> = text.strip_prefix("$1$").ok_or(MALFORMED)?.split('$').collect();
    let [salt, rounds, key] = fields[..] else {
        return Err(MALFORMED);
    };
    let rounds = parse_decimal(rounds).and_then(|rounds| u32::try_from(rounds).ok()).filter(|&rounds| rounds > 0);
    let key = decode_hex(key).and_then(|key| <[u8; PBKDF2_KEY_LEN]>::try_from(key).ok());
    match (rounds, key) {
        (Some(rounds), Some(key)) => Ok(Verifier::Pbkdf2 { salt: salt.as_bytes().to_vec(), rounds, key }),
        _ => Err(MALFORMED),
    }
}

/// A PHC string libsodium wrote (`$argon2i$` or `$argon2id$`), whose
/// memory cost this server can afford.
fn argon2(text: &str) -> Result<Verifier, SchemeProblem> {
    const MALFORMED: SchemeProblem = SchemeProblem::Malformed("an Argon2 PHC string");
    let hash = PasswordHash::new(text).map_err(|_| MALFORMED)?;
    if !matches!(hash.algorithm.as_str(), "argon2i" | "argon2id" | "argon2d") || hash.hash.is_none() {
        return Err(MALFORMED);
    }
    let params = argon2::Params::try_from(&hash).map_err(|_| MALFORMED)?;
    if params.m_cost() > ARGON2_MAX_MEMORY_KIB {
        return Err(SchemeProblem::Malformed("an Argon2 hash within 1 GiB of memory"));
    }
    Ok(Verifier::Argon2(text.to_owned()))
}

/// The CRAM-MD5 secret Dovecot stores (`hmac_md5_get_cram_context`): the
/// MD5 states after the HMAC key block XOR opad and XOR ipad, outer first,
/// each as four little-endian words. A key longer than a block is first
/// replaced by its MD5 digest (RFC 2104 §2).
fn cram_md5_context(password: &[u8]) -> [u8; CRAM_MD5_CONTEXT_LEN] {
    /// MD5's initial state (RFC 1321 §3.3).
    const MD5_INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut key = [0u8; 64];
    if password.len() > key.len() {
        key[..16].copy_from_slice(&Md5::digest(password));
    } else {
        key[..password.len()].copy_from_slice(password);
    }
    let state_after = |pad: u8| {
        let mut state = MD5_INIT;
        md5::block_api::compress(&mut state, &[key.map(|byte| byte ^ pad)]);
        state
    };
    let mut context = [0u8; CRAM_MD5_CONTEXT_LEN];
    let words = state_after(0x5c).into_iter().chain(state_after(0x36));
    for (out, word) in context.chunks_exact_mut(4).zip(words) {
        out.copy_from_slice(&word.to_le_bytes());
    }
    context
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect()
}

/// Standard base64, with or without its `=` padding.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const BASE64: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    BASE64.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `doveadm pw -s SCHEME -p 'pass word'` (Dovecot 2.3.19), one field
    /// per scheme that is not crypt(3) (see `crypt.rs` for those).
    const DOVEADM: [&str; 18] = [
        "{SHA}2oguq15ANCGsJCWKX31fllwpyEk=",
        "{SHA1}2oguq15ANCGsJCWKX31fllwpyEk=",
        "{SHA256}eJgOJX9BJDf7+TQ3h7wA7FsQY2QpvAALKQEHM1sIl4Y=",
        "{SHA512}Nq7XWhQpjD4VwA82iHbXmY8NSz1w7/A84XtT9npPaxW+U8Dt41vjbL2JY3A7kd5cgXmFPhhROfO9ihvprNn13A==",
        "{SSHA}tvFWoluup36WX8eIeGVkpc0vf7fH/8fj",
        "{SSHA256}rz8RhKfjMeObSPYItNaQ9A5Yc5kmz+E6lTSbQ8Om966vsUsy",
        "{SSHA512}d3t3XrjpWfjwDgv4EYGqLRo9pD7aqm9v2gWOuqhnrkex3mAt7j0Y7NpW9kN79GKoaC0vXviRkVWCE32TJNrWEgnH/7A=",
        "{SMD5}QUsI2uRishoI6a8r/EXeFaywHVY=",
        "{CRAM-MD5}ee7caf39bc55ee6231951ebd3832c90a64bbec99612a5f279453f4b6eeff6769",
        "{HMAC-MD5}ee7caf39bc55ee6231951ebd3832c90a64bbec99612a5f279453f4b6eeff6769",
        "{SHA256.HEX}78980e257f412437fbf9343787bc00ec5b10636429bc000b290107335b089786",
        "{SSHA.B64}u50JfKlOYG13dsIxlP/5J8Qc/XxJYcYS",
        "{PLAIN-MD5}4ac6430a17d0215b3052b15c879d48bc",
        "{LDAP-MD5}SsZDChfQIVswUrFch51IvA==",
        "{MD5}$1$97z4kemh$fSa50247DOWzc1M/sALl41",
        "{PBKDF2}$1$Z00LsW2H.5B648E2$5000$dc1ff35e51d7378e0f4b3fa77d2a60941a4a7830",
        "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$DJPtqK5VEp7vcQTN8ZPzQA$VQfleEfMLKVLU+amuwtHBNiTozqOtGkCgyTB4HDnSPA",
        "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$HYvJlnODY1B9MCQrjKhJRA$yh03XR5aEFC0VJWSAIIvcr1SlQHF5fya/ruusGeAmU8",
    ];

    fn read(field: &str) -> StoredPassword {
        read_field(field).unwrap_or_else(|error| panic!("{field}: {error}"))
    }

    fn problem(field: &str) -> SchemeProblem {
        read_field(field).expect_err(field).problem
    }

    #[test]
    fn doveadm_values_verify() {
        for field in DOVEADM {
            let stored = read(field);
            assert!(stored.matches("pass word"), "{field}");
            assert!(!stored.matches("pass wore"), "{field}");
            assert!(!stored.matches(""), "{field}");
        }
    }

    #[test]
    fn plain_text_in_every_encoding() {
        for field in ["{PLAIN}pass word", "{clear}pass word", "{CLEARTEXT}pass word", "{PLAIN.B64}cGFzcyB3b3Jk"] {
            assert_eq!(read(field), StoredPassword::Plain(Password::new("pass word")), "{field}");
        }
        assert_eq!(read("{PLAIN.HEX}613a62"), StoredPassword::Plain(Password::new("a:b")));
        assert_eq!(read("{plain.base64}YQ"), StoredPassword::Plain(Password::new("a")), "padding is optional");
    }

    #[test]
    fn digests_are_read_as_hex_or_base64_by_their_length() {
        // SHA256 of "pass word", in hex under a base64 scheme, and in base64
        // with an explicit suffix.
        let hex = "{SHA256}78980e257f412437fbf9343787bc00ec5b10636429bc000b290107335b089786";
        let base64 = "{SHA256.B64}eJgOJX9BJDf7+TQ3h7wA7FsQY2QpvAALKQEHM1sIl4Y=";
        for field in [hex, base64] {
            assert!(read(field).matches("pass word"), "{field}");
        }
        assert_eq!(problem("{SHA256.HEX}eJgOJX9BJDf7+TQ3h7wA7FsQY2QpvAALKQEHM1sIl4Y="), SchemeProblem::BadHex);
        assert_eq!(problem("{SHA256}2oguq15ANCGsJCWKX31fllwpyEk="), SchemeProblem::WrongLength);
    }

    #[test]
    fn plain_trunc_accepts_a_longer_password_only_when_cut() {
        // `doveadm pw -t` agrees with each of these.
        let cut = read("{PLAIN-TRUNC}4-pass");
        assert!(cut.matches("pass") && cut.matches("pass word"));
        assert!(!cut.matches("pas") && !cut.matches("pasS word"));
        let whole = read("{PLAIN-TRUNC}9-pass word");
        assert!(whole.matches("pass word") && whole.matches("pass words"));
        let short = read("{PLAIN-TRUNC}20-pass word");
        assert!(short.matches("pass word") && !short.matches("pass words"));
        assert!(matches!(problem("{PLAIN-TRUNC}pass word"), SchemeProblem::Malformed(_)), "doveadm's own output");
    }

    #[test]
    fn bare_fields_are_crypt_values() {
        // DES is what Dovecot's CRYPT meant once; it is named, not served.
        let error = read_field("xOAFZqRz5RduI").unwrap_err();
        assert_eq!(error.scheme, "CRYPT");
        assert_eq!(error.problem, SchemeProblem::Crypt(CryptError::Unsupported("DES")));
        let bcrypt = "$2y$05$XDJ3Kr.PNGZtbauJ0x6CbePrCqod8EhG7nNKkUCzpDxnQ6ov0eYxO";
        assert!(read(bcrypt).matches("pass word"));
        assert!(read(&format!("{{CRYPT}}{bcrypt}")).matches("pass word"));
        // A bare MD5-crypt string ends at its checksum.
        assert!(read("$1$cPmfbiVG$4vZGLgvQxCj9HhX2Rbbyk/$ignored").matches("pass word"));
        assert!(matches!(problem("secret"), SchemeProblem::Crypt(CryptError::Malformed(_))));
    }

    #[test]
    fn cram_md5_context_is_dovecots() {
        let context = cram_md5_context(b"pass word");
        assert_eq!(decode_hex("ee7caf39bc55ee6231951ebd3832c90a64bbec99612a5f279453f4b6eeff6769").unwrap(), context);
        // A key longer than MD5's block is hashed first (RFC 2104 §2).
        let long = [b'k'; 65];
        assert_eq!(cram_md5_context(&long), cram_md5_context(&Md5::digest(long)));
    }

    #[test]
    fn unknown_and_malformed_values_are_refused_by_scheme() {
        let cases = [
            ("{FOO-BAR}x", SchemeProblem::Unknown),
            ("{SHA256.ROT13}x", SchemeProblem::Unknown),
            ("{DIGEST-MD5}x", SchemeProblem::Unknown),
            ("{PLAIN}", SchemeProblem::Empty),
            ("", SchemeProblem::Empty),
            ("{PLAIN.HEX}6", SchemeProblem::BadHex),
            ("{PLAIN.HEX}zz", SchemeProblem::BadHex),
            ("{PLAIN.HEX}ff", SchemeProblem::NotUtf8),
            ("{SSHA}hashhash", SchemeProblem::Malformed("a salted digest (too short for its salt)")),
            ("{SSHA}not base64!", SchemeProblem::BadBase64),
            ("{CRAM-MD5}abcd", SchemeProblem::WrongLength),
            ("{MD5-CRYPT}$6$salt$x", SchemeProblem::Malformed("an MD5-crypt ($1$) hash")),
            ("{PBKDF2}$1$salt$0$dc1ff35e51d7378e0f4b3fa77d2a60941a4a7830", SchemeProblem::Malformed("$1$salt$rounds$hex")),
            ("{PBKDF2}$1$salt$5000$dc1f", SchemeProblem::Malformed("$1$salt$rounds$hex")),
            ("{ARGON2ID}$argon2id$v=19$m=65536", SchemeProblem::Malformed("an Argon2 PHC string")),
            (
                "{ARGON2ID}$argon2id$v=19$m=4194304,t=3,p=1$HYvJlnODY1B9MCQrjKhJRA$yh03XR5aEFC0VJWSAIIvcr1SlQHF5fya/ruusGeAmU8",
                SchemeProblem::Malformed("an Argon2 hash within 1 GiB of memory"),
            ),
        ];
        for (field, expected) in cases {
            assert_eq!(problem(field), expected, "{field:?}");
        }
    }

    #[test]
    fn errors_name_the_scheme_but_never_the_value() {
        let error = read_field("{SHA512-CRYPT}$6$topsecret").unwrap_err().to_string();
        assert_eq!(error, "password scheme {SHA512-CRYPT}: the value is not a valid SHA512-crypt hash");
        let error = read_field("{FOO-BAR}topsecret").unwrap_err().to_string();
        assert_eq!(error, "password scheme {FOO-BAR}: not supported");
    }

    #[test]
    fn debug_output_hides_the_value() {
        let text = format!("{:?}", read(DOVEADM[0]));
        assert!(!text.contains("2oguq15"), "{text}");
    }
}
