//! The MGMT command parser: one line in, one typed [`MgmtCommand`] out.
//!
//! Pure: it never sees a socket and never looks at server state, so range
//! checks that depend on the running server (the connection hard limit, the
//! current number of users) belong to the handlers, not here. Which verbs
//! exist and what arguments they take comes from the table in
//! [`super::verbs`]; this file only knows how a line is cut up and how each
//! argument type is read. Verbs are case-insensitive.

use std::fmt;

use super::verbs::{ArgumentSplit, MgmtCommand, MgmtVerb};
use crate::accounts::users::{Password, UserName};
use crate::wire::number::parse_decimal;

/// Why a line is not a valid command. `Display` is the `-ERR` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MgmtCommandError {
    Empty,
    NotUtf8,
    UnknownVerb,
    MissingArgument(MgmtVerb),
    TooManyArguments(MgmtVerb),
    /// A count or a number of seconds that is not a decimal number (a sign,
    /// letters, or more digits than any limit could need).
    NotANumber(MgmtVerb),
    BadUserName,
}

impl fmt::Display for MgmtCommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MgmtCommandError::Empty => f.write_str("EMPTY COMMAND"),
            MgmtCommandError::NotUtf8 => f.write_str("COMMAND IS NOT UTF-8"),
            MgmtCommandError::UnknownVerb => f.write_str("UNKNOWN COMMAND"),
            MgmtCommandError::MissingArgument(verb) => {
                write!(f, "MISSING ARGUMENT: {verb}{}", verb.usage_suffix())
            }
            MgmtCommandError::TooManyArguments(verb) => {
                write!(f, "TOO MANY ARGUMENTS: {verb}{}", verb.usage_suffix())
            }
            MgmtCommandError::NotANumber(verb) => {
                write!(f, "NOT A POSITIVE NUMBER: {verb}{}", verb.usage_suffix())
            }
            MgmtCommandError::BadUserName => {
                f.write_str("INVALID USER NAME (1-255 OF A-Z a-z 0-9 . _ - + @; ONE @ AT MOST; NO ..; NO LEADING .)")
            }
        }
    }
}

impl std::error::Error for MgmtCommandError {}

/// Parses one command line (without its CRLF).
pub fn parse(line: &[u8]) -> Result<MgmtCommand, MgmtCommandError> {
    let line = std::str::from_utf8(line).map_err(|_| MgmtCommandError::NotUtf8)?;
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    if name.is_empty() && rest.trim_matches(' ').is_empty() {
        return Err(MgmtCommandError::Empty);
    }
    let verb = MgmtVerb::from_name(name).ok_or(MgmtCommandError::UnknownVerb)?;
    let words: Vec<&str> = match verb.argument_split() {
        ArgumentSplit::Words => rest.split(' ').filter(|word| !word.is_empty()).collect(),
        ArgumentSplit::RestOfLine if rest.is_empty() => Vec::new(),
        ArgumentSplit::RestOfLine => vec![rest],
    };
    // Counted before any argument is read, so a line with one word too
    // many is reported as that, not as a bad first argument.
    let wanted = verb.arguments().len();
    if words.len() < wanted {
        return Err(MgmtCommandError::MissingArgument(verb));
    }
    if words.len() > wanted {
        return Err(MgmtCommandError::TooManyArguments(verb));
    }
    MgmtCommand::from_arguments(verb, &mut Arguments { verb, words: words.into_iter() })
}

/// The arguments of one line, handed out one at a time in the order of
/// the command's fields.
pub struct Arguments<'l> {
    verb: MgmtVerb,
    words: std::vec::IntoIter<&'l str>,
}

impl Arguments<'_> {
    /// Reads the next argument as a `T`.
    pub fn read_next<T: MgmtArgument>(&mut self) -> Result<T, MgmtCommandError> {
        let word = self.words.next().ok_or(MgmtCommandError::MissingArgument(self.verb))?;
        T::read(word, self.verb)
    }
}

/// A type an MGMT argument can be, read from one word of the line.
pub trait MgmtArgument: Sized {
    /// # Errors
    /// The word is not a valid value of this type for `verb`.
    fn read(word: &str, verb: MgmtVerb) -> Result<Self, MgmtCommandError>;

    /// The word that reads back as this value.
    #[cfg(any(test, feature = "fuzzing"))]
    fn canonical(&self) -> String;
}

/// More digits than this cannot be a meaningful count or duration.
const MAX_DIGITS: usize = 10;

/// A count or a number of seconds.
impl MgmtArgument for u64 {
    fn read(word: &str, verb: MgmtVerb) -> Result<Self, MgmtCommandError> {
        let number = if word.len() > MAX_DIGITS { None } else { parse_decimal(word) };
        number.ok_or(MgmtCommandError::NotANumber(verb))
    }

    #[cfg(any(test, feature = "fuzzing"))]
    fn canonical(&self) -> String {
        self.to_string()
    }
}

/// A name to log in with or to look up in the user table: any word, since
/// a name that cannot exist is simply not found.
impl MgmtArgument for String {
    fn read(word: &str, _: MgmtVerb) -> Result<Self, MgmtCommandError> {
        Ok(word.to_owned())
    }

    #[cfg(any(test, feature = "fuzzing"))]
    fn canonical(&self) -> String {
        self.clone()
    }
}

/// A name for a new account, checked here so a bad one is refused before
/// anything changes.
impl MgmtArgument for UserName {
    fn read(word: &str, _: MgmtVerb) -> Result<Self, MgmtCommandError> {
        UserName::parse(word).map_err(|_| MgmtCommandError::BadUserName)
    }

    #[cfg(any(test, feature = "fuzzing"))]
    fn canonical(&self) -> String {
        self.as_str().to_owned()
    }
}

impl MgmtArgument for Password {
    fn read(word: &str, _: MgmtVerb) -> Result<Self, MgmtCommandError> {
        Ok(Password::new(word))
    }

    #[cfg(any(test, feature = "fuzzing"))]
    fn canonical(&self) -> String {
        self.expose().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> MgmtCommand {
        parse(line.as_bytes()).unwrap_or_else(|error| panic!("{line:?}: {error}"))
    }

    fn err(line: &str) -> MgmtCommandError {
        parse(line.as_bytes()).unwrap_err()
    }

    #[test]
    fn every_verb_parses_in_any_case() {
        for &verb in MgmtVerb::ALL {
            let args: Vec<&str> = verb.arguments().iter().map(|_| "7").collect();
            for name in [verb.name().to_owned(), verb.name().to_ascii_lowercase(), mixed_case(verb.name())] {
                let line = std::iter::once(name.as_str()).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
                let command = ok(&line);
                assert_eq!(command.verb(), verb, "{line}");
                assert_eq!(ok(&command.canonical_line()), command, "{line}");
            }
        }
    }

    fn mixed_case(name: &str) -> String {
        name.chars()
            .enumerate()
            .map(|(i, c)| if i % 2 == 0 { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() })
            .collect()
    }

    #[test]
    fn arguments_are_typed() {
        assert_eq!(ok("MAX_CONNEC 42"), MgmtCommand::MaxConnec { connections: 42 });
        assert_eq!(ok("max_users  9 "), MgmtCommand::MaxUsers { users: 9 });
        assert_eq!(ok("TIMEOUT 0"), MgmtCommand::Timeout { seconds: 0 });
        assert_eq!(ok("USER admin"), MgmtCommand::User { name: "admin".into() });
        assert_eq!(ok("DELETE_USER bob"), MgmtCommand::DeleteUser { name: "bob".into() });
        let MgmtCommand::AddUser { name, password } = ok("ADD_USER carol c:pw") else { panic!() };
        assert_eq!(name.as_str(), "carol");
        assert!(password.matches("c:pw"));
        let MgmtCommand::ChangePassword { old, new } = ok("CHANGE_PASSWORD a b") else { panic!() };
        assert!(old.matches("a") && new.matches("b"));
    }

    #[test]
    fn pass_takes_the_rest_of_the_line() {
        let MgmtCommand::Pass { password } = ok("PASS  two words ") else { panic!() };
        assert!(password.matches(" two words "));
        assert_eq!(err("PASS"), MgmtCommandError::MissingArgument(MgmtVerb::Pass));
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            ("", MgmtCommandError::Empty),
            ("   ", MgmtCommandError::Empty),
            ("FLY", MgmtCommandError::UnknownVerb),
            ("NOOP extra", MgmtCommandError::TooManyArguments(MgmtVerb::Noop)),
            ("MAX_CONNEC", MgmtCommandError::MissingArgument(MgmtVerb::MaxConnec)),
            ("MAX_CONNEC -2", MgmtCommandError::NotANumber(MgmtVerb::MaxConnec)),
            ("MAX_CONNEC +2", MgmtCommandError::NotANumber(MgmtVerb::MaxConnec)),
            ("MAX_CONNEC two", MgmtCommandError::NotANumber(MgmtVerb::MaxConnec)),
            ("TIMEOUT 99999999999", MgmtCommandError::NotANumber(MgmtVerb::Timeout)),
            ("ADD_USER onlyname", MgmtCommandError::MissingArgument(MgmtVerb::AddUser)),
            ("ADD_USER ../etc pw", MgmtCommandError::BadUserName),
            ("CHANGE_PASSWORD a b c", MgmtCommandError::TooManyArguments(MgmtVerb::ChangePassword)),
        ];
        for (line, expected) in cases {
            assert_eq!(err(line), expected, "{line:?}");
        }
        assert_eq!(parse(b"NOOP\xff"), Err(MgmtCommandError::NotUtf8));
    }

    #[test]
    fn ten_digits_are_the_most_a_number_may_have() {
        assert_eq!(ok("TIMEOUT 9999999999"), MgmtCommand::Timeout { seconds: 9_999_999_999 });
        assert_eq!(ok("TIMEOUT 0000000001"), MgmtCommand::Timeout { seconds: 1 });
        assert_eq!(err("TIMEOUT 00000000001"), MgmtCommandError::NotANumber(MgmtVerb::Timeout));
    }

    #[test]
    fn error_texts_show_the_usage() {
        assert_eq!(err("ADD_USER x").to_string(), "MISSING ARGUMENT: ADD_USER <name> <password>");
        assert_eq!(err("QUIT now").to_string(), "TOO MANY ARGUMENTS: QUIT");
        assert_eq!(err("MAX_USERS many").to_string(), "NOT A POSITIVE NUMBER: MAX_USERS <users>");
    }

    #[test]
    fn no_byte_string_makes_the_parser_panic() {
        let alphabet: &[u8] = b" A_0:\xff\t-";
        let mut line = Vec::new();
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    line.clear();
                    line.extend_from_slice(b"MAX_CONNEC");
                    line.extend_from_slice(&[*a, *b, *c]);
                    let _ = parse(&line);
                    let _ = parse(&line[10..]);
                }
            }
        }
    }

    #[test]
    fn errors_never_show_a_password() {
        let text = format!("{:?}", ok("CHANGE_PASSWORD hunter2 s3cret"));
        assert!(!text.contains("hunter2") && !text.contains("s3cret"), "{text}");
    }
}
