//! The MGMT command parser: one line in, one typed [`Command`] out.
//!
//! Pure: it never sees a socket and never looks at server state, so range
//! checks that depend on the running server (the connection hard limit, the
//! current number of users) belong to the session, not here. Verbs are
//! case-insensitive; arguments are separated by spaces, except that `PASS`
//! takes the rest of the line so an admin password may contain spaces (as
//! with POP3's PASS, RFC 1939 §7).

use std::fmt;

use crate::accounts::password::StoredPassword;
use crate::accounts::users::{Credentials, Password, UserName};

/// Every MGMT verb, in the order CAPA lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    User,
    Pass,
    Quit,
    Capa,
    Noop,
    HistoricConnec,
    LiveConnec,
    BytesTrans,
    Users,
    Status,
    MaxConnec,
    MaxUsers,
    Timeout,
    DeleteUser,
    AddUser,
    ResetUserPassword,
    ChangePassword,
}

impl Verb {
    pub const ALL: [Verb; 17] = [
        Verb::User,
        Verb::Pass,
        Verb::Quit,
        Verb::Capa,
        Verb::Noop,
        Verb::HistoricConnec,
        Verb::LiveConnec,
        Verb::BytesTrans,
        Verb::Users,
        Verb::Status,
        Verb::MaxConnec,
        Verb::MaxUsers,
        Verb::Timeout,
        Verb::DeleteUser,
        Verb::AddUser,
        Verb::ResetUserPassword,
        Verb::ChangePassword,
    ];

    /// The verb as written on the wire and echoed in its `+OK` line.
    pub fn name(self) -> &'static str {
        match self {
            Verb::User => "USER",
            Verb::Pass => "PASS",
            Verb::Quit => "QUIT",
            Verb::Capa => "CAPA",
            Verb::Noop => "NOOP",
            Verb::HistoricConnec => "HISTORIC_CONNEC",
            Verb::LiveConnec => "LIVE_CONNEC",
            Verb::BytesTrans => "BYTES_TRANS",
            Verb::Users => "USERS",
            Verb::Status => "STATUS",
            Verb::MaxConnec => "MAX_CONNEC",
            Verb::MaxUsers => "MAX_USERS",
            Verb::Timeout => "TIMEOUT",
            Verb::DeleteUser => "DELETE_USER",
            Verb::AddUser => "ADD_USER",
            Verb::ResetUserPassword => "RESET_USER_PASSWORD",
            Verb::ChangePassword => "CHANGE_PASSWORD",
        }
    }

    /// The argument names CAPA shows after the verb.
    pub fn arguments(self) -> &'static [&'static str] {
        match self {
            Verb::User => &["<name>"],
            Verb::Pass => &["<password>"],
            Verb::MaxConnec => &["<connections>"],
            Verb::MaxUsers => &["<users>"],
            Verb::Timeout => &["<seconds>"],
            Verb::DeleteUser | Verb::ResetUserPassword => &["<name>"],
            Verb::AddUser => &["<name>", "<password>"],
            Verb::ChangePassword => &["<old-password>", "<new-password>"],
            _ => &[],
        }
    }

    /// True if a successful reply carries data lines closed by ".".
    ///
    /// Queries answer with data; commands that change something answer with
    /// one `+OK` line. Every `-ERR` is one line. A client needs nothing but
    /// the verb it sent to know how much to read.
    pub fn has_data(self) -> bool {
        matches!(
            self,
            Verb::Capa | Verb::HistoricConnec | Verb::LiveConnec | Verb::BytesTrans | Verb::Users | Verb::Status
        )
    }

    /// Looks a verb up by name, ignoring case.
    pub fn from_name(name: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|verb| verb.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One parsed MGMT command with typed arguments.
///
/// Passwords are [`Password`]s, whose `Debug` hides them, so a command can
/// be logged whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(Password),
    Quit,
    Capa,
    Noop,
    HistoricConnec,
    LiveConnec,
    BytesTrans,
    Users,
    Status,
    MaxConnec(u64),
    MaxUsers(u64),
    Timeout(u64),
    DeleteUser(String),
    AddUser(Credentials),
    ResetUserPassword(String),
    ChangePassword { old: Password, new: Password },
}

impl Command {
    pub fn verb(&self) -> Verb {
        match self {
            Command::User(_) => Verb::User,
            Command::Pass(_) => Verb::Pass,
            Command::Quit => Verb::Quit,
            Command::Capa => Verb::Capa,
            Command::Noop => Verb::Noop,
            Command::HistoricConnec => Verb::HistoricConnec,
            Command::LiveConnec => Verb::LiveConnec,
            Command::BytesTrans => Verb::BytesTrans,
            Command::Users => Verb::Users,
            Command::Status => Verb::Status,
            Command::MaxConnec(_) => Verb::MaxConnec,
            Command::MaxUsers(_) => Verb::MaxUsers,
            Command::Timeout(_) => Verb::Timeout,
            Command::DeleteUser(_) => Verb::DeleteUser,
            Command::AddUser(_) => Verb::AddUser,
            Command::ResetUserPassword(_) => Verb::ResetUserPassword,
            Command::ChangePassword { .. } => Verb::ChangePassword,
        }
    }
}

/// Why a line is not a valid command. `Display` is the `-ERR` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    Empty,
    NotUtf8,
    UnknownVerb,
    MissingArgument(Verb),
    TooManyArguments(Verb),
    /// A count or a number of seconds that is not a decimal number (a sign,
    /// letters, or more digits than any limit could need).
    NotANumber(Verb),
    BadUserName,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Empty => f.write_str("EMPTY COMMAND"),
            CommandError::NotUtf8 => f.write_str("COMMAND IS NOT UTF-8"),
            CommandError::UnknownVerb => f.write_str("UNKNOWN COMMAND"),
            CommandError::MissingArgument(verb) => {
                write!(f, "MISSING ARGUMENT: {verb}{}", usage_suffix(*verb))
            }
            CommandError::TooManyArguments(verb) => {
                write!(f, "TOO MANY ARGUMENTS: {verb}{}", usage_suffix(*verb))
            }
            CommandError::NotANumber(verb) => {
                write!(f, "NOT A POSITIVE NUMBER: {verb}{}", usage_suffix(*verb))
            }
            CommandError::BadUserName => {
                f.write_str("INVALID USER NAME (1-64 OF A-Z a-z 0-9 . _ -, NOT STARTING WITH .)")
            }
        }
    }
}

impl std::error::Error for CommandError {}

fn usage_suffix(verb: Verb) -> String {
    verb.arguments().iter().map(|argument| format!(" {argument}")).collect()
}

/// More digits than this cannot be a meaningful count or duration, and
/// refusing them here keeps `u64` parsing from overflowing.
const MAX_DIGITS: usize = 10;

/// Parses one command line (without its CRLF).
pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
    let line = std::str::from_utf8(line).map_err(|_| CommandError::NotUtf8)?;
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    if verb.is_empty() && rest.trim_matches(' ').is_empty() {
        return Err(CommandError::Empty);
    }
    let verb = Verb::from_name(verb).ok_or(CommandError::UnknownVerb)?;
    if verb == Verb::Pass {
        return match rest {
            "" => Err(CommandError::MissingArgument(verb)),
            password => Ok(Command::Pass(Password::new(password))),
        };
    }
    let args: Vec<&str> = rest.split(' ').filter(|arg| !arg.is_empty()).collect();
    let wanted = verb.arguments().len();
    if args.len() < wanted {
        return Err(CommandError::MissingArgument(verb));
    }
    if args.len() > wanted {
        return Err(CommandError::TooManyArguments(verb));
    }
    let text = |index: usize| args[index].to_owned();
    let number = |index: usize| -> Result<u64, CommandError> {
        let arg = args[index];
        if arg.len() > MAX_DIGITS || !arg.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CommandError::NotANumber(verb));
        }
        arg.parse().map_err(|_| CommandError::NotANumber(verb))
    };
    Ok(match verb {
        Verb::User => Command::User(text(0)),
        Verb::Pass => Command::Pass(Password::new(rest)),
        Verb::Quit => Command::Quit,
        Verb::Capa => Command::Capa,
        Verb::Noop => Command::Noop,
        Verb::HistoricConnec => Command::HistoricConnec,
        Verb::LiveConnec => Command::LiveConnec,
        Verb::BytesTrans => Command::BytesTrans,
        Verb::Users => Command::Users,
        Verb::Status => Command::Status,
        Verb::MaxConnec => Command::MaxConnec(number(0)?),
        Verb::MaxUsers => Command::MaxUsers(number(0)?),
        Verb::Timeout => Command::Timeout(number(0)?),
        Verb::DeleteUser => Command::DeleteUser(text(0)),
        Verb::AddUser => {
            let name = UserName::parse(args[0]).map_err(|_| CommandError::BadUserName)?;
            Command::AddUser(Credentials { name, password: StoredPassword::Plain(Password::new(args[1])) })
        }
        Verb::ResetUserPassword => Command::ResetUserPassword(text(0)),
        Verb::ChangePassword => Command::ChangePassword { old: Password::new(args[0]), new: Password::new(args[1]) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).unwrap_or_else(|error| panic!("{line:?}: {error}"))
    }

    fn err(line: &str) -> CommandError {
        parse(line.as_bytes()).unwrap_err()
    }

    #[test]
    fn every_verb_parses_in_any_case() {
        for verb in Verb::ALL {
            let args: Vec<&str> = verb.arguments().iter().map(|_| "7").collect();
            for name in [verb.name().to_owned(), verb.name().to_ascii_lowercase(), mixed_case(verb.name())] {
                let line = std::iter::once(name.as_str()).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
                assert_eq!(ok(&line).verb(), verb, "{line}");
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
        assert_eq!(ok("MAX_CONNEC 42"), Command::MaxConnec(42));
        assert_eq!(ok("max_users  9 "), Command::MaxUsers(9));
        assert_eq!(ok("TIMEOUT 0"), Command::Timeout(0));
        assert_eq!(ok("USER admin"), Command::User("admin".into()));
        assert_eq!(ok("DELETE_USER bob"), Command::DeleteUser("bob".into()));
        let Command::AddUser(credentials) = ok("ADD_USER carol c:pw") else { panic!() };
        assert_eq!(credentials.name.as_str(), "carol");
        assert!(credentials.password.matches("c:pw"));
        let Command::ChangePassword { old, new } = ok("CHANGE_PASSWORD a b") else { panic!() };
        assert!(old.matches("a") && new.matches("b"));
    }

    #[test]
    fn pass_takes_the_rest_of_the_line() {
        let Command::Pass(password) = ok("PASS  two words ") else { panic!() };
        assert!(password.matches(" two words "));
        assert_eq!(err("PASS"), CommandError::MissingArgument(Verb::Pass));
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            ("", CommandError::Empty),
            ("   ", CommandError::Empty),
            ("FLY", CommandError::UnknownVerb),
            ("NOOP extra", CommandError::TooManyArguments(Verb::Noop)),
            ("MAX_CONNEC", CommandError::MissingArgument(Verb::MaxConnec)),
            ("MAX_CONNEC -2", CommandError::NotANumber(Verb::MaxConnec)),
            ("MAX_CONNEC +2", CommandError::NotANumber(Verb::MaxConnec)),
            ("MAX_CONNEC two", CommandError::NotANumber(Verb::MaxConnec)),
            ("TIMEOUT 99999999999", CommandError::NotANumber(Verb::Timeout)),
            ("ADD_USER onlyname", CommandError::MissingArgument(Verb::AddUser)),
            ("ADD_USER ../etc pw", CommandError::BadUserName),
            ("CHANGE_PASSWORD a b c", CommandError::TooManyArguments(Verb::ChangePassword)),
        ];
        for (line, expected) in cases {
            assert_eq!(err(line), expected, "{line:?}");
        }
        assert_eq!(parse(b"NOOP\xff"), Err(CommandError::NotUtf8));
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
