//! The MGMT protocol's fixed numbers and texts, shared by the server and
//! the `admin_monitor` client.
//!
//! Both sides must agree on these, so they live apart from either side:
//! the client never imports from the server's session code.

use std::fmt;

use crate::wire::number::parse_decimal;

/// The greeting; `MGMT/<major>.<minor>` is what clients check.
pub const GREETING: &str = "Management server ready MGMT/1.0";

/// The protocol version this server speaks, as in [`GREETING`]. A client
/// refuses a server of another major version before it sends a password.
pub const PROTOCOL_VERSION: Version = Version { major: 1, minor: 0 };

/// The longest pause of POP3 an admin may ask for, in seconds. The client
/// needs it too: the reply to a pause comes only once it is over.
pub const MAX_PAUSE_SECS: u64 = 3600;

/// A protocol version `major.minor` (the minor part may be left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    /// Reads `major.minor` or a bare `major`, as written on the
    /// `admin_monitor` command line and after `MGMT/` in the greeting.
    pub fn parse(text: &str) -> Option<Version> {
        let (major, minor) = text.split_once('.').unwrap_or((text, "0"));
        // Nine digits always fit a `u32`; more are refused rather than
        // accepted only when small enough.
        let part = |s: &str| if s.len() > 9 { None } else { parse_decimal(s).and_then(|n| u32::try_from(n).ok()) };
        Some(Version { major: part(major)?, minor: part(minor)? })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_greeting_names_the_version() {
        assert!(GREETING.ends_with(&format!(" MGMT/{PROTOCOL_VERSION}")), "{GREETING}");
    }

    #[test]
    fn versions_are_one_or_two_plain_numbers() {
        assert_eq!(Version::parse("1.0"), Some(Version { major: 1, minor: 0 }));
        assert_eq!(Version::parse("1"), Some(Version { major: 1, minor: 0 }));
        assert_eq!(Version::parse("2.13"), Some(Version { major: 2, minor: 13 }));
        assert_eq!(Version::parse("999999999.0"), Some(Version { major: 999_999_999, minor: 0 }));
        for bad in ["", ".", "1.", ".1", "x.y", "+1.0", "1.0.0", "1 .0", "1000000000.0", "1.1000000000"] {
            assert_eq!(Version::parse(bad), None, "{bad:?}");
        }
    }
}
