//! The core RFC 1939 conversation against the real server binary.

mod common;

use common::{files_in_cur, TestServer};

/// A full session: greeting, login, STAT, LIST, RETR with exact octets, QUIT.
#[test]
fn login_list_retrieve_and_quit() {
    let server = TestServer::start();
    server.deliver("alice", "1700000001.M1P1.test", b"Subject: hi\n\n.dot line\nbody\n");
    let mut client = server.login("alice", "alice-pw");
    assert_eq!(client.command("STAT"), "+OK 1 32");
    assert_eq!(client.command("LIST"), "+OK 1 messages (32 octets)");
    assert_eq!(client.data_lines(), ["1 32"]);
    assert_eq!(client.command("RETR 1"), "+OK 32 octets");
    assert_eq!(client.raw_body(), b"Subject: hi\r\n\r\n..dot line\r\nbody\r\n.\r\n");
    assert!(client.command("QUIT").starts_with("+OK"));
    assert!(client.is_closed());
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 1, "nothing was deleted");
}

/// DELE then QUIT removes the file; the other message stays.
#[test]
fn dele_and_quit_commit_the_deletion() {
    let server = TestServer::start();
    server.deliver("alice", "1700000001.a", b"one\n");
    server.deliver("alice", "1700000002.b", b"two\n");
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("DELE 1").starts_with("+OK"));
    assert_eq!(client.command("STAT"), "+OK 1 5");
    assert!(client.command("QUIT").starts_with("+OK"));
    let left = files_in_cur(&server.maildir("alice"));
    assert_eq!(left.len(), 1);
    assert!(left[0].starts_with("1700000002.b"), "{left:?}");
}
