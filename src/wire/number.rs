//! Numbers as both protocols write them on the wire: plain base-10 digits.
//!
//! RFC 1939 §3: message numbers "are always base 10". The same rule serves
//! every count and duration MGMT takes, so one parser serves both: no sign,
//! no spaces, no other base, and no silent wrap-around on overflow.

/// The value of `text` if it is one or more ASCII digits that fit a `u64`.
pub fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_digits_are_numbers() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("007"), Some(7));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in ["", " 1", "1 ", "+1", "-1", "1.5", "0x10", "18446744073709551616", "١"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
