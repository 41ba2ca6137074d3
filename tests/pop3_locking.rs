//! The exclusive maildrop lock: one session per maildrop, within one server
//! process and between two server processes sharing a mail root, and a lock
//! left by a killed server does not block the next one.

mod common;

use common::{files_in_cur, Client, TestServer};

fn assert_in_use(reply: &str) {
    assert!(reply.starts_with("-ERR [IN-USE] "), "expected -ERR [IN-USE], got {reply:?}");
}

/// Sends USER and PASS and returns the reply to PASS.
fn try_login(client: &mut Client, user: &str, password: &str) -> String {
    let reply = client.command(&format!("USER {user}"));
    assert!(reply.starts_with("+OK"), "USER {user}: {reply}");
    client.command(&format!("PASS {password}"))
}

/// A second login to a locked maildrop in the same server gets
/// `-ERR [IN-USE]` at once; that session goes on and can log in once the
/// first one quits. Another user is not affected.
#[test]
fn a_second_session_gets_in_use_within_one_server() {
    let server = TestServer::start();
    server.deliver("alice", "1700000001.M1P1.test", b"hello\n");
    let mut first = server.login("alice", "alice-pw");
    let mut second = server.connect();
    assert_in_use(&try_login(&mut second, "alice", "alice-pw"));
    assert!(second.command("CAPA").starts_with("+OK"), "the refused session goes on");
    second.data_lines();
    let mut bob = server.login("bob", "bob-pw");
    assert_eq!(bob.command("STAT"), "+OK 0 0");
    assert_eq!(first.command("STAT"), "+OK 1 7", "the first session is untouched");
    assert!(first.command("QUIT").starts_with("+OK"));
    assert!(first.is_closed());
    assert!(try_login(&mut second, "alice", "alice-pw").starts_with("+OK"), "the lock is free after QUIT");
    assert_eq!(second.command("STAT"), "+OK 1 7");
}

/// A failed login takes no lock: a wrong password leaves the maildrop free.
#[test]
fn a_failed_login_takes_no_lock() {
    let server = TestServer::start();
    let mut failed = server.connect();
    assert!(try_login(&mut failed, "alice", "wrong").starts_with("-ERR [AUTH] "));
    let mut client = server.login("alice", "alice-pw");
    assert_eq!(client.command("STAT"), "+OK 0 0");
    assert!(failed.command("NOOP").starts_with("-ERR"), "still in AUTHORIZATION");
}

/// Two server processes serving one mail root respect each other's locks,
/// in both directions, and see each other's deletions.
#[test]
fn two_server_processes_share_one_mail_root() {
    let one = TestServer::start();
    let two = TestServer::start_sharing(&one, &["-u", "alice:alice-pw", "bob:bob-pw"]);
    assert_ne!(one.pid(), two.pid());
    one.deliver("alice", "1700000001.M1P1.test", b"first\n");
    one.deliver("alice", "1700000002.M2P1.test", b"second\n");

    let mut alice_on_one = one.login("alice", "alice-pw");
    let mut alice_on_two = two.connect();
    assert_in_use(&try_login(&mut alice_on_two, "alice", "alice-pw"));

    let mut bob_on_two = two.login("bob", "bob-pw");
    let mut bob_on_one = one.connect();
    assert_in_use(&try_login(&mut bob_on_one, "bob", "bob-pw"));
    assert!(bob_on_two.command("QUIT").starts_with("+OK"));
    assert!(bob_on_two.is_closed());
    assert!(try_login(&mut bob_on_one, "bob", "bob-pw").starts_with("+OK"));

    assert!(alice_on_one.command("DELE 1").starts_with("+OK"));
    assert!(alice_on_one.command("QUIT").starts_with("+OK"));
    assert!(alice_on_one.is_closed());
    assert!(try_login(&mut alice_on_two, "alice", "alice-pw").starts_with("+OK"));
    assert_eq!(alice_on_two.command("STAT"), "+OK 1 8", "the other server's deletion is seen");
    assert!(alice_on_two.command("RETR 1").starts_with("+OK"));
    assert_eq!(alice_on_two.raw_body(), b"second\r\n.\r\n");
}

/// A server killed with SIGKILL while a session holds a lock leaves the lock
/// file behind; a new server on the same mail root breaks it at login, and
/// the killed session's DELE was never committed.
#[test]
fn a_stale_lock_from_a_killed_server_does_not_block() {
    let mut crashed = TestServer::start();
    crashed.deliver("alice", "1700000001.M1P1.test", b"keep me\n");
    let mut client = crashed.login("alice", "alice-pw");
    assert!(client.command("DELE 1").starts_with("+OK"));
    let lock = crashed.maildir("alice").join("pop3d.lock");
    assert!(lock.exists(), "a logged-in session holds {}", lock.display());
    crashed.kill();
    assert!(client.is_closed());
    assert!(lock.exists(), "SIGKILL leaves the lock file behind");

    let restarted = TestServer::start_sharing(&crashed, &["-u", "alice:alice-pw"]);
    let mut client = restarted.login("alice", "alice-pw");
    assert_eq!(client.command("STAT"), "+OK 1 9");
    assert!(client.command("QUIT").starts_with("+OK"));
    assert!(client.is_closed());
    assert_eq!(files_in_cur(&crashed.maildir("alice")).len(), 1);
    assert!(!lock.exists(), "the lock is removed when the session ends");
}

/// The lock file is removed whether the session ends with QUIT or with a
/// dropped connection.
#[test]
fn the_lock_is_released_however_the_session_ends() {
    let server = TestServer::start();
    let lock = server.maildir("alice").join("pop3d.lock");
    for ending in ["QUIT", "drop"] {
        let mut client = server.login("alice", "alice-pw");
        assert!(lock.exists());
        if ending == "QUIT" {
            assert!(client.command("QUIT").starts_with("+OK"));
        }
        drop(client);
    }
    common::wait_until("the dropped session removes its lock", || !lock.exists());
    let mut client = server.login("alice", "alice-pw");
    assert_eq!(client.command("STAT"), "+OK 0 0");
}
