//! SASL PLAIN (RFC 4616) as carried by the POP3 AUTH command (RFC 5034).
//!
//! Pure decoding: a base64 client response in, the identity and password
//! out. It never checks a password and never sees the connection: the
//! exchange itself (the `+ ` continuation, `*` to cancel) is the login
//! handler's business.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The one mechanism offered (CAPA `SASL PLAIN`).
pub const PLAIN: &str = "PLAIN";

/// A decoded PLAIN response.
#[derive(Debug, PartialEq, Eq)]
pub struct PlainCredentials {
    pub user: String,
    pub password: String,
}

/// Why a PLAIN response was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslError {
    /// RFC 5034 §4: a response that is not valid base64 is rejected.
    BadBase64,
    /// Not `authzid NUL authcid NUL password` in UTF-8.
    Malformed,
    /// Acting as another user (an authorization identity that differs from
    /// the authentication identity) is not supported.
    ProxyNotAllowed,
}

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SaslError::BadBase64 => "invalid base64 in SASL response",
            SaslError::Malformed => "malformed SASL PLAIN response",
            SaslError::ProxyNotAllowed => "authorization identity must be empty or the user's own",
        })
    }
}

impl std::error::Error for SaslError {}

/// Decodes a PLAIN response (`=` stands for an empty one, RFC 5034 §4).
pub fn decode_plain(response: &str) -> Result<PlainCredentials, SaslError> {
    let response = response.trim_end();
    let bytes =
        if response == "=" { Vec::new() } else { STANDARD.decode(response).map_err(|_| SaslError::BadBase64)? };
    let text = String::from_utf8(bytes).map_err(|_| SaslError::Malformed)?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(user), Some(password), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    PlainCredentials::from_fields(authzid, user, password)
}

impl PlainCredentials {
    /// RFC 4616 §2's rules on the three fields of a PLAIN message: the
    /// authentication identity `user` must not be empty, and the
    /// authorization identity must be empty or the same user (this server
    /// does not let one user act as another).
    pub fn from_fields(authzid: &str, user: &str, password: &str) -> Result<Self, SaslError> {
        if user.is_empty() {
            return Err(SaslError::Malformed);
        }
        if !authzid.is_empty() && authzid != user {
            return Err(SaslError::ProxyNotAllowed);
        }
        Ok(Self { user: user.to_owned(), password: password.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(raw: &str) -> String {
        STANDARD.encode(raw)
    }

    #[test]
    fn plain_responses_decode() {
        let expected = PlainCredentials { user: "alice".into(), password: "pw d".into() };
        assert_eq!(decode_plain(&encode("\0alice\0pw d")), Ok(expected));
        assert_eq!(decode_plain(&encode("alice\0alice\0x")).unwrap().user, "alice");
    }

    #[test]
    fn bad_responses_are_rejected() {
        assert_eq!(decode_plain("not base64!"), Err(SaslError::BadBase64));
        assert_eq!(decode_plain("="), Err(SaslError::Malformed));
        assert_eq!(decode_plain(&encode("alice\0pw")), Err(SaslError::Malformed));
        assert_eq!(decode_plain(&encode("\0\0pw")), Err(SaslError::Malformed));
        assert_eq!(decode_plain(&encode("a\0b\0c\0d")), Err(SaslError::Malformed));
        assert_eq!(decode_plain(&encode("bob\0alice\0pw")), Err(SaslError::ProxyNotAllowed));
    }
}
