//! A whole POP3 session driven by arbitrary client bytes.
//!
//! The first input byte picks the set-up: whether the client logs in first
//! (so most runs explore the TRANSACTION state), as whom (alice and bob
//! have messages, carol has no Maildir yet), whether another session
//! already holds bob's maildrop, and the RETR buffer size. The rest is what
//! the client sends, framed by the real line reader and answered by the
//! real [`Pop3Session`] against a real Maildir on disk.
//!
//! Properties: no panic; every reply is one `+OK`/`-ERR` line, or a status
//! line and a well-formed multi-line body for the commands that have one;
//! RETR sends exactly the octets it announces; UIDs are RFC 1939 §7 text;
//! and no file is removed unless QUIT committed it, in which case exactly
//! as many as the reply says.
#![no_main]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufReader, Cursor};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pop3d::pop3::command::{self, Pop3Command};
use pop3d::wire::line::{read_line, LineRead};
use pop3d::pop3::session::{LinkSecurity, Pop3Flow, Pop3Session};
use pop3d::shared::connections::ConnectionLimit;
use pop3d::shared::limits::SessionLimits;
use pop3d::accounts::users::{Credentials, UserTable};
use pop3d::shared::Shared;
use pop3d::storage::maildrop::Maildrop;
use pop3d::net::tls::PlaintextAuth;

/// The messages alice and bob hold: every line-end and dot case the
/// encoder knows, an empty message, and one whose recorded size is wrong.
const MESSAGES: &[(&str, &[u8])] = &[
    ("1700000001.M1P1.fuzz", b"Subject: one\n\nbody\n.\n..two dots\nlast"),
    ("1700000002.M2P1.fuzz", b"Subject: two\r\n\r\n.\r\nline\r\n"),
    ("1700000003.M3P1.fuzz", b""),
    ("1700000004.M4P1.fuzz", b"H: x\n\n\r\r\n\x00\xff 8bit\n.\r"),
    ("1700000005.M5P1.fuzz,S=3,W=3:2,S", b"rewritten after delivery\n"),
];
const USERS: &[&str] = &["alice", "bob", "carol", "alice"];
const RETR_BUFFERS: &[usize] = &[1, 2, 3, 5, 7, 16, 64, 4096];

fn mail_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("pop3d-fuzz-session-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("create the fuzz mail root");
        root
    })
}

/// Puts back every message of `user` (a QUIT may have removed some), and
/// returns the maildir.
fn restore(user: &str) -> PathBuf {
    let maildir = mail_root().join(user);
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for (name, content) in MESSAGES {
        let path = maildir.join("cur").join(name);
        if !path.exists() {
            fs::write(path, content).unwrap();
        }
    }
    maildir
}

/// Every file in cur/ with its content.
fn snapshot(maildir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(maildir.join("cur"))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.file_name().into_string().unwrap(), fs::read(entry.path()).unwrap())
        })
        .collect()
}

fn credentials(text: &str) -> Credentials {
    Credentials::parse(text).unwrap()
}

/// Splits `out` at its first CRLF; the status line must be well-formed.
fn status_line(out: &[u8]) -> (&str, &[u8]) {
    let end = out.windows(2).position(|w| w == b"\r\n").expect("a reply ends with CRLF");
    let status = std::str::from_utf8(&out[..end]).expect("status lines are text");
    assert!(!status.contains(['\r', '\n']), "stray line end in {status:?}");
    let ok = status == "+OK" || status.starts_with("+OK ");
    let err = status == "-ERR" || status.starts_with("-ERR ");
    assert!(ok || err, "not a status line: {status:?}");
    (status, &out[end + 2..])
}

/// The data lines of a multi-line body, un-stuffed, which must end with the
/// "." line and nothing after it.
fn body_lines(body: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut rest = body;
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").expect("a multi-line reply ends with \".\" CRLF");
        let line = &rest[..end];
        rest = &rest[end + 2..];
        if line == b"." {
            assert!(rest.is_empty(), "{} octets after the end of a multi-line reply", rest.len());
            return lines;
        }
        lines.push(line.strip_prefix(b".").unwrap_or(line));
    }
}

fn check_reply(command: &Result<Pop3Command, command::Pop3CommandError>, out: &[u8]) {
    let (status, rest) = status_line(out);
    let multi_line = status.starts_with("+OK")
        && matches!(
            command,
            Ok(Pop3Command::Capa
                | Pop3Command::List(None)
                | Pop3Command::Uidl(None)
                | Pop3Command::Retr(_)
                | Pop3Command::Top(..)
                | Pop3Command::Auth { mechanism: None, .. })
        );
    if !multi_line {
        assert!(rest.is_empty(), "one-line reply {status:?} followed by {:?}", String::from_utf8_lossy(rest));
        return;
    }
    let lines = body_lines(rest);
    match command {
        Ok(Pop3Command::Retr(_)) => {
            let announced: usize = status
                .strip_prefix("+OK ")
                .and_then(|s| s.strip_suffix(" octets"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("RETR status {status:?}"));
            let sent: usize = lines.iter().map(|line| line.len() + 2).sum();
            assert_eq!(sent, announced, "RETR sent a different size than it announced");
        }
        Ok(Pop3Command::Uidl(None)) => {
            for line in lines {
                let line = std::str::from_utf8(line).expect("UIDL lines are text");
                let (number, uid) = line.split_once(' ').expect("UIDL line is \"n uid\"");
                assert!(number.parse::<u32>().is_ok_and(|n| n > 0), "{line:?}");
                // RFC 1939 §7: 1 to 70 characters in 0x21-0x7E.
                assert!((1..=70).contains(&uid.len()) && uid.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{line:?}");
            }
        }
        Ok(Pop3Command::List(None)) => {
            for line in lines {
                let line = std::str::from_utf8(line).expect("LIST lines are text");
                let (number, size) = line.split_once(' ').expect("LIST line is \"n size\"");
                assert!(number.parse::<u32>().is_ok() && size.parse::<u64>().is_ok(), "{line:?}");
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&setup, client_bytes)) = data.split_first() else {
        return;
    };
    let log_in_first = setup & 1 != 0;
    let user = USERS[usize::from(setup >> 1) & 3];
    let bob_is_busy = setup & 8 != 0;
    let retr_buffer = RETR_BUFFERS[usize::from(setup >> 4) & 7];

    let alice = restore("alice");
    let bob = restore("bob");
    let carol = mail_root().join("carol");
    let _ = fs::remove_dir_all(&carol);
    let before = [snapshot(&alice), snapshot(&bob)];

    let users = UserTable::new(
        credentials("admin:admin-pw"),
        ["alice:alice-pw", "bob:bob-pw", "carol:carol-pw"].map(credentials),
        100,
    );
    let shared = Shared::new(
        mail_root().to_owned(),
        users,
        ConnectionLimit::new(10, 10, None),
        // No delay on failed logins: the fuzzer must not sleep.
        SessionLimits { auth_failure_delay: Duration::ZERO, ..SessionLimits::default() },
        retr_buffer,
        None,
        PlaintextAuth::LoopbackOnly,
    );
    let other_session =
        bob_is_busy.then(|| Maildrop::open(&bob, &Default::default()).expect("nothing else holds bob's maildrop"));

    let mut input = Vec::new();
    if log_in_first {
        input.extend_from_slice(format!("USER {user}\r\nPASS {user}-pw\r\n").as_bytes());
    }
    input.extend_from_slice(client_bytes);

    let mut session = Pop3Session::new(&shared, LinkSecurity { tls: false, loopback: true });
    let mut reader = BufReader::with_capacity(64, Cursor::new(&input[..]));
    let mut line = Vec::new();
    // Who QUIT committed deletions for, and how many it reported.
    let mut committed: Option<(String, usize)> = None;
    // After AUTH PLAIN's "+ " continuation the next line is a SASL
    // response, not a command (RFC 5034 §4).
    let mut sasl_continuation = false;
    loop {
        match read_line(&mut reader, &mut line).expect("reading from memory cannot fail") {
            LineRead::Eof => break,
            LineRead::TooLong => continue, // the connection loop answers these
            LineRead::Line => {}
        }
        let parsed = if sasl_continuation { Err(command::Pop3CommandError::Unknown) } else { command::parse(&line) };
        let logged_in = session.user().map(ToString::to_string);
        let quit_in_transaction = parsed == Ok(Pop3Command::Quit) && logged_in.is_some();
        let mut out = Vec::new();
        let flow = session.handle_line(&line, &mut out).expect("writing to memory cannot fail");
        sasl_continuation = out == b"+ \r\n";
        if !sasl_continuation {
            check_reply(&parsed, &out);
        }
        if quit_in_transaction {
            assert_eq!(flow, Pop3Flow::Quit);
            let status = std::str::from_utf8(&out).unwrap();
            let removed = status
                .strip_prefix("+OK bye, ")
                .and_then(|s| s.split_once(' '))
                .and_then(|(n, _)| n.parse().ok())
                .unwrap_or_else(|| panic!("QUIT reply {status:?}"));
            committed = logged_in.map(|name| (name, removed));
        }
        if matches!(flow, Pop3Flow::Quit | Pop3Flow::Disconnect) {
            break;
        }
    }
    drop(session);
    drop(other_session);

    for ((name, maildir), before) in [("alice", alice), ("bob", bob)].into_iter().zip(before) {
        let after = snapshot(&maildir);
        for (file, content) in &after {
            assert_eq!(before.get(file), Some(content), "{file} appeared or changed in {}", maildir.display());
        }
        let removed = before.len() - after.len();
        let expected = match &committed {
            Some((user, removed)) if user == name => *removed,
            _ => 0,
        };
        assert_eq!(removed, expected, "files removed from {} without a QUIT committing them", maildir.display());
        assert!(!maildir.join(pop3d::storage::lock::LOCK_FILE_NAME).exists(), "a lock outlived its session");
    }
});
