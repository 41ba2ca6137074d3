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

/// Appends `value` in base 10 to `out`: the writing side of
/// [`parse_decimal`], for replies built octet by octet (LIST, UIDL).
pub fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_written_read_back() {
        for value in [0, 1, 9, 10, 99, 100, 4096, 1_000_000_007, u64::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, value);
            assert_eq!(out, format!("x{value}").into_bytes());
            assert_eq!(parse_decimal(std::str::from_utf8(&out[1..]).unwrap()), Some(value));
        }
    }

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
