//! A hostile Maildir: whoever can write into a user's Maildir (a local
//! user, a delivery agent, another mail client) may swap a message for a
//! symbolic link or a FIFO between LIST and RETR, leave files the server
//! cannot read, use names that are not UTF-8, or write garbage into the
//! lock file. None of that may leak a file from outside the mail root, hang
//! a session or shutdown, or keep the user from the rest of the mail.

mod common;

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{deliver_into, make_fifo, raw_files_in, set_age, Client, TestServer};

/// The message the swap tests list before swapping it: a cur/ name with
/// its sizes, as Dovecot and pop3d write them.
const LISTED_NAME: &str = "1700000001.a,S=10,W=11:2,";
const LISTED_CONTENT: &[u8] = b"listed 10\n";

/// A file outside the mail root, of the listed message's size, so that no
/// size check can be what stops it: only the refusal to follow a link.
const SECRET: &[u8] = b"TOPSECRET\n";

/// How long a reply to a refused RETR may take: it must come at once.
const PROMPTLY: Duration = Duration::from_secs(5);

/// A server with alice's one message in cur/, and her session after LIST.
fn listed_message() -> (TestServer, std::path::PathBuf, Client) {
    let server = TestServer::start_with(&["-u", "alice:pw"]);
    let message = deliver_into(&server.maildir("alice"), "cur", LISTED_NAME, LISTED_CONTENT);
    let mut client = server.login("alice", "pw");
    assert_eq!(client.command("LIST"), "+OK 1 messages (11 octets)");
    assert_eq!(client.data_lines(), ["1 11"]);
    (server, message, client)
}

/// Everything the server sends from now on: the replies to QUIT and any
/// leftovers before it, up to the end of the connection.
fn rest_of_session(client: &mut Client) -> Vec<u8> {
    client.send("QUIT");
    let mut rest = Vec::new();
    client.reader.read_to_end(&mut rest).unwrap();
    rest
}

/// A message replaced by a symbolic link to a file outside the mail root
/// after LIST: RETR refuses it with `-ERR [SYS/TEMP]` and no byte of the
/// outside file ever reaches the client (before, RETR followed the link and
/// sent the file, trusting the size in the name).
#[test]
fn a_symlink_swapped_in_after_list_is_never_followed() {
    let (server, message, mut client) = listed_message();
    let secret = server.dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    std::fs::remove_file(&message).unwrap();
    std::os::unix::fs::symlink(&secret, &message).unwrap();

    let reply = client.command("RETR 1");
    let next = client.command("NOOP");
    let rest = rest_of_session(&mut client);
    let seen = String::from_utf8_lossy(&[reply.as_bytes(), next.as_bytes(), &rest].concat()).into_owned();
    assert!(!seen.contains("SECRET"), "the outside file was sent:\n{seen}");
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "RETR of a symlink: {reply}");
    assert_eq!(next, "+OK", "nothing but the -ERR line came for RETR");
    assert_eq!(std::fs::read(&secret).unwrap(), SECRET, "the outside file is untouched");
}

/// A message replaced by a FIFO after LIST: RETR answers `-ERR` at once
/// instead of waiting forever for a writer, the session goes on, and the
/// server still stops promptly on SIGTERM (before, the session hung in
/// `open` and so did shutdown).
#[test]
fn a_fifo_swapped_in_after_list_is_refused_at_once() {
    let (mut server, message, mut client) = listed_message();
    std::fs::remove_file(&message).unwrap();
    make_fifo(&message);

    let asked = Instant::now();
    let reply = client.command_within("RETR 1", PROMPTLY);
    assert!(reply.starts_with("-ERR [SYS/TEMP]"), "RETR of a FIFO: {reply}");
    assert!(asked.elapsed() < PROMPTLY, "RETR took {:?}", asked.elapsed());
    assert_eq!(client.command("NOOP"), "+OK", "the session goes on");

    let stopping = Instant::now();
    server.signal(libc::SIGTERM);
    assert_eq!(client.line(), "-ERR [SYS/TEMP] server shutting down");
    assert_eq!(server.wait_exit(), Some(0));
    assert!(stopping.elapsed() < PROMPTLY, "shutdown took {:?}", stopping.elapsed());
}

/// A FIFO, a socket and a directory already in new/ and cur/ at login are
/// neither listed nor opened (opening the FIFO would hang the login), and
/// stay where they are.
#[test]
fn special_files_at_login_are_never_listed_nor_opened() {
    let server = TestServer::start_with(&["-u", "alice:pw"]);
    let maildir = server.maildir("alice");
    deliver_into(&maildir, "new", "1700000003.real", b"real\n");
    for folder in ["new", "cur"] {
        make_fifo(&maildir.join(folder).join("1700000001.fifo"));
        std::fs::create_dir(maildir.join(folder).join("1700000002.dir")).unwrap();
    }
    let _socket = std::os::unix::net::UnixListener::bind(maildir.join("cur/1700000004.socket:2,")).unwrap();

    let mut client = server.connect();
    assert!(client.command("USER alice").starts_with("+OK"));
    let reply = client.command_within("PASS pw", PROMPTLY);
    assert_eq!(reply, "+OK maildrop has 1 messages (6 octets)");
    assert!(client.command("RETR 1").starts_with("+OK"));
    assert_eq!(client.raw_body(), b"real\r\n.\r\n");
    assert_eq!(raw_files_in(&maildir, "new"), ["1700000001.fifo", "1700000002.dir"]);
}

/// A lock file whose content is not `<pid> <start time>` (bytes that are
/// not UTF-8, a huge file, a FIFO) is treated like an empty one, still being
/// written: respected while fresh, broken once old (before, bytes that were
/// not UTF-8 made every login `-ERR [SYS/TEMP]` forever, and a FIFO hung
/// the login).
#[test]
fn a_garbage_lock_is_broken_once_old() {
    let server = TestServer::start_with(&["-u", "alice:pw"]);
    deliver_into(&server.maildir("alice"), "new", "1700000001.a", b"mail\n");
    let lock = server.maildir("alice").join("pop3d.lock");
    // What is at the lock's name: these bytes, or a FIFO for `None`.
    let garbage = [
        ("bytes that are not UTF-8", Some(b"\xff\xfe\x00\x80 garbage\n".to_vec())),
        ("a megabyte of digits", Some(vec![b'7'; 1 << 20])),
        ("a FIFO", None),
    ];
    for (what, content) in garbage {
        match content {
            Some(bytes) => std::fs::write(&lock, bytes).unwrap(),
            None => make_fifo(&lock),
        }
        let mut client = server.connect();
        assert!(client.command("USER alice").starts_with("+OK"));
        let reply = client.command_within("PASS pw", PROMPTLY);
        assert!(reply.starts_with("-ERR [IN-USE]"), "fresh lock of {what}: {reply}");

        set_age(&lock, Duration::from_secs(60));
        assert!(client.command("USER alice").starts_with("+OK"));
        let reply = client.command_within("PASS pw", PROMPTLY);
        assert_eq!(reply, "+OK maildrop has 1 messages (6 octets)", "old lock of {what}");
        assert!(client.command("QUIT").starts_with("+OK"));
        assert!(client.is_closed());
        assert!(!lock.exists(), "the lock is gone after QUIT ({what})");
    }
    // The log is read on another thread: wait for the third line to arrive.
    server.wait_for_log_count("removed stale lock", 3);
    assert_eq!(server.log_count("removed stale lock"), 3, "{}", server.log_text());
}

/// With the server running as an unprivileged user, files it cannot read
/// (mode 000) are skipped, each with one warning naming it, and left where
/// they are, untouched; the rest is served. A file in cur/ whose sizes are
/// in its name is not read at login, so it is listed and its RETR gets
/// `-ERR`, not a dropped connection (before, any such file in new/, or in
/// cur/ without sizes, made every login `-ERR [SYS/TEMP]`).
#[test]
fn unreadable_messages_are_skipped_and_the_rest_served() {
    let Some(server) = TestServer::start_unprivileged(&["-u", "alice:pw"]) else { return };
    let maildir = server.maildir("alice");
    let unreadable = [
        deliver_into(&maildir, "new", "1700000001.new-unreadable", b"locked in new\n"),
        deliver_into(&maildir, "cur", "1700000002.cur-unreadable:2,", b"locked in cur\n"),
        deliver_into(&maildir, "cur", "1700000003.sized,S=6,W=7:2,", b"sized\n"),
    ];
    deliver_into(&maildir, "new", "1700000004.readable", b"readable\n");
    server.give_mail_to_nobody();
    for path in &unreadable {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000)).unwrap();
    }

    let mut client = server.login("alice", "pw");
    assert_eq!(client.command("LIST"), "+OK 2 messages (17 octets)");
    assert_eq!(client.data_lines(), ["1 7", "2 10"]);
    assert!(client.command("RETR 1").starts_with("-ERR [SYS/TEMP]"), "the sized unreadable file");
    assert_eq!(client.command("NOOP"), "+OK");
    assert!(client.command("RETR 2").starts_with("+OK"));
    assert_eq!(client.raw_body(), b"readable\r\n.\r\n");
    assert!(client.command("QUIT").starts_with("+OK"));

    for skipped in ["1700000001.new-unreadable", "1700000002.cur-unreadable:2,"] {
        // The log is read from the server's stderr by another thread.
        server.wait_for_log(skipped);
        let warnings = server.log_text().lines().filter(|l| l.contains("[WARN]") && l.contains(skipped)).count();
        assert_eq!(warnings, 1, "one warning names {skipped}:\n{}", server.log_text());
    }
    for (path, content) in unreadable.iter().zip([&b"locked in new\n"[..], b"locked in cur\n", b"sized\n"]) {
        assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0, "{}", path.display());
        assert_eq!(std::fs::read(path).unwrap(), content, "{} is untouched", path.display());
    }
}

/// Messages whose file names are not UTF-8, in cur/ and in new/, are
/// listed, fetched, given stable legal UIDLs and deleted like any other,
/// and deleting one removes only it (before, they were never listed).
#[test]
fn names_that_are_not_utf8_are_served() {
    let server = TestServer::start_with(&["-u", "alice:pw"]);
    let maildir = server.maildir("alice");
    let in_cur = OsStr::from_bytes(b"1700000001.caf\xe9:2,");
    deliver_into(&maildir, "cur", in_cur, b"latin-1 name\n");
    deliver_into(&maildir, "new", OsStr::from_bytes(b"1700000002.\xff\xfe"), b"binary name\n");
    deliver_into(&maildir, "new", "1700000003.plain", b"plain\n");

    let uidls = server.uidl_listing("alice", "pw");
    assert_eq!(uidls.len(), 3, "{uidls:?}");
    for line in &uidls {
        let (_, uid) = line.split_once(' ').unwrap();
        assert!((1..=70).contains(&uid.len()) && uid.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{uid:?}");
    }
    assert_eq!(server.uidl_listing("alice", "pw"), uidls, "the same UIDLs in the next session");

    let mut client = server.login("alice", "pw");
    assert_eq!(client.command("LIST"), "+OK 3 messages (34 octets)");
    assert_eq!(client.data_lines(), ["1 14", "2 13", "3 7"]);
    for (number, body) in [(1, &b"latin-1 name\r\n.\r\n"[..]), (2, b"binary name\r\n.\r\n")] {
        assert!(client.command(&format!("RETR {number}")).starts_with("+OK"));
        assert_eq!(client.raw_body(), body);
    }
    assert!(client.command("DELE 2").starts_with("+OK"));
    assert_eq!(client.command("QUIT"), "+OK bye, 1 messages deleted");
    assert!(client.is_closed());
    let left = raw_files_in(&maildir, "cur");
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[0], in_cur);
    assert!(left[1].as_bytes().starts_with(b"1700000003.plain"), "{left:?}");

    let mut client = server.login("alice", "pw");
    assert_eq!(client.command("UIDL 1"), format!("+OK {}", uidls[0]));
    assert!(client.command("DELE 1").starts_with("+OK"));
    assert_eq!(client.command("QUIT"), "+OK bye, 1 messages deleted");
    assert!(client.is_closed());
    let left = raw_files_in(&maildir, "cur");
    assert!(left.len() == 1 && left[0].as_bytes().starts_with(b"1700000003.plain"), "{left:?}");
}
