//! Why an MGMT command did not succeed: [`MgmtError`].
//!
//! Its `Display` is the text after `-ERR`, word for word what admins'
//! scripts match, and must not change. That includes the text for each
//! refused user-table change: the user table describes its errors in plain
//! English, for anyone, and this file turns each into the protocol's
//! wording.

use std::fmt;
use std::io;

use super::command::MgmtCommandError;
use super::protocol::MAX_PAUSE_SECS;
use super::TOO_MANY_ADMINS;
use crate::accounts::users::UserTableError;
use crate::wire::line::MAX_LINE_OCTETS;
use crate::wire::reply::ResponseCode;

/// A refused command, or a connection that broke while answering one.
#[derive(Debug)]
pub enum MgmtError {
    Command(MgmtCommandError),
    LineTooLong,
    NotAuthenticated,
    AlreadyAuthenticated,
    UserFirst,
    /// Wrong name or wrong password: deliberately the same reply.
    AuthenticationFailed,
    WrongPassword,
    UserTable(UserTableError),
    MaxConnectionsOutOfRange {
        hard_max: usize,
    },
    MaxUsersTooLarge {
        limit: u64,
    },
    PauseOutOfRange,
    /// A newer connection took this one's login slot (see
    /// [`super::slots`]); the connection is closed.
    LoginSlotLost,
    /// Every admin slot is taken by a logged-in admin; the connection is
    /// closed.
    TooManyAdmins,
    /// The change is live but the users file could not be rewritten.
    NotSaved(io::Error),
    /// The users file changed on disk and cannot be read; nothing was
    /// changed (the log says why).
    FileUnreadable,
    /// The reply could not be written: the connection is broken and no
    /// `-ERR` can be sent. The session passes this one up instead.
    Io(io::Error),
}

impl fmt::Display for MgmtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MgmtError::Command(error) => error.fmt(f),
            MgmtError::LineTooLong => write!(f, "LINE TOO LONG (OVER {MAX_LINE_OCTETS} OCTETS)"),
            MgmtError::NotAuthenticated => f.write_str("NOT AUTHENTICATED: USER AND PASS FIRST"),
            MgmtError::AlreadyAuthenticated => f.write_str("ALREADY AUTHENTICATED"),
            MgmtError::UserFirst => f.write_str("SEND USER FIRST"),
            MgmtError::AuthenticationFailed => f.write_str("AUTHENTICATION FAILED"),
            MgmtError::WrongPassword => f.write_str("OLD PASSWORD DOES NOT MATCH"),
            MgmtError::UserTable(error) => f.write_str(user_table_reply(*error)),
            MgmtError::MaxConnectionsOutOfRange { hard_max } => {
                write!(f, "MAX CONNECTIONS MUST BE 1-{hard_max}")
            }
            MgmtError::MaxUsersTooLarge { limit } => write!(f, "MAX USERS MUST BE AT MOST {limit}"),
            MgmtError::PauseOutOfRange => write!(f, "TIMEOUT MUST BE 1-{MAX_PAUSE_SECS} SECONDS"),
            // RFC 3206 §4: temporary, the admin may connect again at once.
            MgmtError::LoginSlotLost => write!(f, "{} LOGIN SLOT TAKEN BY A NEWER CONNECTION", ResponseCode::SysTemp),
            MgmtError::TooManyAdmins => write!(f, "{} {TOO_MANY_ADMINS}", ResponseCode::SysTemp),
            MgmtError::NotSaved(error) => {
                write!(f, "CHANGE APPLIED BUT USERS FILE NOT SAVED: {error}")
            }
            MgmtError::FileUnreadable => f.write_str("USERS FILE CHANGED ON DISK AND CANNOT BE READ: NOTHING CHANGED"),
            MgmtError::Io(error) => write!(f, "CONNECTION LOST: {error}"),
        }
    }
}

/// The `-ERR` text for each refused user-table change.
fn user_table_reply(error: UserTableError) -> &'static str {
    match error {
        UserTableError::AlreadyExists => "USER ALREADY EXISTS",
        UserTableError::MaxUsersReached => "MAX USERS REACHED",
        UserTableError::NotFound => "USER NOT FOUND",
        UserTableError::AdminCannotBeDeleted => "ADMIN CANNOT BE DELETED",
        UserTableError::BelowCurrentCount => "MAX USERS BELOW CURRENT USER COUNT",
    }
}

impl MgmtError {
    /// True if the connection cannot go on after this refusal: it holds no
    /// slot any more, or can never get one.
    pub fn ends_connection(&self) -> bool {
        matches!(self, MgmtError::LoginSlotLost | MgmtError::TooManyAdmins)
    }
}

impl std::error::Error for MgmtError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MgmtError::Command(error) => Some(error),
            MgmtError::UserTable(error) => Some(error),
            MgmtError::NotSaved(error) | MgmtError::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<MgmtCommandError> for MgmtError {
    fn from(error: MgmtCommandError) -> Self {
        MgmtError::Command(error)
    }
}

impl From<UserTableError> for MgmtError {
    fn from(error: UserTableError) -> Self {
        MgmtError::UserTable(error)
    }
}

impl From<io::Error> for MgmtError {
    fn from(error: io::Error) -> Self {
        MgmtError::Io(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_table_errors_keep_their_reply_texts() {
        let cases = [
            (UserTableError::AlreadyExists, "USER ALREADY EXISTS"),
            (UserTableError::MaxUsersReached, "MAX USERS REACHED"),
            (UserTableError::NotFound, "USER NOT FOUND"),
            (UserTableError::AdminCannotBeDeleted, "ADMIN CANNOT BE DELETED"),
            (UserTableError::BelowCurrentCount, "MAX USERS BELOW CURRENT USER COUNT"),
        ];
        for (error, reply) in cases {
            assert_eq!(MgmtError::UserTable(error).to_string(), reply);
        }
    }
}
