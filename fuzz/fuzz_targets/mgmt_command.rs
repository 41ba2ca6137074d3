//! The MGMT command parser on arbitrary bytes.
//!
//! Properties: `parse` never panics; an error's reason is one line of text
//! (it becomes an `-ERR` line); a parsed command's verb is the line's first
//! word, whatever its case; the command written back out in canonical form
//! parses to the same command; and changing only the verb's case changes
//! nothing, error or success.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3d::mgmt::command::parse;

fuzz_target!(|line: &[u8]| {
    let parsed = parse(line);
    match &parsed {
        Ok(command) => {
            assert!(
                verb_word(line).eq_ignore_ascii_case(command.verb().name().as_bytes()),
                "verb {} from line {:?}",
                command.verb(),
                String::from_utf8_lossy(line)
            );
            let canonical = command.canonical_line();
            assert_eq!(parse(canonical.as_bytes()).as_ref(), Ok(command), "canonical form {canonical:?}");
        }
        Err(error) => {
            let reason = error.to_string();
            assert!(!reason.is_empty() && !reason.contains(['\r', '\n']), "reason {reason:?}");
        }
    }
    for upper in [true, false] {
        let mut recased = line.to_vec();
        let verb_len = verb_word(line).len();
        for byte in &mut recased[..verb_len] {
            *byte = if upper { byte.to_ascii_uppercase() } else { byte.to_ascii_lowercase() };
        }
        assert_eq!(parse(&recased), parsed, "recased {:?}", String::from_utf8_lossy(&recased));
    }
});

/// The verb as the MGMT parser sees it: everything up to the first space
/// (MGMT, unlike POP3, does not skip leading spaces).
fn verb_word(line: &[u8]) -> &[u8] {
    &line[..line.iter().position(|&b| b == b' ').unwrap_or(line.len())]
}
