//! Shutdown ends within its grace period whatever a session is blocked on
//! (issue 11, item 2): a write to a client that does not read, an admin's
//! pause of POP3, or a wait that is not on a socket at all. The server's
//! grace period is 5 s; after it, sockets are closed, and a session that
//! still has not ended a moment later is abandoned so the process exits.

mod common;

use std::time::{Duration, Instant};

use common::{files_in_cur, TestServer};
use libc::SIGTERM;

/// The grace period plus the moment after forcing, with room to spare on
/// a loaded machine; well under the 60 s and 3600 s the blocked sessions
/// would otherwise wait.
const EXIT_BOUND: Duration = Duration::from_secs(12);

/// Sends SIGTERM and checks the server exits with status 0 within
/// [`EXIT_BOUND`].
fn stop_within_the_bound(server: &mut TestServer) {
    let signalled = Instant::now();
    server.signal(SIGTERM);
    assert_eq!(server.wait_exit(), Some(0));
    assert!(signalled.elapsed() < EXIT_BOUND, "shutdown took {:?}", signalled.elapsed());
}

/// A RETR of a message far larger than the socket buffers, to a client
/// that never reads, and an admin in the middle of `TIMEOUT 3600`: SIGTERM
/// still ends the process within the bound, with exit status 0, the mail
/// kept and the maildrop lock released.
#[test]
fn sigterm_ends_a_stalled_retr_and_a_paused_admin_in_time() {
    let mut server = TestServer::start_with(&["-u", "alice:pw"]);
    let line = "x".repeat(998) + "\n";
    server.deliver("alice", "1700000001.big", line.repeat(32 * 1024).as_bytes());
    let mut reader = server.login("alice", "pw");
    reader.send("RETR 1");
    let mut admin = server.admin();
    admin.send("TIMEOUT 3600");
    server.wait_for_log("POP3 paused for 3600 s");

    stop_within_the_bound(&mut server);
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 1, "the message is kept");
    assert!(!server.maildir("alice").join("pop3d.lock").exists(), "lock left behind");
    drop((reader, admin));
}

/// A session blocked in something that is not a socket (here the failed
/// login delay, set to its longest, 60 s) cannot be woken by closing its
/// socket; the server abandons it, says so in one log line, and exits.
#[test]
fn sigterm_abandons_a_session_that_cannot_be_woken() {
    let mut server = TestServer::start_with(&["-u", "alice:pw", "--auth-failure-delay", "60"]);
    let mut guesser = server.connect();
    assert!(guesser.command("USER alice").starts_with("+OK"));
    guesser.send("PASS wrong");
    server.wait_for_log("auth failed:");

    stop_within_the_bound(&mut server);
    assert!(server.log_text().contains("abandoning 1 sessions"), "{}", server.log_text());
    drop(guesser);
}
