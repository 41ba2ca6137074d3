//! MGMT's WHO and KICK against the real server: who is listed (user,
//! client address, TLS, time connected), what a kicked client reads, that
//! a kick commits nothing, and the same through the real `admin_monitor`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::Arc;

use common::{files_in_cur, Client, TestCertificate, TestServer, ADMIN};

const ALICE_FROM: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const NOBODY_FROM: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4));
const KICKED: &str = "-ERR [SYS/TEMP] session ended by the administrator";

type TlsClient = BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

/// Logs `user` in over POP3S, trusting `certificate`.
fn tls_login(certificate: &TestCertificate, server: &TestServer, user: &str, password: &str) -> TlsClient {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&certificate.cert).unwrap();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = TcpStream::connect(server.pop3s.unwrap()).unwrap();
    socket.set_read_timeout(Some(common::PATIENCE)).unwrap();
    let mut client = BufReader::new(rustls::StreamOwned::new(connection, socket));
    let mut command = |line: &str| {
        if !line.is_empty() {
            client.get_mut().write_all(format!("{line}\r\n").as_bytes()).unwrap();
        }
        let mut reply = String::new();
        client.read_line(&mut reply).unwrap();
        assert!(reply.starts_with("+OK"), "{line}: {reply}");
    };
    command("");
    command(&format!("USER {user}"));
    command(&format!("PASS {password}"));
    client
}

/// The data lines of a WHO, the seconds of each row cut off (they grow).
fn who(admin: &mut Client) -> Vec<String> {
    assert_eq!(admin.command("WHO"), "+OK WHO");
    admin.data_lines().iter().map(|line| line.split(" seconds=").next().unwrap().to_owned()).collect()
}

#[test]
fn who_lists_logged_in_sessions_and_kick_ends_one_users() {
    let certificate = TestCertificate::new();
    let mut args = certificate.server_args();
    args.extend(["-u", "alice:alice-pw", "bob:bob-pw"].map(String::from));
    let server = TestServer::start_with(&args.iter().map(String::as_str).collect::<Vec<_>>());
    server.deliver("alice", "1700000001.a", b"Subject: one\r\n\r\nfirst\r\n");
    server.deliver("alice", "1700000002.b", b"Subject: two\r\n\r\nsecond\r\n");

    let mut alice = Client::connect_from(ALICE_FROM, server.addr());
    assert!(alice.command("USER alice").starts_with("+OK"));
    assert!(alice.command("PASS alice-pw").starts_with("+OK"));
    assert!(alice.command("DELE 1").starts_with("+OK"));
    server.wait_for_log("alice logged in");
    let mut bob = tls_login(&certificate, &server, "bob", "bob-pw");
    let mut not_logged_in = Client::connect_from(NOBODY_FROM, server.addr());
    assert!(not_logged_in.command("USER bob").starts_with("+OK"));

    let mut admin = server.admin();
    assert_eq!(who(&mut admin), ["SESSION COUNT: 2", "alice 127.0.0.2 tls=no", "bob 127.0.0.1 tls=yes"]);

    // (command, reply, WHO afterwards)
    let cases: [(&str, &str, &[&str]); 4] = [
        (
            "KICK nobody",
            "+OK KICK 0 SESSIONS ENDED",
            &["SESSION COUNT: 2", "alice 127.0.0.2 tls=no", "bob 127.0.0.1 tls=yes"],
        ),
        (
            "KICK ../alice",
            "+OK KICK 0 SESSIONS ENDED",
            &["SESSION COUNT: 2", "alice 127.0.0.2 tls=no", "bob 127.0.0.1 tls=yes"],
        ),
        ("kick ALICE", "+OK KICK 1 SESSIONS ENDED", &["SESSION COUNT: 1", "bob 127.0.0.1 tls=yes"]),
        ("KICK alice", "+OK KICK 0 SESSIONS ENDED", &["SESSION COUNT: 1", "bob 127.0.0.1 tls=yes"]),
    ];
    for (command, reply, listed) in cases {
        assert_eq!(admin.command(command), reply, "{command}");
        assert_eq!(who(&mut admin), listed, "after {command}");
    }

    // Alice, idle in a read, is told at once, and nothing was committed.
    assert_eq!(alice.line(), KICKED);
    assert!(alice.is_closed());
    server.wait_for_log("user=alice retrieved=0 deleted=0");
    assert!(server.log_text().contains("ending=kicked"), "{}", server.log_text());
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 2, "the DELE was not applied");
    let mut again = server.login_when_free("alice", "alice-pw");
    assert!(again.command("STAT").starts_with("+OK 2 "), "the lock was released and both messages are there");

    // Bob and the client not logged in are untouched.
    bob.get_mut().write_all(b"NOOP\r\n").unwrap();
    let mut reply = String::new();
    bob.read_line(&mut reply).unwrap();
    assert_eq!(reply, "+OK\r\n");
    assert!(not_logged_in.command("NOOP").starts_with("-ERR not logged in"));
}

/// A kick during RETR lets the message finish, final "." included, and
/// ends the session before the next command, although the client had sent
/// it (and a QUIT) already.
#[test]
fn a_kick_during_retr_ends_the_session_after_the_message() {
    let server = TestServer::start();
    // 40 MB: far more than loopback's socket buffers hold however they
    // grow, so the server is still writing it when the kick comes.
    let body = "x".repeat(99) + "\r\n";
    let message = format!("Subject: big\r\n\r\n{}", body.repeat(400_000));
    server.deliver("alice", "1700000001.a", message.as_bytes());
    let mut alice = server.login("alice", "alice-pw");
    alice.send_raw(b"RETR 1\r\nDELE 1\r\nQUIT\r\n");
    server.wait_for_log("command RETR (alice)");
    let mut admin = server.admin();
    assert_eq!(who(&mut admin), ["SESSION COUNT: 1", "alice 127.0.0.1 tls=no"], "{}", server.log_text());
    assert_eq!(admin.command("KICK alice"), "+OK KICK 1 SESSIONS ENDED");

    assert!(alice.line().starts_with("+OK"), "RETR");
    let received = alice.raw_body();
    assert_eq!(received.len(), message.len() + 3, "the whole message, then the final \".\"");
    assert!(received.ends_with(b"x\r\n.\r\n"));
    assert_eq!(alice.line(), KICKED, "instead of DELE's reply");
    assert!(alice.is_closed());
    server.wait_for_log("ending=kicked");
    assert_eq!(files_in_cur(&server.maildir("alice")).len(), 1, "the DELE and QUIT after the kick never ran");
}

/// `admin_monitor -WHO` and `-KICK user` print the conversation.
#[test]
fn admin_monitor_offers_who_and_kick() {
    let server = TestServer::start();
    let _alice = server.login("alice", "alice-pw");
    let (user, password) = ADMIN;
    let run = |args: &[&str]| {
        let monitor = server.admin_monitor(&[&["1.0", user, password][..], args].concat());
        assert_eq!(monitor.status, 0, "{args:?}: {monitor:?}");
        monitor
            .lines()
            .iter()
            .skip(3)
            .map(|line| line.split(" seconds=").next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(&["-WHO"]), ["+OK WHO", "SESSION COUNT: 1", "alice 127.0.0.1 tls=no", "+OK GOODBYE"]);
    assert_eq!(run(&["-kick", "alice"]), ["+OK KICK 1 SESSIONS ENDED", "+OK GOODBYE"]);
    assert_eq!(run(&["-WHO"]), ["+OK WHO", "SESSION COUNT: 0", "+OK GOODBYE"]);
    let help = common::admin_monitor(&["-HELP"]);
    assert!(help.stdout.contains("  -WHO\n") && help.stdout.contains("  -KICK <name>\n"), "{}", help.stdout);
}
