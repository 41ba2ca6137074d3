//! Faults in the middle of a session, against the real binary: a message
//! file that shrinks or grows while RETR sends it, a client that stops
//! reading, complete commands followed by the start of an unfinished line,
//! stray CRs before a line's LF, the login timeout next to the idle
//! timeout, and a client that logs in again the moment QUIT is answered.

mod common;

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{files_in_cur, Client, TestServer, PATIENCE};
use pop3d::storage::lock::LOCK_FILE_NAME;

/// Far more than the socket buffers of both ends can hold, so RETR is still
/// reading the file when the test changes it.
const BIG_MESSAGE_OCTETS: usize = 24 << 20;
const SMALL: &[u8] = b"Subject: small\n\nkeep me\n";

/// A message of [`BIG_MESSAGE_OCTETS`] in numbered lines, none of them ".".
fn big_message() -> Vec<u8> {
    let mut message = b"Subject: big\n\n".to_vec();
    let mut number = 0u32;
    while message.len() < BIG_MESSAGE_OCTETS {
        number += 1;
        message.extend_from_slice(format!("line {number:08} of a large message, nothing but text\n").as_bytes());
    }
    message
}

/// alice has message 1 (big) and message 2 (small).
fn server_with_big_and_small(args: &[&str]) -> TestServer {
    let mut all = vec!["-u", "alice:alice-pw"];
    all.extend_from_slice(args);
    let server = TestServer::start_with(&all);
    server.deliver("alice", "1700000001.M1P1.big", &big_message());
    server.deliver("alice", "1700000002.M2P1.small", SMALL);
    server
}

/// Where message 1 lives once a login has moved it into cur/.
fn big_message_path(server: &TestServer) -> PathBuf {
    let cur = server.maildir("alice").join("cur");
    let name = files_in_cur(&server.maildir("alice")).into_iter().find(|name| name.contains(".big")).unwrap();
    cur.join(name)
}

/// Keeps the client's receive buffer small, so that the server cannot have
/// sent (and so read) much of a message the client has not read yet.
fn shrink_receive_buffer(client: &Client) {
    rustix::net::sockopt::set_socket_recv_buffer_size(client.stream(), 64 * 1024).unwrap();
}

/// Reads what the server sends until it closes the connection, or until the
/// last octets read are the CRLF "." CRLF that end a multi-line reply.
/// Returns the octets read and whether that ending was seen.
fn read_until_close_or_end(client: &mut Client) -> (u64, bool) {
    let mut chunk = vec![0; 64 * 1024];
    let mut tail = Vec::new();
    let mut total = 0u64;
    loop {
        let read = match client.reader.read(&mut chunk) {
            Ok(read) => read,
            // A reset after the server closed with data in flight is a close too.
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return (total, false),
            Err(error) => panic!("no close and no end of the reply within {PATIENCE:?}: {error}"),
        };
        if read == 0 {
            return (total, false);
        }
        total += read as u64;
        tail.extend_from_slice(&chunk[..read]);
        tail.drain(..tail.len().saturating_sub(5));
        if tail == b"\r\n.\r\n" {
            return (total, true);
        }
    }
}

/// What is done to the file of message 1 in the middle of its RETR.
enum Change {
    /// Cut to its first MiB, as a crash or a disk error might leave it.
    Truncate,
    /// A MiB appended, as if another program were still writing it.
    Append,
}

/// RETR of message 1 after DELE 2, with message 1 changed on disk while the
/// client reads it. The client must see a failed download (no final "."
/// and a closed connection), and nothing of the session may be committed.
fn retr_while_the_file_changes(change: Change) {
    let server = server_with_big_and_small(&[]);
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("DELE 2").starts_with("+OK"));
    shrink_receive_buffer(&client);
    let status = client.command("RETR 1");
    assert!(status.starts_with("+OK") && status.ends_with(" octets"), "{status}");
    // Let the socket buffers fill; the server is now waiting on the client.
    std::thread::sleep(Duration::from_millis(200));
    let file = OpenOptions::new().append(true).open(big_message_path(&server)).unwrap();
    match change {
        Change::Truncate => file.set_len(1 << 20).unwrap(),
        Change::Append => (&file).write_all(&vec![b'x'; 1 << 20]).unwrap(),
    }
    let (received, saw_end) = read_until_close_or_end(&mut client);
    assert!(!saw_end, "after {received} octets the client saw the final \".\" of a message that changed under RETR");
    server.wait_for_closed_sessions(1);
    let log = server.log_text();
    assert!(log.contains("message 1") && log.contains("while it was sent"), "the log names what happened:\n{log}");
    let closed = log.lines().find(|line| line.contains("closed ")).unwrap();
    assert!(closed.contains("deleted=0"), "{closed}");
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 2, "the DELE before it was not committed");
    let mut client = server.login_when_free("alice", "alice-pw");
    assert_eq!(client.command("STAT").split(' ').nth(1), Some("2"));
}

/// RFC 1939 §11 sizes are promises: a message whose file ends before the
/// size listed is never passed off as complete.
#[test]
fn a_message_truncated_during_retr_is_never_sent_as_complete() {
    retr_while_the_file_changes(Change::Truncate);
}

/// Nor is a message whose file grows past the size listed.
#[test]
fn a_message_that_grows_during_retr_is_never_sent_as_complete() {
    retr_while_the_file_changes(Change::Append);
}

/// A client that asks for a large message and reads none of it is cut off
/// after `-t` seconds, one deadline for the whole stalled reply rather than
/// one per system call, and the log counts no deletion for the DELE that
/// QUIT never committed.
#[test]
fn a_client_that_stops_reading_is_cut_off_at_the_idle_timeout() {
    let server = server_with_big_and_small(&["-t", "2"]);
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("DELE 2").starts_with("+OK"));
    shrink_receive_buffer(&client);
    client.send("RETR 1");
    let sent = Instant::now();
    while server.log_count("closed ") == 0 {
        assert!(sent.elapsed() < Duration::from_secs(8), "the stalled session was not closed within 8 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = sent.elapsed();
    // Two seconds of -t, and room for a slow machine; three deadlines in a
    // row would take six.
    assert!(took < Duration::from_millis(4500), "closed after {took:?} with -t 2");
    let log = server.log_text();
    let closed = log.lines().find(|line| line.contains("closed ")).unwrap();
    assert!(closed.contains("deleted=0"), "nothing was committed: {closed}");
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 2);
    drop(client);
}

/// Reads `count` reply lines, failing the test unless they all arrive
/// within `wait`.
fn lines_within(client: &mut Client, count: usize, wait: Duration, what: &str) -> Vec<String> {
    client.stream().set_read_timeout(Some(wait)).unwrap();
    let mut lines = Vec::new();
    for _ in 0..count {
        let mut line = Vec::new();
        let read = std::io::BufRead::read_until(&mut client.reader, b'\n', &mut line);
        assert!(read.is_ok_and(|n| n > 0), "{what}: only {lines:?} within {wait:?}");
        lines.push(String::from_utf8_lossy(&line).trim_end().to_owned());
    }
    client.stream().set_read_timeout(Some(PATIENCE)).unwrap();
    lines
}

/// One case of [`commands_before_an_unfinished_line_are_answered_at_once`].
struct Unfinished {
    /// The client logs in first.
    logged_in: bool,
    /// Complete commands and the start of a line, in one write.
    first: &'static [u8],
    /// How many `+OK` lines must come back before the line is finished.
    replies: usize,
    /// The end of that line.
    rest: &'static [u8],
    /// How the reply to that line starts.
    last: &'static str,
}

/// RFC 2449 §6.6: complete commands are answered even while the line after
/// them is still unfinished, so a pipelined batch split anywhere never
/// stalls. Each case sends complete commands and the start of a line in one
/// write, reads the replies well before any timeout, then ends the line.
#[test]
fn commands_before_an_unfinished_line_are_answered_at_once() {
    let server = TestServer::start();
    server.deliver("alice", "1700000001.M1P1.test", SMALL);
    let wait = Duration::from_secs(2);
    let cases = [
        Unfinished {
            logged_in: false,
            first: b"USER alice\r\nPASS alice-pw\r\nLIST 1",
            replies: 2,
            rest: b"\r\n",
            last: "+OK 1 ",
        },
        Unfinished {
            logged_in: false,
            first: b"USER alice\r\nPA",
            replies: 1,
            rest: b"SS alice-pw\r\n",
            last: "+OK maildrop has 1",
        },
        Unfinished { logged_in: true, first: b"STAT\r\nNOO", replies: 1, rest: b"P\r\n", last: "+OK" },
        Unfinished { logged_in: true, first: b"STAT\r\nNOOP\r", replies: 1, rest: b"\n", last: "+OK" },
    ];
    for Unfinished { logged_in, first, replies, rest, last } in cases {
        let what = String::from_utf8_lossy(first).into_owned();
        let mut client = if logged_in { server.login_when_free("alice", "alice-pw") } else { server.connect() };
        client.send_raw(first);
        let answered = lines_within(&mut client, replies, wait, &what);
        assert!(answered.iter().all(|line| line.starts_with("+OK")), "{what:?}: {answered:?}");
        client.send_raw(rest);
        let after = lines_within(&mut client, 1, wait, &what);
        assert!(after[0].starts_with(last), "{what:?} then {rest:?}: {after:?}");
        assert!(client.command("QUIT").starts_with("+OK"));
    }
}

/// Extra CRs before a line's LF are part of its line end, for every command
/// alike: QUIT ends the session as LIST answers.
#[test]
fn extra_carriage_returns_before_the_line_feed_are_ignored() {
    let server = TestServer::start();
    server.deliver("alice", "1700000001.M1P1.test", SMALL);
    let mut client = server.login("alice", "alice-pw");
    client.send_raw(b"LIST 1\r\r\n");
    assert_eq!(client.line(), "+OK 1 27");
    client.send_raw(b"NOOP\r\r\r\n");
    assert_eq!(client.line(), "+OK");
    client.send_raw(b"QUIT\r\r\n");
    let reply = client.line();
    assert!(reply.starts_with("+OK bye"), "{reply}");
    assert!(client.is_closed());
}

/// `--login-timeout` is the time to log in, from connecting, whatever `-t`
/// says; `-t` is the idleness allowed once logged in.
#[test]
fn the_login_timeout_does_not_depend_on_the_idle_timeout() {
    let server = TestServer::start_with(&["-t", "1", "--login-timeout", "3", "-u", "alice:alice-pw"]);
    let connected = Instant::now();
    let mut client = server.connect();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(client.command("USER alice"), "+OK send PASS", "still served after -t, before --login-timeout");
    assert_eq!(client.line(), "-ERR autologout: idle for too long");
    let took = connected.elapsed();
    assert!(client.is_closed());
    assert!(took > Duration::from_millis(2500) && took < Duration::from_secs(6), "closed after {took:?}");

    let mut logged_in = server.login("alice", "alice-pw");
    let idle = Instant::now();
    assert_eq!(logged_in.line(), "-ERR autologout: idle for too long");
    let took = idle.elapsed();
    assert!(took < Duration::from_millis(2500), "after login -t 1 applies, not the login timeout: {took:?}");
}

/// The lock is gone before QUIT's `+OK` leaves: a client that logs in again
/// the moment it reads that `+OK` never finds its maildrop `[IN-USE]`.
#[test]
fn logging_in_again_right_after_quit_finds_the_maildrop_free() {
    let server = TestServer::start();
    server.deliver("alice", "1700000001.M1P1.test", SMALL);
    let lock = server.maildir("alice").join(LOCK_FILE_NAME);
    let mut client = server.login("alice", "alice-pw");
    for round in 0..300 {
        let reply = client.command("QUIT");
        assert!(reply.starts_with("+OK"), "round {round}: {reply}");
        assert!(!lock.exists(), "round {round}: the lock outlived QUIT's +OK");
        client = server.connect();
        assert!(client.command("USER alice").starts_with("+OK"));
        let reply = client.command("PASS alice-pw");
        assert!(reply.starts_with("+OK"), "round {round}: {reply}");
    }
}
