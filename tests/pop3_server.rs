//! The server as an operator meets it: the command line contract (errors,
//! help, version), IPv4 and IPv6 loopback, `localhost` on both, the
//! connection cap, and a log that tells what happened without a password.

mod common;

use common::{run_to_exit, Client, TestServer};

/// Asserts a command-line error: status 2, nothing on stdout, one line
/// saying what is wrong, then the usage.
#[track_caller]
fn assert_usage_error(args: &[&str], mentions: &str) {
    let exited = run_to_exit(args);
    assert_eq!(exited.status, 2, "{args:?}: exit status; stderr:\n{}", exited.stderr);
    assert!(exited.stdout.is_empty(), "{args:?}: stdout {:?}", exited.stdout);
    let lines: Vec<&str> = exited.stderr.lines().collect();
    assert!(lines.len() >= 2, "{args:?}: {:?}", exited.stderr);
    assert!(lines[0].contains(mentions), "{args:?}: {:?} does not mention {mentions:?}", lines[0]);
    assert!(lines[1].starts_with("Usage: "), "{args:?}: the usage follows the error line: {:?}", exited.stderr);
    assert!(!exited.stderr.contains("panicked"), "{args:?}: {}", exited.stderr);
}

/// Each kind of bad command line gets one line saying what is wrong, the
/// usage, and exit status 2, never a panic.
#[test]
fn bad_command_lines_exit_2_with_one_line_and_the_usage() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "<ip>"),
        (&["127.0.0.1"], "<port>"),
        (&["nowhere", "0", "-u", "a:b"], "nowhere"),
        (&["127.0.0.300", "0", "-u", "a:b"], "127.0.0.300"),
        (&["::1::2", "0", "-u", "a:b"], "::1::2"),
        (&["127.0.0.1", "70000", "-u", "a:b"], "70000"),
        (&["127.0.0.1", "-1", "-u", "a:b"], "1"),
        (&["127.0.0.1", "port", "-u", "a:b"], "port"),
        (&["127.0.0.1", "0", "-u", "../x:pw"], "../x"),
        (&["127.0.0.1", "0", "-u", ".hidden:pw"], ".hidden"),
        (&["127.0.0.1", "0", "-u", "nocolon"], "nocolon"),
        (&["127.0.0.1", "0", "-u", "empty:"], "empty"),
        (&["127.0.0.1", "0", "-u", "a:b", "a:c"], "'a'"),
        (&["127.0.0.1", "0", "-u", "a:b", "--bogus"], "bogus"),
        (&["127.0.0.1", "0", "-u", "a:b", "-Z"], "Z"),
        (&["127.0.0.1", "0", "alice:pw"], "alice:pw"),
        (&["127.0.0.1", "0", "-u", "a:b", "-c", "0"], "--max-connections"),
        (&["127.0.0.1", "0", "-u", "a:b", "-c", "many"], "many"),
        (&["127.0.0.1", "0", "-u", "a:b", "-t", "soon"], "soon"),
        (&["127.0.0.1", "0", "-u", "a:b", "-l", "loud"], "loud"),
        (&["127.0.0.1", "0", "-u", "a:b", "-d"], "d"),
    ];
    for (args, mentions) in cases {
        assert_usage_error(args, mentions);
    }
}

/// An error about a user entry never repeats its password.
#[test]
fn a_bad_user_entry_does_not_print_the_password() {
    let exited = run_to_exit(&["127.0.0.1", "0", "-u", "bad/name:Top-Secret-77"]);
    assert_eq!(exited.status, 2);
    assert!(!exited.stderr.contains("Top-Secret-77"), "{}", exited.stderr);
}

/// `-h` prints the usage with every option and exits 0; `-V` prints the
/// version and exits 0; both win over everything else on the line.
#[test]
fn help_and_version_exit_0() {
    for flag in ["-h", "--help"] {
        let exited = run_to_exit(&[flag]);
        assert_eq!(exited.status, 0, "{flag}");
        assert!(exited.stdout.starts_with("Usage: "), "{flag}: {}", exited.stdout);
        for option in ["--maildir", "--max-connections", "--idle-timeout", "--log-level", "--user", "--version"] {
            assert!(exited.stdout.contains(option), "{flag} mentions {option}");
        }
    }
    for args in [&["-V"][..], &["--version"], &["127.0.0.1", "0", "-V", "-u", "a:b"]] {
        let exited = run_to_exit(args);
        assert_eq!(exited.status, 0, "{args:?}");
        assert_eq!(exited.stdout.trim(), format!("pop3d {}", env!("CARGO_PKG_VERSION")), "{args:?}");
    }
}

/// An address that cannot be bound (here: a port already taken) ends the
/// server with one line and a non-zero status, never a panic.
#[test]
fn a_port_in_use_fails_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let exited = run_to_exit(&["127.0.0.1", &port, "-d", mail.to_str().unwrap(), "-u", "a:b", "--mgmt-port", "0"]);
    assert_eq!(exited.status, 1, "{}", exited.stderr);
    let errors: Vec<&str> = exited.stderr.lines().filter(|l| l.contains(&port)).collect();
    assert_eq!(errors.len(), 1, "{}", exited.stderr);
    assert!(!exited.stderr.contains("panicked"), "{}", exited.stderr);
}

/// A full session over IPv4 loopback.
#[test]
fn serves_ipv4_loopback() {
    let server = TestServer::start();
    assert_eq!(server.pop3.len(), 1);
    assert!(server.addr().ip().is_loopback() && server.addr().is_ipv4(), "{}", server.addr());
    server.deliver("alice", "1700000001.M1P1.test", b"over v4\n");
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("RETR 1").starts_with("+OK"));
    assert_eq!(client.raw_body(), b"over v4\r\n.\r\n");
}

/// `::1` is bound exactly as given: a full session over IPv6 loopback.
#[test]
fn serves_ipv6_loopback() {
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), "::1", &["-u", "alice:alice-pw"]);
    assert_eq!(server.pop3.len(), 1);
    assert_eq!(server.addr().ip(), "::1".parse::<std::net::IpAddr>().unwrap());
    server.deliver("alice", "1700000001.M1P1.test", b"over v6\n");
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("RETR 1").starts_with("+OK"));
    assert_eq!(client.raw_body(), b"over v6\r\n.\r\n");
}

/// `localhost` listens on both 127.0.0.1 and ::1; each serves a session.
#[test]
fn localhost_listens_on_both_loopbacks() {
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), "localhost", &["-u", "alice:alice-pw"]);
    let mut families: Vec<bool> = server.pop3.iter().map(|a| a.is_ipv6()).collect();
    families.sort();
    assert_eq!(families, [false, true], "{:?}", server.pop3);
    assert!(server.pop3.iter().all(|a| a.ip().is_loopback()), "{:?}", server.pop3);
    for (index, addr) in server.pop3.clone().into_iter().enumerate() {
        let mut client = Client::connect(addr);
        assert!(client.command("USER alice").starts_with("+OK"), "{addr}");
        assert!(client.command("PASS alice-pw").starts_with("+OK"), "{addr}");
        assert_eq!(client.command("STAT"), "+OK 0 0", "{addr}");
        assert!(client.command("QUIT").starts_with("+OK"));
        assert!(client.is_closed());
        server.wait_for_closed_sessions(index + 1);
    }
}

/// With `-c 1`, a second client gets `-ERR [SYS/TEMP]` at once and is
/// closed, the first is untouched, and the slot is free again once the
/// first one leaves.
#[test]
fn the_connection_cap_answers_sys_temp() {
    let server = TestServer::start_with(&["-c", "1", "-u", "alice:alice-pw"]);
    let mut first = server.login("alice", "alice-pw");
    let mut second = Client::connect_raw(server.addr());
    let refusal = second.line();
    assert!(refusal.starts_with("-ERR [SYS/TEMP] "), "{refusal}");
    assert!(second.is_closed());
    assert_eq!(first.command("STAT"), "+OK 0 0", "the admitted client is untouched");
    assert!(first.command("QUIT").starts_with("+OK"));
    assert!(first.is_closed());
    server.wait_for_closed_sessions(1);
    let mut third = server.login_when_free("alice", "alice-pw");
    assert_eq!(third.command("STAT"), "+OK 0 0");
}

/// The log has a line when a connection opens and one when it closes (peer,
/// user, messages retrieved and deleted, bytes), and never a password: not
/// on success, not on failure, not with spaces in it.
#[test]
fn the_log_tells_the_story_without_passwords() {
    let passwords = ["Alpha-Secret-91", "two words Secret-92", "Wrong-Guess-93"];
    let alice = format!("alice:{}", passwords[0]);
    let bob = format!("bob:{}", passwords[1]);
    let server = TestServer::start_with(&["-u", &alice, &bob]);
    server.deliver("alice", "1700000001.M1P1.test", b"one\n");
    server.deliver("alice", "1700000002.M2P1.test", b"two\n");

    let mut client = server.login("alice", passwords[0]);
    assert!(client.command("RETR 1").starts_with("+OK"));
    client.raw_body();
    assert!(client.command("DELE 2").starts_with("+OK"));
    assert!(client.command("QUIT").starts_with("+OK"));
    assert!(client.is_closed());

    let mut client = server.login("bob", passwords[1]);
    assert!(client.command("QUIT").starts_with("+OK"));
    let mut client = server.connect();
    for (user, password) in [("alice", passwords[2]), ("nobody", passwords[0]), ("bob", passwords[0])] {
        assert!(client.command(&format!("USER {user}")).starts_with("+OK"));
        assert!(client.command(&format!("PASS {password}")).starts_with("-ERR [AUTH]"));
    }
    client.send("PASS Alpha-Secret-91");
    assert!(client.line().starts_with("-ERR"));
    drop(client);
    server.wait_for_closed_sessions(3);

    let log = server.log_text();
    for password in passwords {
        assert!(!log.contains(password), "the log shows {password:?}:\n{log}");
        assert!(!log.contains(password.split(' ').next_back().unwrap()), "the log shows part of {password:?}:\n{log}");
    }
    assert!(log.contains("connection from 127.0.0.1:"), "{log}");
    let closed: Vec<&str> = log.lines().filter(|l| l.contains("closed ") && l.contains("user=alice")).collect();
    assert_eq!(closed.len(), 1, "{log}");
    for field in ["retrieved=1", "deleted=1", "in=", "out=", "127.0.0.1:"] {
        assert!(closed[0].contains(field), "{field} in {:?}", closed[0]);
    }
    assert!(log.contains("command PASS"), "commands are logged at debug level, by keyword:\n{log}");
}

/// A mail root that cannot hold Maildirs (here a plain file) makes login
/// fail with `-ERR [SYS/TEMP]`; the session and the server go on.
#[test]
fn an_unusable_mail_root_gives_sys_temp_at_login() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mail"), b"not a folder").unwrap();
    let server = TestServer::start_in(dir, "127.0.0.1", &["-u", "alice:alice-pw"]);
    let mut client = server.connect();
    assert!(client.command("USER alice").starts_with("+OK"));
    let reply = client.command("PASS alice-pw");
    assert!(reply.starts_with("-ERR [SYS/TEMP] "), "{reply}");
    assert!(client.command("CAPA").starts_with("+OK"), "the session goes on");
    client.data_lines();
    assert!(server.connect().command("NOOP").starts_with("-ERR"), "the server goes on");
}
