//! The MGMT protocol over raw TCP against the real server, and its effects
//! on POP3: counters, the connection cap, the pause, and user changes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{files_in_cur, Client, TestServer, PATIENCE};

/// The greeting, the AUTH phase, and every query verb with its exact keys.
#[test]
fn every_query_verb_answers_with_its_keys() {
    let server = TestServer::start();
    let mut raw = Client::connect_raw(server.mgmt_addr());
    assert_eq!(raw.line(), "+OK Management server ready MGMT/1.0");
    assert_eq!(raw.command("USER admin"), "+OK USER");
    assert_eq!(raw.command("PASS admin"), "+OK PASS");
    assert_eq!(raw.command("NOOP"), "+OK NOOP");
    assert_eq!(raw.command("capa"), "+OK CAPA");
    let capa = raw.data_lines();
    for entry in ["USER <name>", "QUIT", "HISTORIC_CONNEC", "STATUS", "MAX_CONNEC <connections>", "TIMEOUT <seconds>"] {
        assert!(capa.iter().any(|line| line == entry), "{entry} missing from {capa:?}");
    }
    assert!(capa.iter().any(|line| line == "ADD_USER <name> <password>"), "{capa:?}");
    assert!(capa.iter().any(|line| line == "CHANGE_PASSWORD <old-password> <new-password>"), "{capa:?}");
    assert_eq!(raw.command("HISTORIC_CONNEC"), "+OK HISTORIC_CONNEC");
    assert_eq!(raw.data_lines(), ["HISTORIC CONNECTIONS: 0"]);
    assert_eq!(raw.command("Live_Connec"), "+OK LIVE_CONNEC");
    assert_eq!(raw.data_lines(), ["LIVE CONNECTIONS: 0"]);
    assert_eq!(raw.command("BYTES_TRANS"), "+OK BYTES_TRANS");
    assert_eq!(raw.data_lines(), ["BYTES SENT: 0", "BYTES RECEIVED: 0"]);
    assert_eq!(raw.command("USERS"), "+OK USERS");
    assert_eq!(raw.data_lines(), ["USER COUNT: 3", "USER LIST:", "admin", "alice", "bob"]);
    assert_eq!(raw.command("STATUS"), "+OK STATUS");
    let status = raw.data_lines();
    let keys: Vec<&str> = status.iter().map(|line| line.split(": ").next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "HISTORIC CONNECTIONS",
            "LIVE CONNECTIONS",
            "BYTES SENT",
            "BYTES RECEIVED",
            "TOTAL USERS",
            "MAX USERS",
            "MAX CONNECTIONS",
            "IDLE TIMEOUT",
            "UPTIME",
            "USER COUNT",
            "USER LIST:",
            "admin",
            "alice",
            "bob"
        ]
    );
    assert!(status.contains(&"TOTAL USERS: 3".to_owned()) && status.contains(&"MAX CONNECTIONS: 500".to_owned()));
    assert!(status.contains(&"IDLE TIMEOUT: 600".to_owned()), "{status:?}");
    assert_eq!(raw.command("QUIT"), "+OK GOODBYE");
    assert!(raw.is_closed());
}

/// A wrong name and a wrong password get the same `-ERR`, each at least a
/// second late; the third failure closes the connection. Nothing but USER,
/// PASS, CAPA and QUIT works before login.
#[test]
fn failed_logins_are_uniform_delayed_and_limited() {
    let server = TestServer::start();
    let mut client = server.mgmt();
    assert_eq!(client.command("STATUS"), "-ERR NOT AUTHENTICATED: USER AND PASS FIRST");
    assert_eq!(client.command("PASS admin"), "-ERR SEND USER FIRST");
    let mut replies = Vec::new();
    for (user, password) in [("alice", "alice-pw"), ("admin", "wrong"), ("nobody", "admin")] {
        assert_eq!(client.command(&format!("USER {user}")), "+OK USER");
        let started = Instant::now();
        replies.push(client.command(&format!("PASS {password}")));
        assert!(started.elapsed() >= Duration::from_millis(900), "failure answered too early");
    }
    assert_eq!(replies, ["-ERR AUTHENTICATION FAILED"; 3]);
    assert!(client.is_closed(), "the third failure closes the connection");
    // The log says a login failed, never with which password.
    server.wait_for_log(r#"auth failed: service=mgmt rip=127.0.0.1 user="admin" reason=password"#);
    server.wait_for_log("limit hit: service=mgmt rip=127.0.0.1 limit=auth-failures");
    assert!(!server.log_text().contains("wrong"));
}

/// A slow failed login does not hold up another admin.
#[test]
fn a_delayed_login_does_not_block_other_admins() {
    let server = TestServer::start();
    let mut slow = server.mgmt();
    slow.send("USER admin");
    slow.send("PASS wrong");
    let mut other = server.admin();
    assert_eq!(other.command("NOOP"), "+OK NOOP");
    assert_eq!(slow.line(), "+OK USER");
    assert_eq!(slow.line(), "-ERR AUTHENTICATION FAILED");
}

/// Commands sent in one packet are answered in order; a line over 255
/// octets and a malformed line get `-ERR` and the session goes on.
#[test]
fn pipelined_commands_long_lines_and_bad_input() {
    let server = TestServer::start();
    let mut client = server.mgmt();
    let mut burst = b"USER admin\r\nPASS admin\r\nNOOP\r\n".to_vec();
    burst.extend(vec![b'N'; 300]);
    burst.extend_from_slice(b"\r\nFLY\r\n\xff\xfe\r\nLIVE_CONNEC\r\nMAX_CONNEC 7\r\nnoop\nQUIT\r\n");
    client.send_raw(&burst);
    assert_eq!(client.line(), "+OK USER");
    assert_eq!(client.line(), "+OK PASS");
    assert_eq!(client.line(), "+OK NOOP");
    assert_eq!(client.line(), "-ERR LINE TOO LONG (OVER 255 OCTETS)");
    assert_eq!(client.line(), "-ERR UNKNOWN COMMAND");
    assert_eq!(client.line(), "-ERR COMMAND IS NOT UTF-8");
    assert_eq!(client.line(), "+OK LIVE_CONNEC");
    assert_eq!(client.data_lines(), ["LIVE CONNECTIONS: 0"]);
    assert_eq!(client.line(), "+OK MAX_CONNEC CHANGED");
    assert_eq!(client.line(), "+OK NOOP");
    assert_eq!(client.line(), "+OK GOODBYE");
    assert!(client.is_closed());
    // A line of exactly 255 octets with its CRLF is still a line.
    let mut admin = server.admin();
    let padded = format!("NOOP{}", " ".repeat(255 - 4 - 2));
    assert_eq!(admin.command(&padded), "+OK NOOP");
    // A flood without a newline does not disturb another admin.
    let mut flood = server.mgmt();
    flood.send_raw(&vec![b'x'; 1 << 20]);
    assert_eq!(admin.command("NOOP"), "+OK NOOP");
}

/// Every change command's error cases, each with its reason.
#[test]
fn change_commands_refuse_bad_arguments() {
    let server = TestServer::start_with(&["-u", "alice:alice-pw", "--max-users", "3"]);
    let mut admin = server.admin();
    let cases = [
        ("MAX_CONNEC", "-ERR MISSING ARGUMENT: MAX_CONNEC <connections>"),
        ("MAX_CONNEC 0", "-ERR MAX CONNECTIONS MUST BE 1-"),
        ("MAX_CONNEC -2", "-ERR NOT A POSITIVE NUMBER: MAX_CONNEC <connections>"),
        ("MAX_CONNEC ten", "-ERR NOT A POSITIVE NUMBER"),
        ("MAX_CONNEC 9999999999", "-ERR MAX CONNECTIONS MUST BE 1-"),
        ("MAX_CONNEC 99999999999", "-ERR NOT A POSITIVE NUMBER"),
        ("MAX_USERS 1", "-ERR MAX USERS BELOW CURRENT USER COUNT"),
        ("MAX_USERS x", "-ERR NOT A POSITIVE NUMBER"),
        ("TIMEOUT 0", "-ERR TIMEOUT MUST BE 1-3600 SECONDS"),
        ("TIMEOUT 3601", "-ERR TIMEOUT MUST BE 1-3600 SECONDS"),
        ("TIMEOUT -1", "-ERR NOT A POSITIVE NUMBER"),
        ("DELETE_USER admin", "-ERR ADMIN CANNOT BE DELETED"),
        ("DELETE_USER ghost", "-ERR USER NOT FOUND"),
        ("DELETE_USER ../etc", "-ERR USER NOT FOUND"),
        ("RESET_USER_PASSWORD ghost", "-ERR USER NOT FOUND"),
        ("ADD_USER alice pw", "-ERR USER ALREADY EXISTS"),
        ("ADD_USER ../etc pw", "-ERR INVALID USER NAME"),
        ("ADD_USER carol", "-ERR MISSING ARGUMENT: ADD_USER <name> <password>"),
        ("ADD_USER carol pw", "+OK ADD_USER USER ADDED SUCCESSFULLY"),
        ("ADD_USER dave pw", "-ERR MAX USERS REACHED"),
        ("CHANGE_PASSWORD wrong new", "-ERR OLD PASSWORD DOES NOT MATCH"),
        ("CHANGE_PASSWORD admin", "-ERR MISSING ARGUMENT"),
        ("USER admin", "-ERR ALREADY AUTHENTICATED"),
        ("NOOP now", "-ERR TOO MANY ARGUMENTS: NOOP"),
        ("MAX_USERS 4", "+OK MAX_USERS CHANGED SUCCESSFULLY"),
        ("ADD_USER dave pw", "+OK ADD_USER USER ADDED SUCCESSFULLY"),
        ("RESET_USER_PASSWORD dave", "+OK RESET_USER_PASSWORD PASSWORD RESET SUCCESSFULLY"),
        ("CHANGE_PASSWORD admin n3w", "+OK CHANGE_PASSWORD PASSWORD CHANGED SUCCESSFULLY"),
    ];
    for (command, expected) in cases {
        let reply = admin.command(command);
        assert!(reply.starts_with(expected), "{command}: {reply}");
    }
    server.login("dave", "dave");
    drop(admin);
    let mut renewed = server.admin_as("admin", "n3w");
    assert_eq!(renewed.command("NOOP"), "+OK NOOP");
}

/// A client that sends `script` at once and reads until the server closes;
/// returns (octets sent, octets received).
fn pop3_script(addr: std::net::SocketAddr, script: &[u8]) -> (u64, u64) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(script).unwrap();
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    assert!(received.starts_with(b"+OK"), "{received:?}");
    (script.len() as u64, received.len() as u64)
}

/// After N concurrent POP3 sessions that moved known byte counts (plus K
/// still open), HISTORIC, LIVE and BYTES are exact.
#[test]
fn counters_are_exact_under_concurrent_load() {
    let server = TestServer::start();
    server.deliver("alice", "1700000001.a", &vec![b'a'; 3000]);
    server.deliver("bob", "1700000002.b", &vec![b'b'; 5000]);
    const SESSIONS: usize = 12;
    let addr = server.addr();
    let workers: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let script: &[u8] = match i % 3 {
                0 => b"USER alice\r\nPASS alice-pw\r\nLIST\r\nRETR 1\r\nQUIT\r\n",
                1 => b"USER bob\r\nPASS bob-pw\r\nUIDL\r\nRETR 1\r\nTOP 1 0\r\nQUIT\r\n",
                _ => b"CAPA\r\nUSER nobody\r\nPASS x\r\nNOOP\r\nQUIT\r\n",
            };
            std::thread::spawn(move || pop3_script(addr, script))
        })
        .collect();
    let (mut sent, mut received) = (0, 0);
    for worker in workers {
        let (s, r) = worker.join().unwrap();
        sent += s;
        received += r;
    }
    // Sessions left open: each has read its greeting and nothing else.
    let open: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    let greeting = b"+OK POP3 server ready\r\n".len() as u64;
    received += greeting * open.len() as u64;

    let mut admin = server.admin();
    assert_eq!(admin.command("HISTORIC_CONNEC"), "+OK HISTORIC_CONNEC");
    assert_eq!(admin.data_lines(), [format!("HISTORIC CONNECTIONS: {}", SESSIONS + open.len())]);
    assert_eq!(admin.command("LIVE_CONNEC"), "+OK LIVE_CONNEC");
    assert_eq!(admin.data_lines(), [format!("LIVE CONNECTIONS: {}", open.len())]);
    assert_eq!(admin.command("BYTES_TRANS"), "+OK BYTES_TRANS");
    assert_eq!(admin.data_lines(), [format!("BYTES SENT: {received}"), format!("BYTES RECEIVED: {sent}")]);
    drop(open);
    // Closing frees the slots; LIVE reaches zero (bounded wait).
    let deadline = Instant::now() + PATIENCE;
    loop {
        admin.send("LIVE_CONNEC");
        assert_eq!(admin.line(), "+OK LIVE_CONNEC");
        if admin.data_lines() == ["LIVE CONNECTIONS: 0"] {
            break;
        }
        assert!(Instant::now() < deadline, "LIVE never went back to 0");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// MAX_CONNEC below the open sessions keeps them, refuses the next one
/// with [SYS/TEMP], and raising it admits again.
#[test]
fn max_connec_lowered_live_refuses_and_raising_admits() {
    let server = TestServer::start();
    let mut first = server.login("alice", "alice-pw");
    let mut second = server.connect();
    let mut admin = server.admin();
    assert_eq!(admin.command("MAX_CONNEC 1"), "+OK MAX_CONNEC CHANGED");
    let mut refused = Client::connect_raw(server.addr());
    assert!(refused.line().starts_with("-ERR [SYS/TEMP]"));
    assert!(refused.is_closed());
    assert!(first.command("NOOP").starts_with("+OK"), "open sessions are never cut");
    assert!(second.command("USER bob").starts_with("+OK"));
    assert_eq!(admin.command("MAX_CONNEC 3"), "+OK MAX_CONNEC CHANGED");
    let mut third = server.connect();
    assert!(third.command("NOOP").starts_with("-ERR"), "admitted: NOOP before login is refused by POP3 itself");
    assert_eq!(admin.command("STATUS"), "+OK STATUS");
    assert!(admin.data_lines().contains(&"MAX CONNECTIONS: 3".to_owned()));
}

/// TIMEOUT pauses POP3 (commands and new connections) for at least its
/// length while another admin is answered; the pausing admin is answered
/// when it ends.
#[test]
fn timeout_pauses_pop3_while_mgmt_answers() {
    let server = TestServer::start();
    let mut pop3 = server.login("alice", "alice-pw");
    let mut pauser = server.admin();
    let started = Instant::now();
    pauser.send("TIMEOUT 2");
    server.wait_for_log("POP3 paused for 2 s");
    pop3.send("NOOP");
    let late = TcpStream::connect(server.addr()).unwrap();

    let mut other = server.admin();
    assert_eq!(other.command("LIVE_CONNEC"), "+OK LIVE_CONNEC");
    assert!(other.data_lines()[0].starts_with("LIVE CONNECTIONS: "));

    assert!(pop3.line().starts_with("+OK"));
    assert!(started.elapsed() >= Duration::from_secs(2), "NOOP was answered during the pause");
    let mut late = Client { reader: std::io::BufReader::new(late) };
    late.stream().set_read_timeout(Some(PATIENCE)).unwrap();
    assert!(late.line().starts_with("+OK POP3"));
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(pauser.line(), "+OK TIMEOUT COMPLETED");
}

/// ADD_USER lets the user log in at once; DELETE_USER ends the user's open
/// session before its next command (nothing deleted) and refuses new
/// logins, and the Maildir stays on disk.
#[test]
fn added_users_log_in_and_deleted_users_cannot() {
    let server = TestServer::start();
    server.deliver("alice", "1700000001.keep", b"Subject: keep me\n\nbody\n");
    let mut admin = server.admin();
    assert_eq!(admin.command("ADD_USER carol c:pw"), "+OK ADD_USER USER ADDED SUCCESSFULLY");
    let mut carol = server.login("carol", "c:pw");
    assert!(carol.command("STAT").starts_with("+OK 0 0"));

    let mut alice = server.login("alice", "alice-pw");
    assert!(alice.command("DELE 1").starts_with("+OK"));
    assert_eq!(admin.command("DELETE_USER alice"), "+OK DELETE_USER USER DELETED SUCCESSFULLY");
    assert!(alice.command("QUIT").starts_with("-ERR [SYS/PERM]"));
    assert!(alice.is_closed());

    let mut again = server.connect();
    again.command("USER alice");
    assert!(again.command("PASS alice-pw").starts_with("-ERR"));
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 1, "the Maildir and its mail stay");
    assert_eq!(admin.command("USERS"), "+OK USERS");
    assert_eq!(admin.data_lines(), ["USER COUNT: 3", "USER LIST:", "admin", "bob", "carol"]);
}

/// A fifth admin connection is refused while four admins are logged in.
#[test]
fn admin_sessions_are_bounded() {
    let server = TestServer::start();
    let open: Vec<Client> = (0..4).map(|_| server.admin()).collect();
    let mut fifth = Client::connect_raw(server.mgmt_addr());
    assert!(fifth.line().starts_with("-ERR [SYS/TEMP]"));
    assert!(fifth.is_closed());
    drop(open);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut next = Client::connect_raw(server.mgmt_addr());
        if next.line().starts_with("+OK") {
            break;
        }
        assert!(Instant::now() < deadline, "slots were never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}
