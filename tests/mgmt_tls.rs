//! MGMT over implicit TLS (`--mgmt-tls`): the real server with a
//! certificate made by openssl for the test, spoken to by Python's ssl
//! module and by raw cleartext sockets.

mod common;

use std::io::Read;

use common::{python, start_expecting_exit, Client, TestCertificate, TestServer};

/// Starts a server whose MGMT port speaks TLS with `certificate`.
fn mgmt_tls_server(certificate: &TestCertificate) -> TestServer {
    let mut args = certificate.server_args();
    args.extend(["--mgmt-tls", "-u", "alice:alice-pw"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::start_with(&args)
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
    let (status, stderr) = start_expecting_exit(&["127.0.0.1", "0", "--mgmt-port", "0", "--mgmt-tls"]);
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
