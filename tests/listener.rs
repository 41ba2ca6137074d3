//! The accept loop that POP3, POP3S and MGMT share, against the real
//! binary on loopback: the one line a refused client reads (nothing at all
//! on an implicit-TLS listener), the one log line per refusal, MGMT's cap
//! kept apart from POP3's, and the pool following a cap raised over MGMT.

mod common;

use std::io::{ErrorKind, Read};
use std::net::SocketAddr;

use common::{Client, TestCertificate, TestServer};

/// Which listener of a test server a case talks to.
#[derive(Clone, Copy, Debug)]
enum Port {
    Pop3,
    Pop3s,
    Mgmt,
}

impl Port {
    fn of(self, server: &TestServer) -> SocketAddr {
        match self {
            Port::Pop3 => server.addr(),
            Port::Pop3s => server.pop3s.expect("the server logged no POP3S address"),
            Port::Mgmt => server.mgmt_addr(),
        }
    }
}

/// The server's name for `client` in its log lines.
fn peer(client: &Client) -> SocketAddr {
    client.stream().local_addr().unwrap()
}

/// Fails unless the server closes `client` without sending a single byte.
fn assert_closed_without_a_word(client: &mut Client, what: &str) {
    let mut received = Vec::new();
    match client.reader.read_to_end(&mut received) {
        Ok(_) => assert!(received.is_empty(), "{what}: sent {:?}", String::from_utf8_lossy(&received)),
        Err(error) => assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{what}: {error}"),
    }
}

/// Over each cap, a cleartext client reads exactly one `-ERR [SYS/TEMP]`
/// line before the close, and the log says who was refused and why.
#[test]
fn each_cap_refuses_with_its_own_line_and_log() {
    // (arguments, listener, connections that fill it, reply, log reason)
    let cases: [(&[&str], Port, usize, &str, &str); 3] = [
        (
            &["-c", "1"],
            Port::Pop3,
            1,
            "-ERR [SYS/TEMP] too many connections, try again later",
            "limit hit: service=pop3 rip={peer} limit=connections",
        ),
        (
            &["--max-per-ip", "1", "--limit-loopback"],
            Port::Pop3,
            1,
            "-ERR [SYS/TEMP] too many connections from your address, try again later",
            "limit hit: service=pop3 rip={peer} limit=per-address",
        ),
        (
            &[],
            Port::Mgmt,
            4,
            "-ERR [SYS/TEMP] TOO MANY ADMIN SESSIONS",
            "limit hit: service=mgmt rip={peer} limit=admin-sessions",
        ),
    ];
    for (args, port, fill, reply, log) in cases {
        let server = TestServer::start_with(args);
        let addr = port.of(&server);
        // MGMT's slots are for logged-in admins: connections that never log
        // in do not fill them.
        let fill_one = || if let Port::Mgmt = port { server.admin() } else { Client::connect(addr) };
        let _open: Vec<Client> = (0..fill).map(|_| fill_one()).collect();
        let mut refused = Client::connect_raw(addr);
        assert_eq!(refused.line(), reply, "{args:?}");
        assert!(refused.is_closed(), "{args:?}");
        server.wait_for_log(&log.replace("{peer}", &peer(&refused).ip().to_string()));
    }
}

/// On an implicit-TLS listener (POP3S, and MGMT under `--mgmt-tls`) the
/// client expects a handshake, so a refusal is a close with no text; the
/// log line is the same as in clear.
#[test]
fn implicit_tls_listeners_refuse_by_closing_alone() {
    let certificate = TestCertificate::new();
    let mut args = certificate.server_args();
    args.extend(["-c", "1", "--mgmt-tls"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start_with(&args);

    let _pop3 = server.connect();
    let mut refused = Client::connect_raw(Port::Pop3s.of(&server));
    assert_closed_without_a_word(&mut refused, "POP3S over the cap");
    server.wait_for_log(&format!("limit hit: service=pop3s rip={} limit=connections", peer(&refused).ip()));

    // Every admin slot taken by a logged-in admin: four admin_monitors over
    // TLS, each in the middle of a pause of POP3.
    let ca = certificate.cert.display().to_string();
    let monitor = ["--tls", "--ca-file", ca.as_str(), "1.0", "admin", "admin", "-TIMEOUT", "5"];
    std::thread::scope(|scope| {
        let admins: Vec<_> = (0..4).map(|_| scope.spawn(|| server.admin_monitor(&monitor))).collect();
        server.wait_for_log_count("admin logged in", 4);
        let mut refused = Client::connect_raw(Port::Mgmt.of(&server));
        assert_closed_without_a_word(&mut refused, "MGMT over TLS over the cap");
        server.wait_for_log(&format!("limit hit: service=mgmt rip={} limit=admin-sessions", peer(&refused).ip()));
        for admin in admins {
            assert_eq!(admin.join().unwrap().status, 0);
        }
    });
}

/// MGMT's cap and POP3's are apart: admins are served while POP3 is full,
/// and POP3 clients while every admin slot is taken.
#[test]
fn mgmt_and_pop3_caps_are_apart() {
    let server = TestServer::start_with(&["-c", "1", "-u", "alice:alice-pw"]);
    let mut pop3 = server.login("alice", "alice-pw");
    let mut admin = server.admin();
    assert_eq!(admin.command("LIVE_CONNEC"), "+OK LIVE_CONNEC");
    assert_eq!(admin.data_lines(), ["LIVE CONNECTIONS: 1"]);
    let _admins: Vec<Client> = (0..3).map(|_| server.admin()).collect();
    assert!(pop3.command("QUIT").starts_with("+OK"));
    assert!(pop3.is_closed());
    server.wait_for_closed_sessions(1);
    let mut again = server.login_when_free("alice", "alice-pw");
    assert_eq!(again.command("STAT"), "+OK 0 0", "POP3 is served with all four admin slots taken");
}

/// The pool starts with one thread per allowed connection; after MGMT
/// raises the cap, every admitted client is greeted at once rather than
/// queued behind a busy thread.
#[test]
fn the_pool_grows_with_a_cap_raised_over_mgmt() {
    let server = TestServer::start_with(&["-c", "1", "-u", "alice:alice-pw", "bob:bob-pw"]);
    let mut admin = server.admin();
    assert_eq!(admin.command("MAX_CONNEC 3"), "+OK MAX_CONNEC CHANGED");
    let mut clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    for client in &mut clients {
        assert!(client.command("CAPA").starts_with("+OK"));
        client.data_lines();
    }
}
