//! SASL PLAIN decoding (RFC 4616, as AUTH carries it, RFC 5034) on
//! arbitrary input.
//!
//! The input is used twice: as the base64 response itself, and as the raw
//! `authzid NUL authcid NUL password` message, base64-encoded before
//! decoding. Properties: `decode_plain` never panics; an error's reason is
//! one line of text; a decoded response re-encodes, with an empty or a
//! repeated authorization identity, to a response that decodes to the same
//! credentials; and an encoded message splits into its fields exactly as a
//! naive reading of RFC 4616 §2 says it should.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use pop3d::pop3::sasl::{decode_plain, PlainCredentials, SaslError};

/// RFC 4616 §2, read plainly: three NUL-separated UTF-8 fields, checked by
/// the same identity rules the server applies.
fn naive(message: &[u8]) -> Result<PlainCredentials, SaslError> {
    let text = std::str::from_utf8(message).map_err(|_| SaslError::Malformed)?;
    let fields: Vec<&str> = text.split('\0').collect();
    let [authzid, user, password] = fields[..] else {
        return Err(SaslError::Malformed);
    };
    PlainCredentials::from_fields(authzid, user, password)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = std::str::from_utf8(data) {
        match decode_plain(response) {
            Ok(credentials) => {
                assert!(!credentials.user.is_empty(), "empty user from {response:?}");
                assert!(
                    !credentials.user.contains('\0') && !credentials.password.contains('\0'),
                    "a NUL inside a field from {response:?}"
                );
                let PlainCredentials { user, password } = &credentials;
                for message in [format!("\0{user}\0{password}"), format!("{user}\0{user}\0{password}")] {
                    let encoded = STANDARD.encode(&message);
                    assert_eq!(decode_plain(&encoded).as_ref(), Ok(&credentials), "re-encoded as {encoded:?}");
                }
            }
            Err(error) => {
                let reason = error.to_string();
                assert!(!reason.is_empty() && !reason.contains(['\r', '\n']), "reason {reason:?}");
            }
        }
    }
    let encoded = STANDARD.encode(data);
    assert_eq!(decode_plain(&encoded), naive(data), "message {:?}", String::from_utf8_lossy(data));
});
