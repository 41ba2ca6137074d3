//! A hostile Maildir: whoever can write into a user's Maildir (a local
//! user, a delivery agent, another mail client) may swap a message for a
//! symbolic link or a FIFO between LIST and RETR. None of that may leak a
//! file from outside the mail root or hang a session or shutdown.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{deliver_into, make_fifo, raw_files_in, Client, TestServer};

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
