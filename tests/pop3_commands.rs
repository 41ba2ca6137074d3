//! Every POP3 command in every state, with good and bad arguments, against
//! the real server: refusals are `-ERR` with a reason and the session goes on.

mod common;

use common::{files_in_cur, Client, TestServer};

/// Two messages for alice, delivered in this order.
const FIRST: &[u8] = b"From: a@example.org\nSubject: one\n\nfirst body\n";
const SECOND: &[u8] = b"From: b@example.org\nSubject: two\n\nsecond body\nmore\n";

fn server_with_two_messages() -> TestServer {
    let server = TestServer::start();
    server.deliver("alice", "1700000001.M1P1.test", FIRST);
    server.deliver("alice", "1700000002.M2P1.test", SECOND);
    server
}

/// Asserts that `reply` is a refusal with a reason.
#[track_caller]
fn assert_refused(reply: &str, what: &str) {
    assert!(reply.starts_with("-ERR ") && reply.len() > 5, "{what}: expected -ERR with a reason, got {reply:?}");
}

/// Asserts that the session still answers after a refusal.
#[track_caller]
fn assert_still_alive(client: &mut Client) {
    let reply = client.command("CAPA");
    assert!(reply.starts_with("+OK"), "session died: {reply:?}");
    client.data_lines();
}

/// CRLF octets of `message` as RETR sends it (before byte-stuffing).
fn crlf_size(message: &[u8]) -> usize {
    message.len() + message.iter().filter(|&&b| b == b'\n').count()
}

/// CAPA lists exactly the capabilities the server implements, in both
/// states (on loopback without TLS configured: cleartext logins allowed,
/// no STLS).
#[test]
fn capa_lists_exactly_what_is_implemented() {
    let server = server_with_two_messages();
    let expected = ["TOP", "UIDL", "USER", "SASL PLAIN", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "EXPIRE NEVER"];
    let mut client = server.connect();
    for state in ["AUTHORIZATION", "TRANSACTION"] {
        if state == "TRANSACTION" {
            assert!(client.command("USER alice").starts_with("+OK"));
            assert!(client.command("PASS alice-pw").starts_with("+OK"));
        }
        assert!(client.command("CAPA").starts_with("+OK"), "CAPA in {state}");
        let lines = client.data_lines();
        let (implementation, others): (Vec<_>, Vec<_>) = lines.iter().partition(|l| l.starts_with("IMPLEMENTATION "));
        assert_eq!(others, expected, "CAPA in {state}");
        assert_eq!(implementation.len(), 1, "one IMPLEMENTATION line in {state}: {lines:?}");
        assert!(implementation[0].len() > "IMPLEMENTATION ".len());
    }
}

/// Before login, every TRANSACTION command is refused and the client can
/// still log in afterwards.
#[test]
fn transaction_commands_are_refused_before_login() {
    let server = server_with_two_messages();
    let mut client = server.connect();
    for command in ["STAT", "LIST", "LIST 1", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 0", "UIDL", "UIDL 1"] {
        assert_refused(&client.command(command), command);
    }
    // In between USER and PASS too.
    assert!(client.command("USER alice").starts_with("+OK"));
    assert_refused(&client.command("STAT"), "STAT after USER");
    assert!(client.command("PASS alice-pw").starts_with("+OK"), "USER survives a refused command");
    assert_eq!(client.command("STAT"), format!("+OK 2 {}", crlf_size(FIRST) + crlf_size(SECOND)));
    assert!(client.command("QUIT").starts_with("+OK"));
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 2, "the refused DELE deleted nothing");
}

/// After login, USER and PASS are refused and the session keeps its state.
#[test]
fn user_and_pass_are_refused_after_login() {
    let server = server_with_two_messages();
    let mut client = server.login("alice", "alice-pw");
    assert_refused(&client.command("USER bob"), "USER in TRANSACTION");
    assert_refused(&client.command("PASS bob-pw"), "PASS in TRANSACTION");
    assert_refused(&client.command("USER alice"), "USER alice in TRANSACTION");
    assert_eq!(client.command("STAT"), format!("+OK 2 {}", crlf_size(FIRST) + crlf_size(SECOND)));
}

/// PASS needs a USER first, and after a failed PASS the client starts over
/// with USER (RFC 1939 §7), even with the right password.
#[test]
fn pass_needs_a_fresh_user() {
    let server = server_with_two_messages();
    let mut client = server.connect();
    assert_refused(&client.command("PASS alice-pw"), "PASS without USER");
    assert!(client.command("USER alice").starts_with("+OK"));
    assert_refused(&client.command("PASS wrong"), "wrong password");
    assert_refused(&client.command("PASS alice-pw"), "PASS after a failed PASS");
    assert!(client.command("USER alice").starts_with("+OK"));
    assert!(client.command("PASS alice-pw").starts_with("+OK"));
}

/// A wrong password and an unknown user get the very same `-ERR [AUTH]`
/// line, so a client cannot tell which users exist.
#[test]
fn wrong_password_and_unknown_user_look_the_same() {
    let server = server_with_two_messages();
    let mut client = server.connect();
    assert!(client.command("USER alice").starts_with("+OK"));
    let wrong_password = client.command("PASS not-alice-pw");
    assert!(client.command("USER nobody").starts_with("+OK"), "USER must not reveal unknown users");
    let unknown_user = client.command("PASS alice-pw");
    assert!(wrong_password.starts_with("-ERR [AUTH] "), "{wrong_password}");
    assert_eq!(wrong_password, unknown_user);
    // The other user's password does not open this account either.
    assert!(client.command("USER alice").starts_with("+OK"));
    assert_eq!(client.command("PASS bob-pw"), wrong_password);
    assert!(client.command("USER alice").starts_with("+OK"));
    assert!(client.command("PASS alice-pw").starts_with("+OK"));
}

/// User names that could escape the mail root (or are otherwise invalid)
/// are refused, and nothing is created outside the mail root.
#[test]
fn invalid_user_names_are_refused() {
    let server = server_with_two_messages();
    let mut client = server.connect();
    let too_long = "a".repeat(65);
    for name in ["../x", "..", ".", ".hidden", "a/b", "/etc", "a\\b", "al*ce", too_long.as_str()] {
        let reply = client.command(&format!("USER {name}"));
        let reply = if reply.starts_with("+OK") { client.command("PASS x") } else { reply };
        assert!(reply.starts_with("-ERR [AUTH] "), "USER {name:?}: {reply}");
    }
    assert_still_alive(&mut client);
    let outside: Vec<_> = std::fs::read_dir(server.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(outside, ["mail"], "only the mail root exists in the test folder");
    assert!(!server.mail_root().join("x").exists());
}

/// Keywords are case-insensitive in both states.
#[test]
fn keywords_are_case_insensitive() {
    let server = server_with_two_messages();
    let mut client = server.connect();
    assert!(client.command("capa").starts_with("+OK"));
    client.data_lines();
    assert!(client.command("uSeR alice").starts_with("+OK"));
    assert!(client.command("pass alice-pw").starts_with("+OK"));
    let total = crlf_size(FIRST) + crlf_size(SECOND);
    assert_eq!(client.command("stat"), format!("+OK 2 {total}"));
    assert_eq!(client.command("List 2"), format!("+OK 2 {}", crlf_size(SECOND)));
    assert!(client.command("lIsT").starts_with("+OK"));
    assert_eq!(client.data_lines().len(), 2);
    assert!(client.command("uidl 1").starts_with("+OK 1 "));
    assert_eq!(client.command("retr 1"), format!("+OK {} octets", crlf_size(FIRST)));
    client.raw_body();
    assert!(client.command("Top 2 0").starts_with("+OK"));
    client.raw_body();
    assert!(client.command("noop").starts_with("+OK"));
    assert!(client.command("dele 1").starts_with("+OK"));
    assert!(client.command("rset").starts_with("+OK"));
    assert!(client.command("quit").starts_with("+OK"));
    assert!(client.is_closed());
}

/// Unknown commands, unoffered extensions and empty lines are refused in
/// both states.
#[test]
fn unknown_commands_are_refused_in_both_states() {
    let server = server_with_two_messages();
    let mut client = server.connect();
    let unknown = [
        "FOO",
        "APOP alice 0123456789abcdef0123456789abcdef",
        "AUTH CRAM-MD5",
        "STLS",
        "XYZZY 1",
        "RETRX 1",
        "",
        "   ",
    ];
    for command in unknown {
        assert_refused(&client.command(command), command);
    }
    assert!(client.command("USER alice").starts_with("+OK"));
    assert!(client.command("PASS alice-pw").starts_with("+OK"));
    for command in unknown {
        assert_refused(&client.command(command), command);
    }
    assert_eq!(client.command("STAT"), format!("+OK 2 {}", crlf_size(FIRST) + crlf_size(SECOND)));
}

/// Bad message numbers for every command that takes one: zero, negative,
/// signed, non-numeric, fractional, out of range, over u32 and a 20-digit
/// overflow. Each is refused and changes nothing.
#[test]
fn bad_message_numbers_are_refused() {
    let server = server_with_two_messages();
    let mut client = server.login("alice", "alice-pw");
    let numbers = [
        "0",
        "-1",
        "+1",
        "abc",
        "1a",
        "1.0",
        "0x1",
        "3",
        "4294967295",
        "4294967296",
        "18446744073709551616",
        "99999999999999999999",
    ];
    for number in numbers {
        for template in ["LIST {}", "UIDL {}", "RETR {}", "DELE {}", "TOP {} 0"] {
            let command = template.replace("{}", number);
            assert_refused(&client.command(&command), &command);
        }
    }
    // TOP's line count: negative, non-numeric and 20-digit overflow.
    for count in ["-1", "x", "1.5", "99999999999999999999"] {
        let command = format!("TOP 1 {count}");
        assert_refused(&client.command(&command), &command);
    }
    assert_eq!(client.command("STAT"), format!("+OK 2 {}", crlf_size(FIRST) + crlf_size(SECOND)));
    assert!(client.command("QUIT").starts_with("+OK"));
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 2, "no refused DELE deleted anything");
}

/// Missing and extra arguments are refused in every state.
#[test]
fn missing_and_extra_arguments_are_refused() {
    let server = server_with_two_messages();
    let mut client = server.connect();
    for command in ["USER", "PASS", "USER alice bob", "QUIT now", "CAPA please"] {
        assert_refused(&client.command(command), command);
    }
    assert!(client.command("USER alice").starts_with("+OK"));
    assert!(client.command("PASS alice-pw").starts_with("+OK"));
    let commands = [
        "RETR",
        "DELE",
        "TOP",
        "TOP 1",
        "STAT 1",
        "NOOP x",
        "RSET 1",
        "LIST 1 2",
        "UIDL 1 2",
        "RETR 1 2",
        "DELE 1 2",
        "TOP 1 2 3",
        "CAPA x",
        "QUIT x",
    ];
    for command in commands {
        assert_refused(&client.command(command), command);
    }
    assert!(client.command("QUIT").starts_with("+OK"), "the refused QUIT x did not end the session");
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 2);
}

/// LIST, UIDL, RETR and NOOP with good arguments give the RFC 1939 shapes.
#[test]
fn transaction_commands_answer_in_the_rfc_shapes() {
    let server = server_with_two_messages();
    let mut client = server.login("alice", "alice-pw");
    let (one, two) = (crlf_size(FIRST), crlf_size(SECOND));
    assert!(client.command("NOOP").starts_with("+OK"));
    assert_eq!(client.command("STAT"), format!("+OK 2 {}", one + two));
    assert!(client.command("LIST").starts_with("+OK"));
    assert_eq!(client.data_lines(), [format!("1 {one}"), format!("2 {two}")]);
    assert_eq!(client.command("LIST 1"), format!("+OK 1 {one}"));
    assert!(client.command("UIDL").starts_with("+OK"));
    let uidls = client.data_lines();
    assert_eq!(uidls.len(), 2);
    for (index, line) in uidls.iter().enumerate() {
        let (number, uid) = line.split_once(' ').unwrap();
        assert_eq!(number, (index + 1).to_string());
        assert_eq!(client.command(&format!("UIDL {number}")), format!("+OK {number} {uid}"));
    }
    assert_eq!(client.command("RETR 2"), format!("+OK {two} octets"));
    let body = client.raw_body();
    let expected = String::from_utf8(SECOND.to_vec()).unwrap().replace('\n', "\r\n") + ".\r\n";
    assert_eq!(String::from_utf8(body).unwrap(), expected);
}

/// TOP n 0 sends the headers and the blank line; TOP n m adds m body lines;
/// a count past the end sends the whole message; lines are byte-stuffed.
#[test]
fn top_sends_headers_and_the_asked_lines() {
    let server = TestServer::start();
    server.deliver("alice", "1700000001.M1P1.test", b"Subject: top\nX-Two: 2\n\nline 1\n.line 2\nline 3\n");
    server.deliver("alice", "1700000002.M2P1.test", b"Subject: only headers\n");
    let mut client = server.login("alice", "alice-pw");
    let head = "Subject: top\r\nX-Two: 2\r\n\r\n";
    let cases = [
        ("TOP 1 0", format!("{head}.\r\n")),
        ("TOP 1 1", format!("{head}line 1\r\n.\r\n")),
        ("TOP 1 2", format!("{head}line 1\r\n..line 2\r\n.\r\n")),
        ("TOP 1 3", format!("{head}line 1\r\n..line 2\r\nline 3\r\n.\r\n")),
        ("TOP 1 99", format!("{head}line 1\r\n..line 2\r\nline 3\r\n.\r\n")),
        ("TOP 1 18446744073709551615", format!("{head}line 1\r\n..line 2\r\nline 3\r\n.\r\n")),
        ("TOP 2 0", "Subject: only headers\r\n.\r\n".to_owned()),
        ("TOP 2 5", "Subject: only headers\r\n.\r\n".to_owned()),
    ];
    for (command, expected) in cases {
        assert!(client.command(command).starts_with("+OK"), "{command}");
        assert_eq!(String::from_utf8(client.raw_body()).unwrap(), expected, "{command}");
    }
    // TOP is not RETR: the message stays, and TOP does not count as retrieval.
    let sizes =
        crlf_size(b"Subject: top\nX-Two: 2\n\nline 1\n.line 2\nline 3\n") + crlf_size(b"Subject: only headers\n");
    assert_eq!(client.command("STAT"), format!("+OK 2 {sizes}"));
}

/// A message marked by DELE vanishes from STAT, LIST, UIDL, RETR, TOP and
/// DELE for the rest of the session; numbers of the others do not change.
#[test]
fn deleted_messages_vanish_from_every_command() {
    let server = server_with_two_messages();
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("UIDL 2").starts_with("+OK"));
    assert!(client.command("DELE 1").starts_with("+OK"));
    let two = crlf_size(SECOND);
    assert_eq!(client.command("STAT"), format!("+OK 1 {two}"));
    assert!(client.command("LIST").starts_with("+OK"));
    assert_eq!(client.data_lines(), [format!("2 {two}")]);
    assert!(client.command("UIDL").starts_with("+OK"));
    let uidls = client.data_lines();
    assert_eq!(uidls.len(), 1);
    assert!(uidls[0].starts_with("2 "), "{uidls:?}");
    for command in ["LIST 1", "UIDL 1", "RETR 1", "TOP 1 0", "DELE 1"] {
        assert_refused(&client.command(command), &format!("{command} after DELE 1"));
    }
    assert_eq!(client.command("LIST 2"), format!("+OK 2 {two}"), "message 2 keeps its number");
}

/// RSET unmarks every deleted message; QUIT then deletes nothing.
#[test]
fn rset_restores_deleted_messages() {
    let server = server_with_two_messages();
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("DELE 1").starts_with("+OK"));
    assert!(client.command("DELE 2").starts_with("+OK"));
    assert_eq!(client.command("STAT"), "+OK 0 0");
    assert!(client.command("LIST").starts_with("+OK"));
    assert!(client.data_lines().is_empty());
    assert!(client.command("RSET").starts_with("+OK"));
    assert_eq!(client.command("STAT"), format!("+OK 2 {}", crlf_size(FIRST) + crlf_size(SECOND)));
    assert!(client.command("RETR 1").starts_with("+OK"));
    client.raw_body();
    assert!(client.command("QUIT").starts_with("+OK"));
    assert!(client.is_closed());
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 2);
}

/// QUIT in TRANSACTION removes exactly the marked files; QUIT in
/// AUTHORIZATION just closes.
#[test]
fn quit_removes_exactly_the_marked_messages() {
    let server = server_with_two_messages();
    server.deliver("alice", "1700000003.M3P1.test", b"third\n");
    let mut client = server.connect();
    assert!(client.command("QUIT").starts_with("+OK"), "QUIT before login");
    assert!(client.is_closed());

    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("DELE 1").starts_with("+OK"));
    assert!(client.command("DELE 3").starts_with("+OK"));
    assert!(client.command("QUIT").starts_with("+OK"));
    assert!(client.is_closed());
    let left = files_in_cur(&server.maildir("alice"));
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with("1700000002.M2P1.test"), "{left:?}");

    let mut client = server.login("alice", "alice-pw");
    assert_eq!(client.command("STAT"), format!("+OK 1 {}", crlf_size(SECOND)));
    assert!(client.command("RETR 1").starts_with("+OK"));
    assert!(String::from_utf8(client.raw_body()).unwrap().contains("second body"));
}

/// A connection dropped without QUIT deletes nothing, and releases the lock.
#[test]
fn dropping_the_connection_deletes_nothing() {
    let server = server_with_two_messages();
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("DELE 1").starts_with("+OK"));
    assert!(client.command("DELE 2").starts_with("+OK"));
    drop(client);
    server.wait_for_closed_sessions(1);
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 2);
    let mut client = server.login_when_free("alice", "alice-pw");
    assert_eq!(client.command("STAT"), format!("+OK 2 {}", crlf_size(FIRST) + crlf_size(SECOND)));
}

/// After the idle timeout the server closes the session (autologout,
/// RFC 1939 §3) without deleting anything, in both states.
#[test]
fn idle_timeout_closes_without_deleting() {
    let server = TestServer::start_with(&["-t", "1", "--login-timeout", "1", "-u", "alice:alice-pw"]);
    server.deliver("alice", "1700000001.M1P1.test", FIRST);
    let mut idle_before_login = server.connect();
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("DELE 1").starts_with("+OK"));
    // Reading blocks until the server speaks or closes (bounded by PATIENCE).
    let last = client.line();
    assert_refused(&last, "autologout");
    assert!(client.is_closed());
    assert!(idle_before_login.line().starts_with("-ERR"));
    assert!(idle_before_login.is_closed());
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 1, "autologout deleted nothing");
    server.wait_for_closed_sessions(2);
    let mut client = server.login_when_free("alice", "alice-pw");
    assert_eq!(client.command("STAT"), format!("+OK 1 {}", crlf_size(FIRST)), "the lock was released");
}

/// The idle timer runs from the last command, not the last byte: a client
/// that keeps sending bytes that never make up a line is still logged out,
/// and nothing is deleted.
#[test]
fn idle_timeout_is_not_reset_by_a_trickle_of_bytes() {
    let server = TestServer::start_with(&["-t", "1", "-u", "alice:alice-pw"]);
    server.deliver("alice", "1700000001.M1P1.test", FIRST);
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("DELE 1").starts_with("+OK"));
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while server.log_count("closed ") == 0 {
        assert!(std::time::Instant::now() < deadline, "a trickling client was never logged out");
        if std::io::Write::write_all(client.reader.get_mut(), b"N").is_err() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_refused(&client.line(), "autologout");
    assert!(client.is_closed());
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 1, "autologout deleted nothing");
}

/// Messages in new/ are moved into cur/ at login and numbered in delivery
/// order (the leading timestamp compared as a number), whatever order the
/// files were written in.
#[test]
fn new_mail_moves_to_cur_in_delivery_order() {
    let server = TestServer::start();
    server.deliver("alice", "1000000000.M2P1.test", b"second\n");
    server.deliver("alice", "1700000000.M3P1.test", b"third\n");
    server.deliver("alice", "999999999.M1P1.test", b"first\n");
    let maildir = server.maildir("alice");
    let mut client = server.login("alice", "alice-pw");
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 0, "new/ is empty after login");
    assert_eq!(files_in_cur(&maildir).len(), 3);
    for (number, body) in [(1, "first"), (2, "second"), (3, "third")] {
        assert!(client.command(&format!("RETR {number}")).starts_with("+OK"));
        assert_eq!(client.raw_body(), format!("{body}\r\n.\r\n").as_bytes(), "message {number}");
    }
    // Mail delivered during the session waits for the next login.
    server.deliver("alice", "1800000000.M4P1.test", b"fourth\n");
    assert_eq!(client.command("STAT"), "+OK 3 22");
    assert!(client.command("QUIT").starts_with("+OK"));
    let mut client = server.login("alice", "alice-pw");
    assert_eq!(client.command("STAT"), "+OK 4 30");
    assert!(client.command("RETR 4").starts_with("+OK"));
    assert_eq!(client.raw_body(), b"fourth\r\n.\r\n");
}

/// UIDLs are the same across sessions and across a server restart, differ
/// between messages, and are legal (1-70 octets in 0x21-0x7E) even for file
/// names with spaces, non-ASCII or over 70 characters.
#[test]
fn uidls_are_stable_and_legal() {
    let server = TestServer::start();
    let long = format!("1700000004.{}", "L".repeat(90));
    let names = ["1700000001.M1P1.plain", "1700000002.with space", "1700000003.ünïcödé", long.as_str()];
    for name in names {
        server.deliver("alice", name, format!("{name}\n").as_bytes());
    }
    let uidls = |server: &TestServer| server.uidl_listing("alice", "alice-pw");
    let first = uidls(&server);
    assert_eq!(first.len(), names.len());
    // The unique part of the name in cur/ (which may carry ",S=" and ",W=").
    assert!(first[0].starts_with("1 1700000001.M1P1.plain"), "a legal unique part is the UIDL: {}", first[0]);
    let mut seen = std::collections::HashSet::new();
    for line in &first {
        let (_, uid) = line.split_once(' ').unwrap();
        assert!((1..=70).contains(&uid.len()), "{uid:?}");
        assert!(uid.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{uid:?}");
        assert!(seen.insert(uid.to_owned()), "duplicate UIDL {uid}");
    }
    assert_eq!(uidls(&server), first, "same UIDLs in the next session");
    let dir = server.stop_and_keep_dir();
    let restarted = TestServer::start_in(dir, "127.0.0.1", &["-u", "alice:alice-pw"]);
    assert_eq!(uidls(&restarted), first, "same UIDLs after a restart");
}

/// A user without a Maildir (or without a mail root at all) gets one,
/// mode 0700, at the first login, and an empty maildrop.
#[test]
fn missing_maildir_is_created_at_first_login() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start();
    assert!(!server.mail_root().exists(), "the test starts without a mail root");
    let mut client = server.login("bob", "bob-pw");
    assert_eq!(client.command("STAT"), "+OK 0 0");
    assert!(client.command("LIST").starts_with("+OK"));
    assert!(client.data_lines().is_empty());
    assert!(client.command("UIDL").starts_with("+OK"));
    assert!(client.data_lines().is_empty());
    assert_refused(&client.command("RETR 1"), "RETR in an empty maildrop");
    let maildir = server.maildir("bob");
    let mode = std::fs::metadata(&maildir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", maildir.display());
    for sub in ["cur", "new", "tmp"] {
        assert!(maildir.join(sub).is_dir(), "{sub}/ exists");
    }
    assert!(client.command("QUIT").starts_with("+OK"));
}

/// A client that goes away in the middle of a RETR deletes nothing, frees
/// the maildrop, and the server keeps serving.
#[test]
fn dropping_the_connection_mid_retr_deletes_nothing() {
    let server = TestServer::start();
    let big: Vec<u8> = b"a line of a large message\n".iter().copied().cycle().take(8 << 20).collect();
    server.deliver("alice", "1700000001.M1P1.big", &big);
    server.deliver("alice", "1700000002.M2P1.small", SECOND);
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("DELE 2").starts_with("+OK"));
    assert!(client.command("RETR 1").starts_with("+OK"));
    let mut some = vec![0; 1024];
    std::io::Read::read_exact(&mut client.reader, &mut some).unwrap();
    drop(client);
    server.wait_for_closed_sessions(1);
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 2);
    let mut client = server.login_when_free("alice", "alice-pw");
    assert_eq!(client.command("LIST 2"), format!("+OK 2 {}", crlf_size(SECOND)));
}

/// A client that stops reading in the middle of a large RETR cannot pin its
/// session: after the idle timeout the session ends, deleting nothing and
/// releasing the maildrop.
#[test]
fn a_client_that_stops_reading_is_dropped_after_the_idle_timeout() {
    let server = TestServer::start_with(&["-t", "1", "-u", "alice:alice-pw"]);
    let big: Vec<u8> = b"a line of a large message\n".iter().copied().cycle().take(32 << 20).collect();
    server.deliver("alice", "1700000001.M1P1.big", &big);
    server.deliver("alice", "1700000002.M2P1.small", SECOND);
    let mut stalled = server.login("alice", "alice-pw");
    assert!(stalled.command("DELE 2").starts_with("+OK"));
    stalled.send("RETR 1");
    server.wait_for_closed_sessions(1);
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 2);
    let mut client = server.login_when_free("alice", "alice-pw");
    assert_eq!(client.command("STAT").split(' ').nth(1), Some("2"));
    drop(stalled);
}
