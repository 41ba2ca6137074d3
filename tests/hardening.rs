//! Abuse limits, graceful shutdown and crash safety, against the real binary.

mod common;

use std::time::{Duration, Instant};

use common::{files_in_cur, Client, TestServer};
use pop3d::accounts::password::StoredPassword;

const SIGTERM: i32 = 15;
const SIGINT: i32 = 2;

/// A client that never logs in is cut off after --login-timeout, while a
/// logged-in one is held to the longer --idle-timeout.
#[test]
fn login_timeout_is_shorter_than_idle_timeout() {
    let server = TestServer::start_with(&["--login-timeout", "1", "-t", "30", "-u", "alice:pw"]);
    let mut anonymous = server.connect();
    let mut logged_in = server.login("alice", "pw");
    assert_eq!(anonymous.line(), "-ERR autologout: idle for too long");
    assert!(anonymous.is_closed());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(logged_in.command("NOOP"), "+OK");
}

/// A failed login waits --auth-failure-delay before answering, and the
/// answer is the same for an unknown user and a wrong password.
#[test]
fn failed_logins_are_delayed_and_indistinguishable() {
    let server = TestServer::start_with(&["--auth-failure-delay", "0.4", "-u", "alice:pw"]);
    let mut replies = Vec::new();
    for user in ["alice", "nobody"] {
        let mut client = server.connect();
        client.command(&format!("USER {user}"));
        let asked = Instant::now();
        replies.push(client.command("PASS wrong"));
        assert!(asked.elapsed() >= Duration::from_millis(400), "no delay for {user}");
    }
    assert_eq!(replies[0], "-ERR [AUTH] invalid user name or password");
    assert_eq!(replies[0], replies[1]);
}

/// A SHA512-CRYPT hash with a million rounds, of the password "right": slow
/// enough to check that its cost would show in the failed-login timing.
const SLOW_HASH: &str =
    "$6$rounds=1000000$timingtestsalt$LSSZWX5IagH49QPypq38J5tvfAsOzgpv6UxVlL1lXvGa3drjk/Vzv96BjPxMw19qSQnG8Oo/hOcdkG2K58kHK0";

/// The failed-login delay runs from the moment PASS arrives, so checking a
/// wrong password against a slow hash takes no longer to answer than an
/// unknown user, who has no hash to check: timing does not tell which user
/// names exist.
#[test]
fn a_slow_hash_does_not_show_in_the_failed_login_timing() {
    let hash = StoredPassword::from_crypt(SLOW_HASH).unwrap();
    assert!(hash.matches("right"), "the constant is a hash of \"right\"");
    let checked = Instant::now();
    assert!(!hash.matches("wrong"));
    let hash_cost = checked.elapsed();
    // Long enough to cover the check with room to spare, in whole
    // milliseconds so that the flag says exactly this delay.
    let delay = Duration::from_millis((hash_cost * 4).max(Duration::from_secs(1)).as_millis() as u64);

    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, format!("alice:{{SHA512-CRYPT}}{SLOW_HASH}\n")).unwrap();
    let delay_arg = format!("{:.3}", delay.as_secs_f64());
    let server = TestServer::start_with(&["-f", users.to_str().unwrap(), "--auth-failure-delay", &delay_arg]);
    let mut answered_after = Vec::new();
    for user in ["alice", "nobody"] {
        let mut client = server.connect();
        client.command(&format!("USER {user}"));
        let asked = Instant::now();
        assert!(client.command("PASS wrong").starts_with("-ERR [AUTH]"));
        answered_after.push(asked.elapsed());
    }
    let (wrong_password, unknown_user) = (answered_after[0], answered_after[1]);
    assert!(wrong_password >= delay && unknown_user >= delay, "{answered_after:?} against a delay of {delay:?}");
    // Without the fix the wrong password comes a whole hash check later.
    assert!(
        wrong_password < unknown_user + hash_cost / 2,
        "wrong password after {wrong_password:?}, unknown user after {unknown_user:?}, hash check {hash_cost:?}"
    );
}

/// The third failed login on one connection is answered and the
/// connection closed; a new connection may try again.
#[test]
fn three_failed_logins_close_the_connection() {
    let server = TestServer::start_with(&["--max-auth-failures", "3", "-u", "alice:pw"]);
    let mut client = server.connect();
    for attempt in 1..=3 {
        client.command("USER alice");
        let reply = client.command("PASS wrong");
        assert!(reply.starts_with("-ERR [AUTH]"), "{reply}");
        assert_eq!(reply.contains("closing connection"), attempt == 3, "{reply}");
    }
    assert!(client.is_closed());
    server.login("alice", "pw");
}

/// Three bad commands before login close the connection; probing for an
/// extension or mechanism this server does not offer does not count.
#[test]
fn bad_commands_before_login_close_the_connection() {
    let server = TestServer::start_with(&["--max-bad-commands-before-login", "3", "-u", "alice:pw"]);
    let mut client = server.connect();
    for probe in ["AUTH CRAM-MD5", "STLS", "APOP alice x", "UTF8"] {
        assert!(client.command(probe).starts_with("-ERR"));
    }
    assert!(client.command("BOGUS").starts_with("-ERR unknown command"));
    assert!(client.command("STAT").starts_with("-ERR not logged in"));
    let last = client.command("RETR x");
    assert!(last.contains("too many bad commands, closing connection"), "{last}");
    assert!(client.is_closed());
}

/// After login the cap is --max-bad-commands (20 by default); ordinary
/// failures such as a missing message are not bad commands.
#[test]
fn bad_commands_after_login_close_the_connection() {
    let server = TestServer::start_with(&["--max-bad-commands", "20", "-u", "alice:pw"]);
    let mut client = server.login("alice", "pw");
    for _ in 0..30 {
        assert!(client.command("RETR 99").starts_with("-ERR no such message"));
    }
    for _ in 1..20 {
        assert_eq!(client.command("XYZZY"), "-ERR unknown command");
    }
    assert!(client.command("XYZZY").ends_with("too many bad commands, closing connection"));
    assert!(client.is_closed());
}

/// Over-long lines count as bad commands too.
#[test]
fn over_long_lines_count_as_bad_commands() {
    let server = TestServer::start_with(&["--max-bad-commands-before-login", "2"]);
    let mut client = server.connect();
    let long = "N".repeat(1000);
    assert!(client.command(&long).starts_with("-ERR line too long"));
    assert!(client.command(&long).contains("closing connection"));
    assert!(client.is_closed());
}

/// One address may hold at most --max-per-ip connections; with
/// --limit-loopback the cap applies to loopback clients as well.
#[test]
fn one_address_cannot_take_the_whole_pool() {
    let server = TestServer::start_with(&["--max-per-ip", "2", "--limit-loopback", "-c", "50"]);
    let _first = server.connect();
    let _second = server.connect();
    let mut third = Client::connect_raw(server.addr());
    let refusal = third.line();
    assert!(refusal.starts_with("-ERR [SYS/TEMP] too many connections from your address"), "{refusal}");
    assert!(third.is_closed());
}

/// Loopback is exempt from the per-address cap unless told otherwise.
#[test]
fn loopback_is_exempt_from_the_per_address_cap_by_default() {
    let server = TestServer::start_with(&["--max-per-ip", "1"]);
    let _clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
}

/// SIGTERM: idle sessions are told and closed, nothing is deleted without
/// QUIT, every lock is released, and the server exits 0.
#[test]
fn sigterm_shuts_down_gracefully() {
    let mut server = TestServer::start_with(&["-u", "alice:pw", "bob:pw"]);
    server.deliver("alice", "1700000001.a", b"keep me\n");
    let mut idle = server.connect();
    let mut busy = server.login("alice", "pw");
    assert!(busy.command("DELE 1").starts_with("+OK"));
    server.signal(SIGTERM);
    assert_eq!(idle.line(), "-ERR [SYS/TEMP] server shutting down");
    assert_eq!(busy.line(), "-ERR [SYS/TEMP] server shutting down");
    assert_eq!(server.wait_exit(), Some(0));
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 1, "DELE without QUIT deleted mail");
    assert!(!server.maildir("alice").join("pop3d.lock").exists(), "lock left behind");
    assert!(!server.log_text().contains("panicked"), "{}", server.log_text());
}

/// SIGINT behaves like SIGTERM, and a RETR already running completes.
#[test]
fn a_retr_in_flight_finishes_during_shutdown() {
    let mut server = TestServer::start_with(&["-u", "alice:pw"]);
    let body: Vec<u8> = (0..200_000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
    server.deliver("alice", "1700000001.big", &body);
    let mut client = server.login("alice", "pw");
    let status = client.command("RETR 1");
    assert!(status.starts_with("+OK"), "{status}");
    server.signal(SIGINT);
    let received = client.raw_body();
    let expected: Vec<u8> = (0..200_000).flat_map(|i| format!("line {i}\r\n").into_bytes()).chain(*b".\r\n").collect();
    assert!(received == expected, "RETR was cut short: {} of {} octets", received.len(), expected.len());
    assert_eq!(server.wait_exit(), Some(0));
}

/// kill -9 in the middle of DELE/QUIT traffic loses no mail that was not
/// committed, and a restarted server serves at once (no stale lock).
#[test]
fn kill_dash_nine_loses_no_uncommitted_mail() {
    let dir = tempfile::tempdir().unwrap();
    let users: Vec<String> = (0..8).map(|i| format!("user{i}:pw")).collect();
    let mut args: Vec<&str> = vec!["-u"];
    args.extend(users.iter().map(String::as_str));
    let mut server = TestServer::start_in(dir, "127.0.0.1", &args);
    for user in 0..8 {
        for message in 0..5 {
            server.deliver(&format!("user{user}"), &format!("170000000{message}.u{user}m{message}"), b"mail\n");
        }
    }
    // Each client deletes message 1 and quits, deletes message 2 without
    // quitting, then holds its session open while the server is killed.
    let clients: Vec<_> = (0..8)
        .map(|user| {
            let addr = server.addr();
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                client.command(&format!("USER user{user}"));
                assert!(client.command("PASS pw").starts_with("+OK"));
                client.command("DELE 1");
                assert!(client.command("QUIT").starts_with("+OK"));
                let mut client = Client::connect(addr);
                client.command(&format!("USER user{user}"));
                assert!(client.command("PASS pw").starts_with("+OK"));
                client.command("DELE 1");
                client
            })
        })
        .collect();
    let held: Vec<Client> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    server.kill();
    drop(held);
    let root = server.mail_root();
    for user in 0..8 {
        let left = files_in_cur(&root.join(format!("user{user}")));
        assert_eq!(left.len(), 4, "user{user}: {left:?}");
        assert!(left.iter().all(|name| !name.contains("m0")), "the committed deletion came back");
        assert!(root.join(format!("user{user}/pop3d.lock")).exists(), "kill -9 should leave the lock for the test");
    }
    let restarted = TestServer::start_sharing(&server, &args);
    let mut client = restarted.login("user3", "pw");
    assert_eq!(client.command("STAT"), "+OK 4 24");
}

/// A message file removed by another program between LIST and RETR gets a
/// temporary error for that command; the session and the rest go on.
#[test]
fn a_message_deleted_behind_our_back_is_a_temporary_error() {
    let server = TestServer::start_with(&["-u", "alice:pw"]);
    server.deliver("alice", "1700000001.a", b"one\n");
    server.deliver("alice", "1700000002.b", b"two\n");
    let mut client = server.login("alice", "pw");
    let first = files_in_cur(&server.maildir("alice")).remove(0);
    std::fs::remove_file(server.maildir("alice").join("cur").join(first)).unwrap();
    assert!(client.command("RETR 1").starts_with("-ERR [SYS/TEMP]"));
    assert!(client.command("RETR 2").starts_with("+OK"));
    assert_eq!(client.raw_body(), b"two\r\n.\r\n");
    assert!(client.command("DELE 2").starts_with("+OK"));
    assert!(client.command("QUIT").starts_with("+OK"));
    assert!(files_in_cur(&server.maildir("alice")).is_empty());
}

/// A message rewritten with another size between LIST and RETR is refused
/// rather than sent with a wrong octet count.
#[test]
fn a_message_rewritten_behind_our_back_is_refused() {
    let server = TestServer::start_with(&["-u", "alice:pw"]);
    server.deliver("alice", "1700000001.a", b"short\n");
    let mut client = server.login("alice", "pw");
    let name = files_in_cur(&server.maildir("alice")).remove(0);
    std::fs::write(server.maildir("alice").join("cur").join(name), b"much longer than before\n").unwrap();
    assert!(client.command("RETR 1").starts_with("-ERR [SYS/TEMP]"));
    assert_eq!(client.command("NOOP"), "+OK");
}

/// When a deleted message cannot be removed at QUIT (here its file was
/// swapped for a directory, as a fault on disk would make it), QUIT says so
/// with `-ERR [SYS/TEMP]`, the other deletions are committed, nothing else
/// is touched, and the server goes on serving.
#[test]
fn a_removal_failing_at_quit_is_reported_and_nothing_else_is_lost() {
    let server = TestServer::start_with(&["-u", "alice:pw"]);
    server.deliver("alice", "1700000001.a", b"one\n");
    server.deliver("alice", "1700000002.b", b"two\n");
    server.deliver("alice", "1700000003.c", b"three\n");
    let mut client = server.login("alice", "pw");
    let cur = server.maildir("alice").join("cur");
    let first = files_in_cur(&server.maildir("alice")).remove(0);
    assert!(client.command("DELE 1").starts_with("+OK"));
    assert!(client.command("DELE 2").starts_with("+OK"));
    std::fs::remove_file(cur.join(&first)).unwrap();
    std::fs::create_dir(cur.join(&first)).unwrap();
    std::fs::write(cur.join(&first).join("blocker"), b"x").unwrap();
    assert_eq!(client.command("QUIT"), "-ERR [SYS/TEMP] 1 deleted messages not removed");
    let left = files_in_cur(&server.maildir("alice"));
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().any(|name| name.starts_with("1700000003.c")), "an undeleted message was lost: {left:?}");
    let mut again = server.login("alice", "pw");
    assert_eq!(again.command("STAT"), "+OK 1 7");
}

/// The server's allocator runs without per-thread caches, which would keep
/// freed memory in every pool thread that ever ran a session (see
/// `src/bin/pop3d.rs` and the soak). jemalloc prints its options when asked
/// to through its environment variable.
#[test]
fn the_allocator_runs_without_thread_caches() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pop3d"))
        .arg("--version")
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stats = String::from_utf8_lossy(&output.stderr);
    assert!(stats.contains("opt.tcache: false"), "jemalloc options:\n{stats}");
}
