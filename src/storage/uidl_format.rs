//! `--uidl-format`: Dovecot's `pop3_uidl_format`, so that a site moving
//! from Dovecot serves every message under the unique-id (RFC 1939 §7) its
//! clients already know, and none of them downloads its mail again.
//!
//! A format is text with `%` directives, read as Dovecot's `var_expand()`
//! (src/lib/var-expand.c) reads them:
//! `%[<offset>.][<width>][<modifiers>]<variable>`, where
//! - the variable is `%u` (IMAP UID), `%v` (UIDVALIDITY), `%f` (the file's
//!   base name: its name up to the `:` info suffix), `%g` (the message's
//!   GUID: the `G` field of `dovecot-uidlist`, else the base name, as
//!   Dovecot's Maildir storage defines it) or `%%` (a percent sign);
//! - the modifiers, applied left to right, are `L` and `U` (ASCII lower and
//!   upper case), `X` (a decimal number in lower-case hexadecimal; anything
//!   else becomes `0`), `R` (reversed), `T` (trailing white space trimmed),
//!   `E` (`\`, `"` and `'` escaped with `\`) and `D` (each `.` becomes
//!   `,dc=`);
//! - a width keeps that many octets, or with a leading `0` pads with zeros
//!   up to it and never truncates; an offset skips that many octets, or when
//!   negative keeps that many from the end; a negative width drops that many
//!   from the end.
//!
//! So Dovecot's default `%08Xu%08Xv` is the UID and the UIDVALIDITY, each in
//! eight hexadecimal digits. pop3d's default, `%f`, is the file's base name.
//! What pop3d cannot compute cheaply is refused when the format is parsed,
//! never met at a login: `%m` (an MD5 of each message's headers, which would
//! read every message at every login), the hash modifiers `H`, `N` and `M`,
//! and long names such as `%{uid}`. This module only parses and expands;
//! where the values come from is [`super::uidlist`]'s business.

use std::fmt;

use crate::wire::number::parse_decimal;

/// Most modifiers one directive may carry; as in Dovecot, the next letter
/// is then taken as the variable.
const MAX_MODIFIERS: usize = 10;

/// A parsed `--uidl-format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidlFormat {
    /// As given, for messages.
    text: String,
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Directive(Directive),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Directive {
    variable: Variable,
    modifiers: Vec<Modifier>,
    offset: i64,
    width: i64,
    zero_padding: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variable {
    Uid,
    UidValidity,
    FileName,
    Guid,
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Modifier {
    Lower,
    Upper,
    Escape,
    Hex,
    Reverse,
    LdapDn,
    Trim,
}

/// The one table of what may follow `%`: every letter Dovecot's
/// `var_expand()` gives a meaning, with pop3d's answer.
const MODIFIERS: [(u8, Option<Modifier>); 10] = [
    (b'L', Some(Modifier::Lower)),
    (b'U', Some(Modifier::Upper)),
    (b'E', Some(Modifier::Escape)),
    (b'X', Some(Modifier::Hex)),
    (b'R', Some(Modifier::Reverse)),
    (b'D', Some(Modifier::LdapDn)),
    (b'T', Some(Modifier::Trim)),
    // Hashes of the value: Dovecot's own string hash and MD5.
    (b'H', None),
    (b'N', None),
    (b'M', None),
];

/// The values one message's unique-id is made of.
#[derive(Debug, Clone, Copy)]
pub struct UidlFields<'a> {
    pub uid: u32,
    pub uid_validity: u32,
    /// The file's base name (before `:`), as bytes.
    pub file_name: &'a [u8],
    pub guid: &'a [u8],
}

/// Why a format was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UidlFormatError {
    /// A `%` with nothing (or only modifiers) after it.
    Unfinished,
    /// `%m`, `%{...}`, or a hash modifier: Dovecot syntax pop3d does not
    /// compute.
    Unsupported(String),
    UnknownVariable(char),
    /// No `%u`, `%v`, `%f` or `%g`: every message would get the same id
    /// (Dovecot refuses such a format too).
    NoVariable,
}

impl fmt::Display for UidlFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UidlFormatError::Unfinished => f.write_str("a '%' directive is not finished"),
            UidlFormatError::Unsupported(what) => write!(f, "{what} is not supported"),
            UidlFormatError::UnknownVariable(key) => {
                write!(f, "unknown variable '%{key}' (use %u, %v, %f, %g or %%)")
            }
            UidlFormatError::NoVariable => f.write_str("it holds none of %u, %v, %f and %g"),
        }
    }
}

impl std::error::Error for UidlFormatError {}

impl Default for UidlFormat {
    /// `%f`: the file's base name, pop3d's unique-id from the start.
    fn default() -> Self {
        Self::parse("%f").expect("%f is a valid format")
    }
}

impl fmt::Display for UidlFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl UidlFormat {
    /// Parses `text` as Dovecot reads `pop3_uidl_format`.
    pub fn parse(text: &str) -> Result<Self, UidlFormatError> {
        let mut pieces = Vec::new();
        let mut rest = text.as_bytes();
        while !rest.is_empty() {
            let literal = rest.iter().position(|&b| b == b'%').unwrap_or(rest.len());
            if literal > 0 {
                pieces.push(Piece::Literal(rest[..literal].to_vec()));
                rest = &rest[literal..];
                continue;
            }
            let (directive, after) = parse_directive(&rest[1..])?;
            pieces.push(Piece::Directive(directive));
            rest = after;
        }
        let format = Self { text: text.to_owned(), pieces };
        if !format.uses(&[Variable::Uid, Variable::UidValidity, Variable::FileName, Variable::Guid]) {
            return Err(UidlFormatError::NoVariable);
        }
        Ok(format)
    }

    /// True if the format needs Dovecot's `dovecot-uidlist` (for a UID, the
    /// UIDVALIDITY or a GUID); `%f` alone is read off the file name.
    pub fn needs_uidlist(&self) -> bool {
        self.uses(&[Variable::Uid, Variable::UidValidity, Variable::Guid])
    }

    fn uses(&self, variables: &[Variable]) -> bool {
        self.pieces.iter().any(|piece| matches!(piece, Piece::Directive(d) if variables.contains(&d.variable)))
    }

    /// The format filled in with `fields`, as Dovecot would fill it in. The
    /// result may still be no legal unique-id (see
    /// [`super::name::legal_uidl`]).
    pub fn expand(&self, fields: &UidlFields<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(bytes) => out.extend_from_slice(bytes),
                Piece::Directive(directive) => directive.expand(fields, &mut out),
            }
        }
        out
    }
}

/// Parses one directive, `bytes` starting just after its `%`; returns it
/// and what follows it.
fn parse_directive(bytes: &[u8]) -> Result<(Directive, &[u8]), UidlFormatError> {
    let mut at = 0;
    let peek = |at: usize| bytes.get(at).copied();
    let number = |at: &mut usize| {
        let mut value: i64 = 0;
        while let Some(digit @ b'0'..=b'9') = peek(*at) {
            value = value.saturating_mul(10).saturating_add(i64::from(digit - b'0'));
            *at += 1;
        }
        value
    };
    // [<offset>.]<width>, read exactly as var_expand_with_funcs() does:
    // a sign and a leading zero belong to the first number, which is the
    // offset if a '.' follows it.
    let mut sign = 1;
    if peek(at) == Some(b'-') {
        sign = -1;
        at += 1;
    }
    let mut zero_padding = false;
    if peek(at) == Some(b'0') {
        zero_padding = true;
        at += 1;
    }
    let mut width = number(&mut at);
    let mut offset = 0;
    if peek(at) == Some(b'.') {
        at += 1;
        offset = sign * width;
        zero_padding = false;
        if peek(at) == Some(b'0') {
            zero_padding = true;
            at += 1;
        }
        let mut width_sign = 1;
        if peek(at) == Some(b'-') {
            width_sign = -1;
            at += 1;
        }
        width = width_sign * number(&mut at);
    }
    let mut modifiers = Vec::new();
    while modifiers.len() < MAX_MODIFIERS {
        let Some(&(letter, modifier)) = MODIFIERS.iter().find(|(letter, _)| Some(*letter) == peek(at)) else {
            break;
        };
        let Some(modifier) = modifier else {
            return Err(UidlFormatError::Unsupported(format!("the hash modifier '{}'", char::from(letter))));
        };
        modifiers.push(modifier);
        at += 1;
    }
    let variable = match peek(at) {
        None => return Err(UidlFormatError::Unfinished),
        Some(b'u') => Variable::Uid,
        Some(b'v') => Variable::UidValidity,
        Some(b'f') => Variable::FileName,
        Some(b'g') => Variable::Guid,
        Some(b'%') => Variable::Percent,
        Some(b'm') => return Err(UidlFormatError::Unsupported("%m (an MD5 of each message's headers)".into())),
        Some(b'{') => {
            return Err(UidlFormatError::Unsupported(
                "a long variable name such as %{uid} (use %u, %v, %f or %g)".into(),
            ))
        }
        Some(_) => {
            // The key may be any character, not only ASCII.
            let text = String::from_utf8_lossy(&bytes[at..]);
            return Err(UidlFormatError::UnknownVariable(text.chars().next().unwrap_or('?')));
        }
    };
    Ok((Directive { variable, modifiers, offset, width, zero_padding }, &bytes[at + 1..]))
}

impl Directive {
    fn expand(&self, fields: &UidlFields<'_>, out: &mut Vec<u8>) {
        let mut value = match self.variable {
            Variable::Uid => fields.uid.to_string().into_bytes(),
            Variable::UidValidity => fields.uid_validity.to_string().into_bytes(),
            Variable::FileName => fields.file_name.to_vec(),
            Variable::Guid => fields.guid.to_vec(),
            Variable::Percent => b"%".to_vec(),
        };
        for modifier in &self.modifiers {
            value = modifier.apply(value);
        }
        let len = value.len() as i64;
        let start = match self.offset {
            // A negative offset keeps that many octets from the end.
            negative if negative < 0 => (len + negative).max(0),
            positive => positive.min(len),
        };
        let value = &value[start as usize..];
        let len = value.len() as i64;
        if self.width == 0 {
            out.extend_from_slice(value);
        } else if self.zero_padding {
            // "%05d-like padding. no truncation."
            out.extend(std::iter::repeat_n(b'0', (self.width - len).max(0) as usize));
            out.extend_from_slice(value);
        } else {
            // A negative width drops that many octets from the end; one
            // larger than the value keeps it whole, as in Dovecot.
            let keep = if self.width < 0 { len + self.width } else { self.width };
            let keep = if keep < 0 { len } else { keep.min(len) };
            out.extend_from_slice(&value[..keep as usize]);
        }
    }
}

impl Modifier {
    fn apply(self, value: Vec<u8>) -> Vec<u8> {
        match self {
            Modifier::Lower => value.to_ascii_lowercase(),
            Modifier::Upper => value.to_ascii_uppercase(),
            Modifier::Hex => {
                let number = std::str::from_utf8(&value).ok().and_then(parse_decimal).unwrap_or(0);
                format!("{number:x}").into_bytes()
            }
            Modifier::Reverse => value.into_iter().rev().collect(),
            Modifier::Trim => {
                let keep = value.iter().rposition(|b| !is_c_space(*b)).map_or(0, |last| last + 1);
                value[..keep].to_vec()
            }
            Modifier::Escape => value
                .into_iter()
                .flat_map(|b| match b {
                    b'"' | b'\\' | b'\'' => vec![b'\\', b],
                    _ => vec![b],
                })
                .collect(),
            Modifier::LdapDn => value
                .into_iter()
                .flat_map(|b| match b {
                    b'.' => b",dc=".to_vec(),
                    _ => vec![b],
                })
                .collect(),
        }
    }
}

/// C's `isspace()` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: UidlFields<'static> =
        UidlFields { uid: 1, uid_validity: 1796169645, file_name: b"1600000000.X.host", guid: b"1600000000.X.host" };

    fn expand(format: &str) -> String {
        let format = UidlFormat::parse(format).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        String::from_utf8(format.expand(&FIELDS)).unwrap()
    }

    /// What Dovecot 2.3.19 served for these formats, for UID 1 of a mailbox
    /// with UIDVALIDITY 1796169645 and the file 1600000000.X.host:2,S
    /// (tests/dovecot_uidl.rs checks the same against the running Dovecot).
    #[test]
    fn formats_expand_as_dovecot_expands_them() {
        let cases = [
            ("%08Xu%08Xv", "000000016b0f5fad"),
            ("%v.%u", "1796169645.1"),
            ("%Xv-%Xu", "6b0f5fad-1"),
            ("%f", "1600000000.X.host"),
            ("%Lf", "1600000000.x.host"),
            ("%Uf", "1600000000.X.HOST"),
            ("%5f", "16000"),
            ("%-5f", "16000"),
            ("%3.5f", "00000"),
            ("%-3.4f", "ost"),
            ("%.3f", "160"),
            ("%Rf", "tsoh.X.0000000061"),
            ("%Df", "1600000000,dc=X,dc=host"),
            ("%g", "1600000000.X.host"),
            ("%Xf", "0"),
            ("%010u", "0000000001"),
            ("%%u%u", "%u1"),
            ("%XUu", "1"),
            ("x%uy", "x1y"),
            ("%3.f", "0000000.X.host"),
            ("%-.3f", "160"),
            ("%0.05f", "1600000000.X.host"),
            ("%2.-3f", "00000000.X.h"),
            ("%08.Xu", ""),
            ("%-30.2f", "16"),
            ("%100f", "1600000000.X.host"),
            ("%2.-30f", "00000000.X.host"),
        ];
        for (format, expected) in cases {
            assert_eq!(expand(format), expected, "{format}");
        }
    }

    #[test]
    fn the_remaining_modifiers_work_on_octets() {
        let fields = UidlFields { file_name: b"a\"b\\c'd.e \t", ..FIELDS };
        let expand = |format: &str| UidlFormat::parse(format).unwrap().expand(&fields);
        assert_eq!(expand("%Tf"), b"a\"b\\c'd.e");
        assert_eq!(expand("%Ef"), b"a\\\"b\\\\c\\'d.e \t");
        let big = UidlFields { uid: u32::MAX, uid_validity: u32::MAX, ..FIELDS };
        assert_eq!(UidlFormat::parse("%Xu%08Xv").unwrap().expand(&big), b"ffffffffffffffff");
        let bytes = UidlFields { file_name: b"\xff\xfeA", ..FIELDS };
        assert_eq!(UidlFormat::parse("%Lf").unwrap().expand(&bytes), b"\xff\xfea", "not UTF-8, still octets");
    }

    #[test]
    fn only_uid_validity_and_guid_need_the_uidlist() {
        for (format, needs) in [("%f", false), ("%Lf-%%", false), ("%u", true), ("%f%v", true), ("%g", true)] {
            assert_eq!(UidlFormat::parse(format).unwrap().needs_uidlist(), needs, "{format}");
        }
        assert_eq!(UidlFormat::default(), UidlFormat::parse("%f").unwrap());
        assert_eq!(UidlFormat::default().to_string(), "%f");
    }

    #[test]
    fn bad_formats_are_refused_with_a_reason() {
        let unsupported = |f: &str| matches!(UidlFormat::parse(f), Err(UidlFormatError::Unsupported(_)));
        for format in ["%m", "%Hu", "%Nu", "%Mf", "%{uid}", "%X{uidvalidity}"] {
            assert!(unsupported(format), "{format}");
        }
        assert_eq!(UidlFormat::parse("%u%"), Err(UidlFormatError::Unfinished));
        assert_eq!(UidlFormat::parse("%u%08X"), Err(UidlFormatError::Unfinished));
        assert_eq!(UidlFormat::parse("%q%u"), Err(UidlFormatError::UnknownVariable('q')));
        assert_eq!(UidlFormat::parse("%u%é"), Err(UidlFormatError::UnknownVariable('é')));
        // Ten modifiers at most: the eleventh letter is the variable.
        assert_eq!(UidlFormat::parse("%LLLLLLLLLLLu"), Err(UidlFormatError::UnknownVariable('L')));
        assert!(UidlFormat::parse("%LLLLLLLLLLu").is_ok());
        for format in ["", "uidl", "%%", "%08%"] {
            assert_eq!(UidlFormat::parse(format), Err(UidlFormatError::NoVariable), "{format:?}");
        }
        assert!(UidlFormatError::Unfinished.to_string().contains('%'));
    }
}
