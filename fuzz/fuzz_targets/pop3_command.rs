//! The POP3 command parser on arbitrary bytes.
//!
//! Properties: `parse` never panics; an error's reason is one line of text
//! (it becomes an `-ERR` line); a parsed command's keyword is the line's
//! first word, whatever its case; and the command written back out in
//! canonical form parses to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3d::pop3::command::{parse, Credential, Pop3Command};

fuzz_target!(|line: &[u8]| {
    let parsed = parse(line);
    match &parsed {
        Ok(command) => {
            let first_word = first_word(line);
            assert!(
                first_word.eq_ignore_ascii_case(command.keyword().as_bytes()),
                "keyword {} from line {:?}",
                command.keyword(),
                String::from_utf8_lossy(line)
            );
            let canonical = canonical(command);
            assert_eq!(parse(&canonical).as_ref(), Ok(command), "canonical form {:?}", String::from_utf8_lossy(&canonical));
        }
        Err(error) => {
            let reason = error.to_string();
            assert!(!reason.is_empty() && !reason.contains(['\r', '\n']), "reason {reason:?}");
        }
    }
    // Keywords are case-insensitive: changing only the keyword's case
    // changes nothing, error or success.
    let start = line.iter().take_while(|&&b| b == b' ').count();
    let end = start + first_word(line).len();
    for upper in [true, false] {
        let mut recased = line.to_vec();
        for byte in &mut recased[start..end] {
            *byte = if upper { byte.to_ascii_uppercase() } else { byte.to_ascii_lowercase() };
        }
        assert_eq!(parse(&recased), parsed, "recased {:?}", String::from_utf8_lossy(&recased));
    }
});

/// The keyword as the parser sees it: after leading spaces, up to a space.
fn first_word(line: &[u8]) -> &[u8] {
    let start = line.iter().take_while(|&&b| b == b' ').count();
    let rest = &line[start..];
    &rest[..rest.iter().position(|&b| b == b' ').unwrap_or(rest.len())]
}

/// A USER or PASS argument written back out: its text, or, for octets that
/// were not UTF-8, one such octet, which parses back to the same `NotText`.
fn credential(keyword: &str, credential: &Credential) -> Vec<u8> {
    let mut line = format!("{keyword} ").into_bytes();
    match credential {
        Credential::Text(text) => line.extend_from_slice(text.as_bytes()),
        Credential::NotText => line.push(0xff),
    }
    line
}

fn canonical(command: &Pop3Command) -> Vec<u8> {
    match command {
        Pop3Command::User(name) => credential("USER", name),
        Pop3Command::Pass(password) => credential("PASS", password),
        other => canonical_text(other).into_bytes(),
    }
}

fn canonical_text(command: &Pop3Command) -> String {
    let optional = |n: &Option<std::num::NonZeroU32>| n.map(|n| format!(" {n}")).unwrap_or_default();
    match command {
        Pop3Command::User(_) | Pop3Command::Pass(_) => unreachable!("written by canonical"),
        Pop3Command::Quit => "QUIT".into(),
        Pop3Command::Stat => "STAT".into(),
        Pop3Command::List(n) => format!("LIST{}", optional(n)),
        Pop3Command::Retr(n) => format!("RETR {n}"),
        Pop3Command::Dele(n) => format!("DELE {n}"),
        Pop3Command::Noop => "NOOP".into(),
        Pop3Command::Rset => "RSET".into(),
        Pop3Command::Top(n, lines) => format!("TOP {n} {lines}"),
        Pop3Command::Uidl(n) => format!("UIDL{}", optional(n)),
        Pop3Command::Capa => "CAPA".into(),
        Pop3Command::Stls => "STLS".into(),
        Pop3Command::Auth { mechanism, initial_response } => {
            let mut line = String::from("AUTH");
            for argument in [mechanism, initial_response].into_iter().flatten() {
                line.push(' ');
                line.push_str(argument);
            }
            line
        }
    }
}
