//! The PROXY protocol on the POP3 and POP3S listeners, spoken by hand from
//! loopback: a peer in `--haproxy-trusted-networks` must start with a
//! valid v1 or v2 header, whose source address is then the client's
//! everywhere; any other peer is a plain client, its header a bad command.
//! HAProxy itself speaks it in `tests/haproxy.rs`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{connect_from, Client, TestCertificate, TestServer};
use pop3d::net::transport::Transport;
use pop3d::wire::proxy_header::{encode_v1, encode_v2, encode_v2_local};

/// A server that believes PROXY headers from 127.0.0.1 only. Cleartext
/// logins are allowed from anywhere: the clients the headers name are not
/// on loopback.
fn trusting_server(extra: &[&str]) -> TestServer {
    let mut args = vec!["-u", "alice:alice-pw", "--haproxy-trusted-networks", "127.0.0.1/32", "--allow-plaintext-auth"];
    args.extend_from_slice(extra);
    TestServer::start_with(&args)
}

fn source_v4() -> (SocketAddr, SocketAddr) {
    ("192.0.2.5:40001".parse().unwrap(), "192.0.2.1:110".parse().unwrap())
}

fn source_v6() -> (SocketAddr, SocketAddr) {
    ("[2001:db8::5]:40002".parse().unwrap(), "[2001:db8::1]:110".parse().unwrap())
}

/// Sends `header` in pieces cut at `cuts`, pausing between them, then
/// expects the greeting and a working session from `source`.
fn check_header_in_pieces(server: &TestServer, header: &[u8], cuts: &[usize], source: SocketAddr) {
    let stream = connect_from("127.0.0.1", server.addr());
    let mut writer = stream.try_clone().unwrap();
    let mut client = Client::over(stream);
    let mut start = 0;
    for &cut in cuts.iter().chain([header.len()].iter()) {
        let cut = cut.min(header.len());
        writer.write_all(&header[start..cut]).unwrap();
        start = cut;
        thread::sleep(Duration::from_millis(30));
    }
    let greeting = client.line();
    assert!(greeting.starts_with("+OK"), "greeting after a header cut at {cuts:?}: {greeting}");
    assert!(client.command("USER alice").starts_with("+OK"));
    assert!(client.command("PASS alice-pw").starts_with("+OK"));
    assert!(client.command("QUIT").starts_with("+OK"));
    server.wait_for_log(&format!("connection from {source}"));
    server.wait_for_log(&format!("closed {source} user=alice"));
}

#[test]
fn v1_and_v2_headers_for_ipv4_and_ipv6_clients_in_pieces() {
    let server = trusting_server(&[]);
    for (source, destination) in [source_v4(), source_v6()] {
        let v1 = encode_v1(source, destination);
        let v2 = encode_v2(source, destination, b"\x04\x00\x02ab");
        for cuts in [&[][..], &[1], &[5, 6], &[1, 2, 3, 11, 12, 13, 15, 16, 17]] {
            check_header_in_pieces(&server, &v1, cuts, source);
            check_header_in_pieces(&server, &v2, cuts, source);
        }
        // One octet at a time.
        let every: Vec<usize> = (1..v2.len()).collect();
        check_header_in_pieces(&server, &v2, &every, source);
    }
}

/// A command sent in the same write as the header is not lost: the
/// header step reads the header's octets and nothing more.
#[test]
fn bytes_after_the_header_stay_for_the_session() {
    let server = trusting_server(&[]);
    let (source, destination) = source_v4();
    let mut stream = connect_from("127.0.0.1", server.addr());
    let mut bytes = encode_v2(source, destination, b"");
    bytes.extend_from_slice(b"CAPA\r\n");
    stream.write_all(&bytes).unwrap();
    let mut client = Client::over(stream);
    assert!(client.line().starts_with("+OK"));
    assert!(client.line().starts_with("+OK"), "CAPA answered");
    assert!(client.data_lines().iter().any(|line| line == "USER"));
}

#[test]
fn a_v2_local_header_keeps_the_balancers_address() {
    let server = trusting_server(&[]);
    let mut stream = connect_from("127.0.0.1", server.addr());
    let port = stream.local_addr().unwrap().port();
    stream.write_all(&encode_v2_local(b"")).unwrap();
    let mut client = Client::over(stream);
    assert!(client.line().starts_with("+OK"));
    assert!(client.command("QUIT").starts_with("+OK"));
    // At debug level: a balancer's health checks would fill the log.
    server.wait_for_log(&format!("[DEBUG] connection from 127.0.0.1:{port}"));
}

#[test]
fn a_header_from_an_untrusted_peer_is_a_bad_command() {
    let server = trusting_server(&[]);
    let stream = connect_from("127.0.0.2", server.addr());
    let port = stream.local_addr().unwrap().port();
    let mut client = Client::over(stream);
    assert!(client.line().starts_with("+OK"), "greeted at once: no header is awaited");
    let (source, destination) = source_v4();
    let v1 = String::from_utf8(encode_v1(source, destination)).unwrap();
    assert!(client.command(v1.trim_end()).starts_with("-ERR"));
    assert!(client.command("QUIT").starts_with("+OK"));
    server.wait_for_log(&format!("closed 127.0.0.2:{port} "));
    assert!(!server.log_text().contains(&source.to_string()), "the claimed address is never used");
}

/// Reads everything until the server closes; a trusted peer that sends no
/// valid header gets no greeting at all.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut everything = Vec::new();
    let _ = stream.read_to_end(&mut everything);
    everything
}

#[test]
fn a_trusted_peer_without_a_valid_header_is_closed() {
    let server = trusting_server(&[]);
    for (sent, logged) in [
        (&b"USER alice\r\n"[..], "no PROXY protocol signature"),
        (b"PROXY TCP4 192.0.2.5 192.0.2.1 40001\r\n", "malformed PROXY v1 line"),
        (b"PROXY TCP4 192.0.2.5 192.0.2.1 40001 110 and more and more and more and more and more and more and more and more\r\n", "longer than 107"),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x12\x00\x0c", "unsupported family"),
        (b"\r\n\r\n\0\r\nQUIT\n\x31", "unknown version"),
    ] {
        let mut stream = connect_from("127.0.0.1", server.addr());
        let port = stream.local_addr().unwrap().port();
        stream.write_all(sent).unwrap();
        assert_eq!(read_until_closed(&mut stream), b"", "for {sent:?}");
        server.wait_for_log(&format!("closed 127.0.0.1:{port}: "));
        let line = server.log_text().lines().find(|line| line.contains(&format!("127.0.0.1:{port}"))).unwrap().to_owned();
        assert!(line.contains(logged), "{line}");
    }
    // A peer that hangs up halfway is closed too.
    let mut stream = connect_from("127.0.0.1", server.addr());
    let port = stream.local_addr().unwrap().port();
    stream.write_all(b"PROXY TCP4 ").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_until_closed(&mut stream), b"");
    server.wait_for_log(&format!("closed 127.0.0.1:{port}: closed before a complete PROXY header"));
}

/// A header that never completes runs into its deadline (here the login
/// timeout, 2 s, is shorter than the header's own 5 s), and meanwhile
/// other balancer connections are served at once.
#[test]
fn a_slow_header_runs_into_its_deadline_without_stalling_others() {
    let server = trusting_server(&["--login-timeout", "2"]);
    let mut slow = connect_from("127.0.0.1", server.addr());
    let port = slow.local_addr().unwrap().port();
    slow.write_all(b"PROXY TCP4 192.0.2.").unwrap();
    let (source, destination) = source_v4();
    check_header_in_pieces(&server, &encode_v1(source, destination), &[], source);
    // Trickle: one octet now and then is no way around the deadline.
    for byte in b"5 192" {
        if slow.write_all(&[*byte]).is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(read_until_closed(&mut slow), b"", "closed, never greeted");
    server.wait_for_log(&format!("closed 127.0.0.1:{port}: no complete PROXY header in time"));
}

/// On POP3S the header comes before the TLS ClientHello, in the same
/// write here, and the session runs over TLS as the client it names.
#[test]
fn the_header_comes_before_the_tls_handshake_on_pop3s() {
    let certificate = TestCertificate::new();
    let mut args: Vec<String> = vec!["-u".into(), "alice:alice-pw".into()];
    args.extend(["--haproxy-trusted-networks".into(), "127.0.0.1".into()]);
    args.extend(certificate.server_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start_with(&args);
    let (source, destination) = source_v6();
    let mut stream = connect_from("127.0.0.1", server.pop3s.unwrap());
    stream.write_all(&encode_v2(source, destination, b"")).unwrap();
    let config = pop3d::net::tls::client_config(&certificate.cert).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = Transport::connect_tls(stream, Arc::clone(&config), name).unwrap();
    let mut greeting = [0; 3];
    tls.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"+OK");
    tls.write_all(b"QUIT\r\n").unwrap();
    server.wait_for_log(&format!("connection from {source} (TLS)"));
}

/// The loopback exemption for cleartext logins follows the client the
/// header names: a balancer on loopback does not make its clients local.
#[test]
fn the_cleartext_login_rule_sees_the_client_not_the_balancer() {
    let server = TestServer::start_with(&["-u", "alice:alice-pw", "--haproxy-trusted-networks", "127.0.0.1"]);
    let login_as = |source: &str| {
        let mut stream = connect_from("127.0.0.1", server.addr());
        let source: SocketAddr = source.parse().unwrap();
        stream.write_all(&encode_v1(source, "127.0.0.1:110".parse().unwrap())).unwrap();
        let mut client = Client::over(stream);
        assert!(client.line().starts_with("+OK"));
        client.command("USER alice")
    };
    assert!(login_as("192.0.2.5:40040").starts_with("-ERR"), "a remote client is held to TLS");
    assert!(login_as("127.0.0.9:40041").starts_with("+OK"), "a local client is not");
}

/// The per-address cap counts the client a header names, not the balancer.
#[test]
fn the_per_address_cap_counts_the_client_behind_the_balancer() {
    let server = trusting_server(&["--max-per-ip", "2", "--limit-loopback"]);
    let connect_as = |source: &str| {
        let mut stream = connect_from("127.0.0.1", server.addr());
        let source: SocketAddr = source.parse().unwrap();
        stream.write_all(&encode_v2(source, "192.0.2.1:110".parse().unwrap(), b"")).unwrap();
        let mut client = Client::over(stream);
        let first = client.line();
        (client, first)
    };
    let held: Vec<_> = (0..2).map(|n| connect_as(&format!("192.0.2.5:{}", 40010 + n))).collect();
    assert!(held.iter().all(|(_, greeting)| greeting.starts_with("+OK")));
    let (_, third) = connect_as("192.0.2.5:40020");
    assert_eq!(third, "-ERR [SYS/TEMP] too many connections from your address, try again later");
    server.wait_for_log("limit hit: service=pop3 rip=192.0.2.5 limit=per-address");
    // Another client behind the same balancer is not held back.
    let (_, other) = connect_as("192.0.2.6:40030");
    assert!(other.starts_with("+OK"), "{other}");
    drop(held);
}
