//! The real `admin_monitor` binary against the real server: its output,
//! its exit statuses (0 success, 1 `-ERR`, 2 usage, 3 connection or login)
//! and its one-line errors on stderr.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use common::{admin_monitor, TestServer};

const HEAD: [&str; 3] = ["+OK Management server ready MGMT/1.0", "+OK USER", "+OK PASS"];

/// `HEAD`, the reply lines, then `+OK GOODBYE`.
fn transcript(reply: &[&str]) -> Vec<String> {
    HEAD.iter().chain(reply).chain(["+OK GOODBYE"].iter()).map(|s| s.to_string()).collect()
}

/// Every query command prints the seed's transcript with the keys.
#[test]
fn query_commands_print_the_conversation() {
    let server = TestServer::start();
    let run = |args: &[&str]| {
        let monitor = server.admin_monitor(args);
        assert_eq!(monitor.status, 0, "{args:?}: {monitor:?}");
        assert!(monitor.stderr.is_empty(), "{monitor:?}");
        monitor.lines().iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(
        run(&["1.0", "admin", "admin", "-HISTORIC_CONNEC"]),
        transcript(&["+OK HISTORIC_CONNEC", "HISTORIC CONNECTIONS: 0"])
    );
    assert_eq!(
        run(&["1.0", "admin", "admin", "-LIVE_CONNEC"]),
        transcript(&["+OK LIVE_CONNEC", "LIVE CONNECTIONS: 0"])
    );
    assert_eq!(
        run(&["1", "admin", "admin", "-bytes_trans"]),
        transcript(&["+OK BYTES_TRANS", "BYTES SENT: 0", "BYTES RECEIVED: 0"])
    );
    assert_eq!(
        run(&["1.0", "admin", "admin", "-USERS"]),
        transcript(&["+OK USERS", "USER COUNT: 3", "USER LIST:", "admin", "alice", "bob"])
    );
    let status = run(&["1.2", "admin", "admin", "-STATUS"]);
    assert_eq!(status[3], "+OK STATUS");
    // Greeting, USER, PASS; the status line; nine counters and limits; the
    // user count, list header and three names; GOODBYE.
    assert_eq!(status.len(), 3 + 1 + 9 + 5 + 1, "{status:?}");
    assert_eq!(status[13..18], ["USER COUNT: 3", "USER LIST:", "admin", "alice", "bob"]);
}

/// Every change command, its success line, and the change it made.
#[test]
fn change_commands_print_their_result() {
    let server = TestServer::start();
    let run = |args: &[&str], reply: &str| {
        let monitor = server.admin_monitor(args);
        assert_eq!((monitor.status, monitor.lines()), (0, transcript(&[reply]).iter().map(|s| s.as_str()).collect()));
    };
    run(&["1.0", "admin", "admin", "-MAX_CONNECTIONS", "2"], "+OK MAX_CONNEC CHANGED");
    run(&["1.0", "admin", "admin", "-MAX_USERS", "5"], "+OK MAX_USERS CHANGED SUCCESSFULLY");
    run(&["1.0", "admin", "admin", "-TIMEOUT", "1"], "+OK TIMEOUT COMPLETED");
    run(&["1.0", "admin", "admin", "-ADD_USER", "carol", "pw"], "+OK ADD_USER USER ADDED SUCCESSFULLY");
    run(
        &["1.0", "admin", "admin", "-RESET_USER_PASSWORD", "carol"],
        "+OK RESET_USER_PASSWORD PASSWORD RESET SUCCESSFULLY",
    );
    server.login("carol", "carol");
    run(&["1.0", "admin", "admin", "-DELETE_USER", "carol"], "+OK DELETE_USER USER DELETED SUCCESSFULLY");
    run(
        &["1.0", "admin", "admin", "-CHANGE_PASSWORD", "admin", "n3w"],
        "+OK CHANGE_PASSWORD PASSWORD CHANGED SUCCESSFULLY",
    );
    let monitor = server.admin_monitor(&["1.0", "admin", "n3w", "-STATUS"]);
    assert!(
        monitor.stdout.contains("MAX CONNECTIONS: 2\n") && monitor.stdout.contains("MAX USERS: 5\n"),
        "{monitor:?}"
    );
}

/// A `-ERR` answer: exit 1, the `-ERR` line alone on stderr, still a goodbye.
#[test]
fn server_errors_exit_1() {
    let server = TestServer::start();
    let cases: &[(&[&str], &str)] = &[
        (&["-MAX_CONNECTIONS", "0"], "-ERR MAX CONNECTIONS MUST BE 1-"),
        (&["-MAX_CONNECTIONS", "abc"], "-ERR NOT A POSITIVE NUMBER"),
        (&["-MAX_USERS", "1"], "-ERR MAX USERS BELOW CURRENT USER COUNT"),
        (&["-TIMEOUT", "0"], "-ERR TIMEOUT MUST BE 1-3600 SECONDS"),
        (&["-DELETE_USER", "admin"], "-ERR ADMIN CANNOT BE DELETED"),
        (&["-DELETE_USER", "ghost"], "-ERR USER NOT FOUND"),
        (&["-ADD_USER", "alice", "x"], "-ERR USER ALREADY EXISTS"),
        (&["-RESET_USER_PASSWORD", "ghost"], "-ERR USER NOT FOUND"),
        (&["-CHANGE_PASSWORD", "wrong", "x"], "-ERR OLD PASSWORD DOES NOT MATCH"),
    ];
    for (command, error) in cases {
        let mut args = vec!["1.0", "admin", "admin"];
        args.extend_from_slice(command);
        let monitor = server.admin_monitor(&args);
        assert_eq!(monitor.status, 1, "{command:?}: {monitor:?}");
        assert!(monitor.stderr.starts_with(error) && monitor.stderr.lines().count() == 1, "{monitor:?}");
        assert_eq!(monitor.lines().last(), Some(&"+OK GOODBYE"));
    }
}

/// Usage errors exit 2 without connecting; -HELP lists every command.
#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["1.0", "admin", "admin"],
        &["1.0", "admin", "admin", "-FLY"],
        &["1.0", "admin", "admin", "-MAX_USERS"],
        &["1.0", "admin", "admin", "-STATUS", "extra"],
        &["x.y", "admin", "admin", "-STATUS"],
        &["2.0", "admin", "admin", "-STATUS"],
        &["-P", "http", "1.0", "admin", "admin", "-STATUS"],
        &["1.0", "admin", "admin", "-DELETE_USER", "a\r\nQUIT"],
    ] {
        let monitor = admin_monitor(args);
        assert_eq!(monitor.status, 2, "{args:?}: {monitor:?}");
        assert_eq!(monitor.stderr.lines().count(), 1, "{monitor:?}");
        assert!(monitor.stdout.is_empty());
    }
    let help = admin_monitor(&["-HELP"]);
    assert_eq!(help.status, 0);
    for command in ["-HISTORIC_CONNEC", "-MAX_CONNECTIONS <connections>", "-CHANGE_PASSWORD"] {
        assert!(help.stdout.contains(command), "{command}: {}", help.stdout);
    }
    let version = admin_monitor(&["2.0", "admin", "admin", "-STATUS"]);
    assert!(version.stderr.contains("major versions must match"), "{version:?}");
}

/// No server, a wrong password, or a server of another major version:
/// exit 3 with one line on stderr.
#[test]
fn connection_and_login_failures_exit_3() {
    let server = TestServer::start();
    let monitor = server.admin_monitor(&["1.0", "admin", "wrong", "-STATUS"]);
    assert_eq!(monitor.status, 3, "{monitor:?}");
    assert_eq!(monitor.stderr.trim_end(), "admin_monitor: authentication failed: -ERR AUTHENTICATION FAILED");

    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let monitor = admin_monitor(&["-P", &port, "1.0", "admin", "admin", "-STATUS"]);
    assert_eq!(monitor.status, 3, "{monitor:?}");
    assert!(monitor.stderr.starts_with("admin_monitor: cannot connect to 127.0.0.1:"), "{monitor:?}");
    assert_eq!(monitor.stderr.lines().count(), 1);

    // A server announcing MGMT/2.0 is refused before any credentials go out.
    let future = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = future.local_addr().unwrap().port().to_string();
    let fake = std::thread::spawn(move || {
        let (mut stream, _) = future.accept().unwrap();
        stream.write_all(b"+OK Management server ready MGMT/2.0\r\n").unwrap();
        let mut rest = String::new();
        let _ = BufReader::new(stream).read_line(&mut rest);
        rest
    });
    let monitor = admin_monitor(&["-P", &port, "1.0", "admin", "admin", "-STATUS"]);
    assert_eq!(monitor.status, 3, "{monitor:?}");
    assert!(monitor.stderr.contains("server speaks MGMT/2.0; major versions differ"), "{monitor:?}");
    assert_eq!(fake.join().unwrap(), "", "no credentials were sent");
}
