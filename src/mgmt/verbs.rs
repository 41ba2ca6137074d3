//! The MGMT verb table: every verb of the protocol, written down once.
//!
//! Each row of the `mgmt_verbs!` table below gives a verb's name on the
//! wire, the shape of its successful reply, how its arguments are read,
//! their types and the names the capability list shows for them, and, for
//! the commands `admin_monitor` offers, its place in `-HELP` and its
//! command-line flag. The macro turns the rows into [`MgmtVerb`], the typed
//! [`MgmtCommand`] and [`MONITOR_COMMANDS`]; the parser, the capability
//! list, the `+OK VERB` replies, the usage part of error texts and the
//! client all read them from there, so a new verb is one new row (and its
//! handler).
//!
//! Pure: no socket, no server state.

use super::command::{Arguments, MgmtCommandError};
use crate::accounts::users::{Password, UserName};

/// What a successful reply looks like. A client needs nothing but the verb
/// it sent to know how much to read; every `-ERR` is one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyShape {
    /// One `+OK` line: commands that change something.
    OneLine,
    /// `+OK VERB`, data lines, and a closing ".": queries.
    Data,
}

/// How the text after the verb becomes arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgumentSplit {
    /// Words separated by one or more spaces.
    Words,
    /// The whole rest of the line is one argument, spaces and all, so an
    /// admin password may contain spaces (as a POP3 password may, RFC 1939 §7).
    RestOfLine,
}

/// One of `admin_monitor`'s command-line commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorCommand {
    /// What the user types, such as `-STATUS` (matched ignoring case).
    pub flag: &'static str,
    /// The verb it sends.
    pub verb: MgmtVerb,
    /// Where `-HELP` lists it. Not quite the order of the table: the help
    /// text and the capability list have always differed in one pair, and
    /// users see both.
    pub help_place: u8,
}

/// Expands the verb table into the types and lookups everything else uses.
///
/// A row: `Variant "NAME" shape monitor split(field: Type = "<shown-name>", ...);`
/// where `monitor` is `place "-FLAG"` for a command `admin_monitor` offers
/// and `_` for one it does not.
macro_rules! mgmt_verbs {
    ($(
        $verb:ident $name:literal $shape:ident $( $place:literal $flag:literal )? $(_)?
            $split:ident ( $( $field:ident : $type:ty = $argument:literal ),* );
    )*) => {
        /// An MGMT verb, without its arguments: one per row of the table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MgmtVerb {
            $( $verb, )*
        }

        impl MgmtVerb {
            /// Every verb, in the order of the table, which is the order
            /// the capability list shows them in.
            pub const ALL: &'static [MgmtVerb] = &[ $( MgmtVerb::$verb, )* ];

            /// The verb as written on the wire and echoed in its `+OK` line.
            pub fn name(self) -> &'static str {
                match self {
                    $( MgmtVerb::$verb => $name, )*
                }
            }

            /// The argument names the capability list and the usage texts show.
            pub fn arguments(self) -> &'static [&'static str] {
                match self {
                    $( MgmtVerb::$verb => &[ $( $argument ),* ], )*
                }
            }

            /// What a successful reply to the verb looks like.
            pub fn reply_shape(self) -> ReplyShape {
                match self {
                    $( MgmtVerb::$verb => ReplyShape::$shape, )*
                }
            }

            /// How the text after the verb is cut into arguments.
            pub fn argument_split(self) -> ArgumentSplit {
                match self {
                    $( MgmtVerb::$verb => ArgumentSplit::$split, )*
                }
            }
        }

        /// One parsed MGMT command with typed arguments: one variant per
        /// row of the table, with the row's fields.
        ///
        /// Passwords are [`Password`]s, whose `Debug` hides them, so a
        /// command can be logged whole.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum MgmtCommand {
            $( $verb { $( $field: $type ),* }, )*
        }

        impl MgmtCommand {
            pub fn verb(&self) -> MgmtVerb {
                match self {
                    $( MgmtCommand::$verb { .. } => MgmtVerb::$verb, )*
                }
            }

            /// Builds the command of `verb` from exactly as many arguments
            /// as it takes, each read in the order of its fields.
            pub(super) fn from_arguments(
                verb: MgmtVerb,
                arguments: &mut Arguments<'_>,
            ) -> Result<MgmtCommand, MgmtCommandError> {
                Ok(match verb {
                    $( MgmtVerb::$verb => MgmtCommand::$verb { $( $field: arguments.read_next()? ),* }, )*
                })
            }

            /// The command written back out, verb in capitals and
            /// passwords in clear: for tests that parse it again.
            #[cfg(any(test, feature = "fuzzing"))]
            pub fn canonical_line(&self) -> String {
                use super::command::MgmtArgument;
                match self {
                    $( MgmtCommand::$verb { $( $field ),* } => {
                        let words: Vec<String> = vec![ $name.to_owned() $( , $field.canonical() )* ];
                        words.join(" ")
                    } )*
                }
            }
        }

        /// The commands `admin_monitor` offers, in the order of the table.
        pub const MONITOR_COMMANDS: &[MonitorCommand] = &[
            $( $( MonitorCommand { flag: $flag, verb: MgmtVerb::$verb, help_place: $place }, )? )*
        ];
    };
}

mgmt_verbs! {
    // variant        on the wire           reply   admin_monitor             arguments (field: type = shown)
    User              "USER"                OneLine _                         Words(name: String = "<name>");
    Pass              "PASS"                OneLine _
                      RestOfLine(password: Password = "<password>");
    Quit              "QUIT"                OneLine _                         Words();
    Capa              "CAPA"                Data    _                         Words();
    Noop              "NOOP"                OneLine _                         Words();
    HistoricConnec    "HISTORIC_CONNEC"     Data    1 "-HISTORIC_CONNEC"      Words();
    LiveConnec        "LIVE_CONNEC"         Data    2 "-LIVE_CONNEC"          Words();
    BytesTrans        "BYTES_TRANS"         Data    3 "-BYTES_TRANS"          Words();
    Users             "USERS"               Data    4 "-USERS"                Words();
    Status            "STATUS"              Data    5 "-STATUS"               Words();
    MaxConnec         "MAX_CONNEC"          OneLine 7 "-MAX_CONNECTIONS"      Words(connections: u64 = "<connections>");
    MaxUsers          "MAX_USERS"           OneLine 6 "-MAX_USERS"            Words(users: u64 = "<users>");
    Timeout           "TIMEOUT"             OneLine 8 "-TIMEOUT"              Words(seconds: u64 = "<seconds>");
    DeleteUser        "DELETE_USER"         OneLine 9 "-DELETE_USER"          Words(name: String = "<name>");
    AddUser           "ADD_USER"            OneLine 10 "-ADD_USER"
                      Words(name: UserName = "<name>", password: Password = "<password>");
    ResetUserPassword "RESET_USER_PASSWORD" OneLine 11 "-RESET_USER_PASSWORD" Words(name: String = "<name>");
    ChangePassword    "CHANGE_PASSWORD"     OneLine 12 "-CHANGE_PASSWORD"
                      Words(old: Password = "<old-password>", new: Password = "<new-password>");
    Who               "WHO"                 Data    13 "-WHO"                 Words();
    Kick              "KICK"                OneLine 14 "-KICK"                Words(name: String = "<name>");
}

impl MgmtVerb {
    /// True if a successful reply carries data lines closed by ".".
    pub fn has_data(self) -> bool {
        self.reply_shape() == ReplyShape::Data
    }

    /// The argument names, each after a space: what follows the verb in
    /// the capability list and in the usage part of an error text.
    pub fn usage_suffix(self) -> String {
        self.arguments().iter().map(|argument| format!(" {argument}")).collect()
    }

    /// Looks a verb up by name, ignoring case.
    pub fn from_name(name: &str) -> Option<MgmtVerb> {
        MgmtVerb::ALL.iter().copied().find(|verb| verb.name().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for MgmtVerb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_in_capitals() {
        for (index, verb) in MgmtVerb::ALL.iter().enumerate() {
            assert_eq!(verb.name(), verb.name().to_ascii_uppercase());
            assert_eq!(MgmtVerb::from_name(verb.name()), Some(*verb));
            assert!(MgmtVerb::ALL[..index].iter().all(|earlier| earlier.name() != verb.name()));
        }
    }

    #[test]
    fn every_monitor_command_has_its_own_flag_and_place() {
        for (index, command) in MONITOR_COMMANDS.iter().enumerate() {
            assert!(command.flag.starts_with('-'), "{command:?}");
            for earlier in &MONITOR_COMMANDS[..index] {
                assert_ne!(earlier.flag, command.flag);
                assert_ne!(earlier.help_place, command.help_place);
            }
        }
    }

    #[test]
    fn only_a_password_takes_the_rest_of_the_line() {
        for verb in MgmtVerb::ALL {
            if verb.argument_split() == ArgumentSplit::RestOfLine {
                assert_eq!(verb.arguments(), ["<password>"], "{verb}");
            }
        }
    }
}
