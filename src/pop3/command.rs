//! The POP3 command grammar: one line of bytes in, a [`Pop3Command`] or a
//! [`Pop3CommandError`] out.
//!
//! Pure parsing (RFC 1939 §3, §5-7; RFC 2449 §5 CAPA). Keywords are
//! case-insensitive; arguments are separated by spaces. This module never
//! touches a socket, and never decides whether a command is allowed in the
//! current state: that is the session's business.

use std::fmt;
use std::num::NonZeroU32;

use crate::shared::stats::{labels, Label};
use crate::wire::number::parse_decimal;

/// A 1-based message number as the client writes it (RFC 1939 §3: "message
/// numbers ... are always base 10" and start at 1).
pub type MessageNumber = NonZeroU32;

/// The argument of USER or PASS.
///
/// RFC 1939 §3 makes arguments printable ASCII. Octets that are not even
/// UTF-8 are no account's name or password, so they get the reply a wrong
/// name or password gets rather than the one for a malformed command: a
/// client that sends a password with a Latin-1 letter hears `-ERR [AUTH]`
/// (RFC 3206 §5, AUTH-RESP-CODE), as Dovecot tells it, and asks its user
/// again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Text(String),
    NotText,
}

/// One parsed POP3 command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3Command {
    User(Credential),
    /// The password is everything after `PASS `, spaces included, as in
    /// RFC 1939 §7 ("the password ... may contain spaces").
    Pass(Credential),
    Quit,
    Stat,
    List(Option<MessageNumber>),
    Retr(MessageNumber),
    Dele(MessageNumber),
    Noop,
    Rset,
    Top(MessageNumber, u64),
    Uidl(Option<MessageNumber>),
    Capa,
    /// RFC 2595 §4: switch to TLS.
    Stls,
    /// RFC 5034: `AUTH` alone lists mechanisms; otherwise a mechanism and
    /// an optional initial response.
    Auth {
        mechanism: Option<String>,
        initial_response: Option<String>,
    },
}

labels! {
    /// A command's keyword, without its arguments: the one list of the
    /// commands this server knows. The text is the keyword on the wire.
    pub enum Pop3Verb {
        User = "USER",
        Pass = "PASS",
        Quit = "QUIT",
        Stat = "STAT",
        List = "LIST",
        Retr = "RETR",
        Dele = "DELE",
        Noop = "NOOP",
        Rset = "RSET",
        Top = "TOP",
        Uidl = "UIDL",
        Capa = "CAPA",
        Stls = "STLS",
        Auth = "AUTH",
    }
}

impl Pop3Verb {
    /// The verb of `keyword`, ignoring case.
    pub fn from_keyword(keyword: &str) -> Option<Pop3Verb> {
        Pop3Verb::ALL.iter().copied().find(|verb| verb.name().eq_ignore_ascii_case(keyword))
    }
}

impl Pop3Command {
    pub fn verb(&self) -> Pop3Verb {
        match self {
            Pop3Command::User(_) => Pop3Verb::User,
            Pop3Command::Pass(_) => Pop3Verb::Pass,
            Pop3Command::Quit => Pop3Verb::Quit,
            Pop3Command::Stat => Pop3Verb::Stat,
            Pop3Command::List(_) => Pop3Verb::List,
            Pop3Command::Retr(_) => Pop3Verb::Retr,
            Pop3Command::Dele(_) => Pop3Verb::Dele,
            Pop3Command::Noop => Pop3Verb::Noop,
            Pop3Command::Rset => Pop3Verb::Rset,
            Pop3Command::Top(..) => Pop3Verb::Top,
            Pop3Command::Uidl(_) => Pop3Verb::Uidl,
            Pop3Command::Capa => Pop3Verb::Capa,
            Pop3Command::Stls => Pop3Verb::Stls,
            Pop3Command::Auth { .. } => Pop3Verb::Auth,
        }
    }

    /// The keyword, for logs that must never show arguments (a password).
    pub fn keyword(&self) -> &'static str {
        self.verb().name()
    }
}

/// Why a line is not a valid command. Each variant becomes the reason text
/// of an `-ERR` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3CommandError {
    Empty,
    Unknown,
    /// A command of a POP3 extension this server does not offer (it is not
    /// in CAPA); a client probing for it is not misbehaving.
    Unsupported(&'static str),
    NotText,
    MissingArgument(&'static str),
    TooManyArguments,
    BadMessageNumber,
    BadLineCount,
}

impl Pop3CommandError {
    /// True if the client broke the protocol, as opposed to asking for an
    /// optional extension; only breaches count towards closing a connection.
    pub fn is_misuse(&self) -> bool {
        !matches!(self, Pop3CommandError::Unsupported(_))
    }
}

impl fmt::Display for Pop3CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pop3CommandError::Empty => f.write_str("empty command"),
            Pop3CommandError::Unknown => f.write_str("unknown command"),
            Pop3CommandError::Unsupported(keyword) => write!(f, "{keyword} is not supported"),
            Pop3CommandError::NotText => f.write_str("command is not valid UTF-8 text"),
            Pop3CommandError::MissingArgument(what) => write!(f, "missing argument: {what}"),
            Pop3CommandError::TooManyArguments => f.write_str("too many arguments"),
            Pop3CommandError::BadMessageNumber => f.write_str("invalid message number"),
            Pop3CommandError::BadLineCount => f.write_str("invalid line count"),
        }
    }
}

impl std::error::Error for Pop3CommandError {}

/// Parses one command line (without its CRLF).
pub fn parse(line: &[u8]) -> Result<Pop3Command, Pop3CommandError> {
    let (keyword, rest) = split_keyword(line);
    let keyword = std::str::from_utf8(keyword).map_err(|_| Pop3CommandError::NotText)?;
    if keyword.is_empty() {
        return Err(Pop3CommandError::Empty);
    }
    let Some(verb) = Pop3Verb::from_keyword(keyword) else {
        return Err(unknown(keyword));
    };
    let Ok(rest) = std::str::from_utf8(rest) else {
        return match verb {
            Pop3Verb::User => Ok(Pop3Command::User(Credential::NotText)),
            Pop3Verb::Pass => Ok(Pop3Command::Pass(Credential::NotText)),
            _ => Err(Pop3CommandError::NotText),
        };
    };
    // RFC 1939 §3: arguments are printable ASCII, "separated by a single
    // SPACE character". Runs of spaces are forgiven, but a tab or another
    // control stays inside its argument, which then fails to parse: "LIST
    // 1<TAB>" is refused, not read as "LIST 1" (Dovecot refuses it too).
    let mut args = rest.split(' ').filter(|arg| !arg.is_empty());
    let command = match verb {
        Pop3Verb::User => Pop3Command::User(Credential::Text(required(args.next(), "user name")?.to_owned())),
        Pop3Verb::Pass => {
            // Only the one separating space belongs to the syntax.
            if rest.is_empty() {
                return Err(Pop3CommandError::MissingArgument("password"));
            }
            return Ok(Pop3Command::Pass(Credential::Text(rest.to_owned())));
        }
        Pop3Verb::Quit => Pop3Command::Quit,
        Pop3Verb::Stat => Pop3Command::Stat,
        Pop3Verb::List => Pop3Command::List(args.next().map(message_number).transpose()?),
        Pop3Verb::Retr => Pop3Command::Retr(message_number(required(args.next(), "message number")?)?),
        Pop3Verb::Dele => Pop3Command::Dele(message_number(required(args.next(), "message number")?)?),
        Pop3Verb::Noop => Pop3Command::Noop,
        Pop3Verb::Rset => Pop3Command::Rset,
        Pop3Verb::Top => {
            let number = message_number(required(args.next(), "message number")?)?;
            let lines = required(args.next(), "line count")?;
            Pop3Command::Top(number, parse_decimal(lines).ok_or(Pop3CommandError::BadLineCount)?)
        }
        Pop3Verb::Uidl => Pop3Command::Uidl(args.next().map(message_number).transpose()?),
        Pop3Verb::Capa => Pop3Command::Capa,
        Pop3Verb::Stls => Pop3Command::Stls,
        Pop3Verb::Auth => Pop3Command::Auth {
            mechanism: args.next().map(str::to_ascii_uppercase),
            initial_response: args.next().map(str::to_owned),
        },
    };
    if args.next().is_some() {
        return Err(Pop3CommandError::TooManyArguments);
    }
    Ok(command)
}

/// Extensions a client may probe for, which this server does not offer.
const UNSUPPORTED: [&str; 3] = ["APOP", "UTF8", "LANG"];

/// The error for a keyword that is no [`Pop3Verb`].
fn unknown(keyword: &str) -> Pop3CommandError {
    match UNSUPPORTED.iter().find(|name| name.eq_ignore_ascii_case(keyword)) {
        Some(name) => Pop3CommandError::Unsupported(name),
        None => Pop3CommandError::Unknown,
    }
}

/// Splits `KEYWORD rest` at the first space; `rest` keeps inner spaces.
/// Octets, not text: only the keyword need be UTF-8 for the verb to be
/// known.
fn split_keyword(line: &[u8]) -> (&[u8], &[u8]) {
    let start = line.iter().position(|&octet| octet != b' ').unwrap_or(line.len());
    let line = &line[start..];
    match line.iter().position(|&octet| octet == b' ') {
        Some(space) => (&line[..space], &line[space + 1..]),
        None => (line, b""),
    }
}

fn required<'a>(arg: Option<&'a str>, what: &'static str) -> Result<&'a str, Pop3CommandError> {
    arg.ok_or(Pop3CommandError::MissingArgument(what))
}

fn message_number(arg: &str) -> Result<MessageNumber, Pop3CommandError> {
    parse_decimal(arg)
        .and_then(|n| u32::try_from(n).ok())
        .and_then(NonZeroU32::new)
        .ok_or(Pop3CommandError::BadMessageNumber)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(value: u32) -> MessageNumber {
        NonZeroU32::new(value).unwrap()
    }

    fn text(value: &str) -> Credential {
        Credential::Text(value.to_owned())
    }

    #[test]
    fn keywords_are_case_insensitive() {
        for keyword in ["stat", "STAT", "Stat", "sTaT"] {
            assert_eq!(parse(keyword.as_bytes()), Ok(Pop3Command::Stat));
        }
        assert_eq!(parse(b"retr 3"), Ok(Pop3Command::Retr(n(3))));
    }

    #[test]
    fn every_command_with_its_arguments() {
        let cases: &[(&str, Pop3Command)] = &[
            ("USER alice", Pop3Command::User(text("alice"))),
            ("USER alice\t", Pop3Command::User(text("alice\t"))),
            ("PASS secret", Pop3Command::Pass(text("secret"))),
            ("PASS two words ", Pop3Command::Pass(text("two words "))),
            ("QUIT", Pop3Command::Quit),
            ("LIST", Pop3Command::List(None)),
            ("LIST 2", Pop3Command::List(Some(n(2)))),
            ("RETR 1", Pop3Command::Retr(n(1))),
            ("DELE 4294967295", Pop3Command::Dele(n(u32::MAX))),
            ("NOOP", Pop3Command::Noop),
            ("RSET", Pop3Command::Rset),
            ("TOP 1 0", Pop3Command::Top(n(1), 0)),
            ("TOP 1 18446744073709551615", Pop3Command::Top(n(1), u64::MAX)),
            ("UIDL", Pop3Command::Uidl(None)),
            ("UIDL 7", Pop3Command::Uidl(Some(n(7)))),
            ("CAPA", Pop3Command::Capa),
            ("STLS", Pop3Command::Stls),
            ("AUTH", Pop3Command::Auth { mechanism: None, initial_response: None }),
            ("auth plain", Pop3Command::Auth { mechanism: Some("PLAIN".into()), initial_response: None }),
            (
                "AUTH PLAIN AGFsaWNlAHB3",
                Pop3Command::Auth { mechanism: Some("PLAIN".into()), initial_response: Some("AGFsaWNlAHB3".into()) },
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(line.as_bytes()).as_ref(), Ok(expected), "{line}");
        }
    }

    /// A name or password that is not UTF-8 is still a USER or PASS, to be
    /// refused as a wrong one; other commands are refused as not text.
    #[test]
    fn credentials_that_are_not_text_are_still_credentials() {
        assert_eq!(parse(b"USER caf\xe9"), Ok(Pop3Command::User(Credential::NotText)));
        assert_eq!(parse(b" pass caf\xe9 au lait"), Ok(Pop3Command::Pass(Credential::NotText)));
        assert_eq!(parse(b"PASS \xff"), Ok(Pop3Command::Pass(Credential::NotText)));
        assert_eq!(parse(b"RETR \xff"), Err(Pop3CommandError::NotText));
        assert_eq!(parse(b"\xff"), Err(Pop3CommandError::NotText));
    }

    #[test]
    fn bad_arguments_are_rejected_with_a_reason() {
        use Pop3CommandError::*;
        let cases: &[(&[u8], Pop3CommandError)] = &[
            (b"", Empty),
            (b"   ", Empty),
            (b"FOO", Unknown),
            (b"RETRX 1", Unknown),
            (b"APOP alice 0123", Unsupported("APOP")),
            (b"STLS now", TooManyArguments),
            (b"AUTH PLAIN a b", TooManyArguments),
            (b"RETR", MissingArgument("message number")),
            (b"RETR 0", BadMessageNumber),
            (b"RETR -1", BadMessageNumber),
            (b"RETR +1", BadMessageNumber),
            (b"RETR abc", BadMessageNumber),
            (b"RETR 1.5", BadMessageNumber),
            (b"RETR 4294967296", BadMessageNumber),
            (b"RETR 99999999999999999999", BadMessageNumber),
            (b"RETR 1 2", TooManyArguments),
            (b"STAT 1", TooManyArguments),
            (b"LIST x", BadMessageNumber),
            (b"TOP 1", MissingArgument("line count")),
            (b"TOP 1 -1", BadLineCount),
            (b"TOP 1 99999999999999999999", BadLineCount),
            (b"USER", MissingArgument("user name")),
            (b"USER a b", TooManyArguments),
            (b"PASS", MissingArgument("password")),
            (b"US\xffER alice", NotText),
            (b"NOOP \xff", NotText),
            (b"LIST 1\t", BadMessageNumber),
            (b"RETR \t1", BadMessageNumber),
            (b"UIDL \t", BadMessageNumber),
            (b"TOP 1\t0", BadMessageNumber),
            (b"NOOP \t", TooManyArguments),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(line).as_ref(), Err(expected), "{:?}", String::from_utf8_lossy(line));
        }
    }
}
