//! MGMT over implicit TLS (`--mgmt-tls`): the real server with a
//! certificate made by openssl for the test, spoken to by the real
//! `admin_monitor --tls`, by Python's ssl module and by raw cleartext
//! sockets.

mod common;

use std::io::Read;

use common::{admin_monitor, python, run_to_exit, Client, Exited, TestCertificate, TestServer};

/// Starts a server whose MGMT port speaks TLS with `certificate`.
fn mgmt_tls_server(certificate: &TestCertificate) -> TestServer {
    let mut args = certificate.server_args();
    args.extend(["--mgmt-tls", "-u", "alice:alice-pw"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::start_with(&args)
}

/// `admin_monitor --tls --ca-file <cert> [extra] 1.0 admin admin <command>`.
fn monitor_tls(server: &TestServer, ca_file: &TestCertificate, extra: &[&str], command: &[&str]) -> Exited {
    let ca = ca_file.cert.display().to_string();
    let mut args = vec!["--tls", "--ca-file", ca.as_str()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["1.0", "admin", "admin"]);
    args.extend_from_slice(command);
    server.admin_monitor(&args)
}

/// With the right CA, admin_monitor prints the same conversation over TLS
/// as in clear, and a change it makes is live at once.
#[test]
fn admin_monitor_over_tls_runs_commands() {
    let certificate = TestCertificate::new();
    let server = mgmt_tls_server(&certificate);
    let status = monitor_tls(&server, &certificate, &[], &["-STATUS"]);
    assert_eq!(status.status, 0, "{status:?}");
    assert!(status.stderr.is_empty(), "{status:?}");
    let lines = status.lines();
    assert_eq!(lines[..4], ["+OK Management server ready MGMT/1.0", "+OK USER", "+OK PASS", "+OK STATUS"]);
    assert!(lines.contains(&"TOTAL USERS: 2"), "{status:?}");
    assert_eq!(lines.last(), Some(&"+OK GOODBYE"));

    // The certificate names localhost too; --server-name checks that name.
    let added = monitor_tls(&server, &certificate, &["--server-name", "localhost"], &["-ADD_USER", "carol", "c-pw"]);
    assert_eq!(
        (added.status, added.lines()),
        (
            0,
            vec![
                "+OK Management server ready MGMT/1.0",
                "+OK USER",
                "+OK PASS",
                "+OK ADD_USER USER ADDED SUCCESSFULLY",
                "+OK GOODBYE"
            ]
        ),
        "{added:?}"
    );
    server.login("carol", "c-pw");
    server.wait_for_log("MGMT connection from 127.0.0.1");
    assert!(server.log_text().contains(" (TLS)"));
}

/// A certificate the client does not trust, or one not valid for the name
/// it checks: exit 3, one line on stderr, and no password sent.
#[test]
fn admin_monitor_refuses_a_server_it_cannot_verify() {
    let certificate = TestCertificate::new();
    let stranger = TestCertificate::new();
    let server = mgmt_tls_server(&certificate);
    let wrong_ca = monitor_tls(&server, &stranger, &[], &["-STATUS"]);
    let wrong_name = monitor_tls(&server, &certificate, &["--server-name", "mail.example"], &["-STATUS"]);
    for (monitor, reason) in
        [(&wrong_ca, "not signed by one in --ca-file"), (&wrong_name, "not valid for name \"mail.example\"")]
    {
        assert_eq!(monitor.status, 3, "{monitor:?}");
        assert!(monitor.stdout.is_empty(), "{monitor:?}");
        assert_eq!(monitor.stderr.lines().count(), 1, "{monitor:?}");
        assert!(monitor.stderr.starts_with("admin_monitor: TLS with 127.0.0.1:"), "{monitor:?}");
        assert!(monitor.stderr.contains(reason), "{reason}: {monitor:?}");
    }
    server.wait_for_log_count("TLS handshake failed", 2);
    assert!(!server.log_text().contains("admin logged in"));
}

/// `--tls` against a cleartext MGMT port fails the handshake (exit 3);
/// `--tls` without `--ca-file` is a usage error (exit 2).
#[test]
fn admin_monitor_tls_needs_a_tls_server_and_a_ca_file() {
    let certificate = TestCertificate::new();
    let server = TestServer::start();
    let cleartext = monitor_tls(&server, &certificate, &[], &["-STATUS"]);
    assert_eq!(cleartext.status, 3, "{cleartext:?}");
    assert_eq!(cleartext.stderr.lines().count(), 1, "{cleartext:?}");
    assert!(cleartext.stderr.starts_with("admin_monitor: TLS with "), "{cleartext:?}");
    let usage = admin_monitor(&["--tls", "1.0", "admin", "admin", "-STATUS"]);
    assert_eq!(usage.status, 2, "{usage:?}");
    assert!(usage.stderr.contains("--tls needs --ca-file FILE"), "{usage:?}");
}

/// A whole MGMT session inside TLS, certificate checked by Python's ssl:
/// the greeting comes through TLS, then USER, PASS, STATUS and QUIT.
#[test]
fn a_tls_session_runs_user_pass_status() {
    let certificate = TestCertificate::new();
    let server = mgmt_tls_server(&certificate);
    let script = r#"
import socket, ssl, sys
cafile, port = sys.argv[1], int(sys.argv[2])
context = ssl.create_default_context(cafile=cafile)
raw = socket.create_connection(("127.0.0.1", port), timeout=20)
secure = context.wrap_socket(raw, server_hostname="localhost")
print(secure.version())
lines = secure.makefile("rwb")
def line():
    return lines.readline().decode().rstrip("\r\n")
print(line())
for command in ["USER admin", "PASS admin", "STATUS"]:
    lines.write(command.encode() + b"\r\n"); lines.flush()
    print(line())
while True:
    data = line()
    print(data)
    if data == ".":
        break
lines.write(b"QUIT\r\n"); lines.flush()
print(line())
"#;
    let output = python(script, &[certificate.cert.display().to_string(), server.mgmt_addr().port().to_string()]);
    let lines: Vec<&str> = output.lines().collect();
    assert!(lines[0].starts_with("TLSv1."), "{output}");
    assert_eq!(lines[1..5], ["+OK Management server ready MGMT/1.0", "+OK USER", "+OK PASS", "+OK STATUS"]);
    for key in ["LIVE CONNECTIONS: 0", "TOTAL USERS: 2", "MAX CONNECTIONS: 500", "UPTIME: "] {
        assert!(lines.iter().any(|line| line.starts_with(key)), "{key}: {output}");
    }
    assert_eq!(lines.last(), Some(&"+OK GOODBYE"), "{output}");
    server.wait_for_log("admin logged in");
}

/// A cleartext client on a `--mgmt-tls` port never sees the greeting or
/// any other MGMT text, and its line is not taken as a command.
#[test]
fn a_cleartext_client_gets_no_greeting() {
    let certificate = TestCertificate::new();
    let server = mgmt_tls_server(&certificate);
    let mut raw = Client::connect_raw(server.mgmt_addr());
    raw.send("USER admin");
    let mut received = Vec::new();
    let _ = raw.reader.read_to_end(&mut received);
    let text = String::from_utf8_lossy(&received);
    assert!(!text.contains("+OK") && !text.contains("MGMT"), "cleartext MGMT on a TLS port: {text:?}");
    server.wait_for_log("TLS handshake failed");
    assert!(!server.log_text().contains("admin logged in"));
}

/// `--mgmt-tls` without a certificate stops the server at start with a
/// one-line reason and the usage exit status.
#[test]
fn mgmt_tls_without_a_certificate_is_refused() {
    let exited = run_to_exit(&["127.0.0.1", "0", "--mgmt-port", "0", "--mgmt-tls"]);
    let (status, stderr) = (exited.status, exited.stderr);
    assert_eq!(status, 2, "{stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.ends_with(": --mgmt-tls needs --tls-cert and --tls-key"), "{stderr}");
}

/// Without `--mgmt-tls` the MGMT port stays in clear even when POP3 has a
/// certificate, so existing admin tools keep working.
#[test]
fn mgmt_stays_in_clear_unless_asked() {
    let certificate = TestCertificate::new();
    let mut args = certificate.server_args();
    args.extend(["-u", "alice:alice-pw"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start_with(&args);
    let mut admin = server.admin();
    assert_eq!(admin.command("NOOP"), "+OK NOOP");
}
