//! STLS, implicit TLS, SASL PLAIN and the cleartext-login policy, with real
//! TLS clients (curl, Python's ssl/poplib, openssl s_client) against a
//! certificate made for the test.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{python, run_to_exit, Client, TestCertificate, TestServer};

/// Starts a server with TLS on (STLS and a POP3S port) and `extra` args.
fn tls_server(certificate: &TestCertificate, ip: &str, extra: &[&str]) -> TestServer {
    let mut args: Vec<String> = certificate.server_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["-u", "alice:alice-pw"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), ip, &args);
    server.deliver("alice", "1700000001.a", b"Subject: secret\n\nover TLS\n");
    server
}

fn pop3s_addr(server: &TestServer) -> std::net::SocketAddr {
    server.pop3s.expect("the server logged a POP3S address")
}

fn curl(args: &[&str], cert: &Path) -> String {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
        .arg(cert)
        .args(args)
        .output()
        .expect("curl is needed for these tests");
    assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// curl over implicit TLS (pop3s://) and over STLS (--ssl-reqd) fetches
/// the message intact.
#[test]
fn curl_fetches_over_pop3s_and_stls() {
    let certificate = TestCertificate::new();
    let server = tls_server(&certificate, "127.0.0.1", &[]);
    let pop3s = format!("pop3s://alice:alice-pw@localhost:{}/1", pop3s_addr(&server).port());
    let resolve = format!("localhost:{}:127.0.0.1", pop3s_addr(&server).port());
    let body = curl(&["--resolve", &resolve, &pop3s], &certificate.cert);
    assert_eq!(body, "Subject: secret\r\n\r\nover TLS\r\n");
    let stls = format!("pop3://alice:alice-pw@localhost:{}/1", server.addr().port());
    let resolve = format!("localhost:{}:127.0.0.1", server.addr().port());
    let body = curl(&["--ssl-reqd", "--resolve", &resolve, &stls], &certificate.cert);
    assert_eq!(body, "Subject: secret\r\n\r\nover TLS\r\n");
}

/// Python's poplib: POP3_SSL and POP3.stls(), with certificate checks on.
#[test]
fn poplib_works_over_pop3s_and_stls() {
    let certificate = TestCertificate::new();
    let server = tls_server(&certificate, "127.0.0.1", &[]);
    let script = r#"
import poplib, ssl, sys
cafile, plain_port, tls_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
context = ssl.create_default_context(cafile=cafile)
secure = poplib.POP3_SSL("localhost", tls_port, context=context, timeout=20)
secure.user("alice"); secure.pass_("alice-pw")
print("pop3s", secure.stat(), b"\n".join(secure.retr(1)[1]).decode())
secure.quit()
upgraded = poplib.POP3("localhost", plain_port, timeout=20)
assert "STLS" in upgraded.capa()
upgraded.stls(context=context)
assert "STLS" not in upgraded.capa(), "STLS offered twice"
upgraded.user("alice"); upgraded.pass_("alice-pw")
print("stls", upgraded.stat(), upgraded.uidl(1).decode())
upgraded.quit()
"#;
    let args = [
        certificate.cert.display().to_string(),
        server.addr().port().to_string(),
        pop3s_addr(&server).port().to_string(),
    ];
    let output = python(script, &args);
    assert!(output.contains("pop3s (1, 29) Subject: secret\n\nover TLS"), "{output}");
    assert!(output.contains("stls (1, 29) +OK 1 1700000001.a"), "{output}");
}

/// A message far longer than one 4 KiB chunk, with byte-stuffed lines,
/// arrives intact over TLS (on both ports), and the session answers the
/// next command at once: a long reply goes out corked, and the end of the
/// reply uncorks the socket.
#[test]
fn a_long_message_over_tls_arrives_intact() {
    let certificate = TestCertificate::new();
    let server = tls_server(&certificate, "127.0.0.1", &[]);
    let mut content = b"Subject: long\n\n".to_vec();
    for line in 0..5000 {
        content.extend_from_slice(format!(".line {line:05} of a message long enough for many chunks\n").as_bytes());
    }
    let file = server.deliver("alice", "1700000002.long", &content);
    let script = r#"
import poplib, ssl, sys
cafile, message, plain_port, tls_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
expected = open(message, "rb").read().split(b"\n")[:-1]
context = ssl.create_default_context(cafile=cafile)
secure = poplib.POP3_SSL("localhost", tls_port, context=context, timeout=20)
upgraded = poplib.POP3("localhost", plain_port, timeout=20)
upgraded.stls(context=context)
for name, client in [("pop3s", secure), ("stls", upgraded)]:
    client.user("alice"); client.pass_("alice-pw")
    lines = client.retr(2)[1]
    assert lines == expected, f"{name}: {len(lines)} lines, {len(expected)} expected"
    print(name, len(lines), client.noop().decode(), client.quit().decode())
"#;
    let args = [
        certificate.cert.display().to_string(),
        file.display().to_string(),
        server.addr().port().to_string(),
        pop3s_addr(&server).port().to_string(),
    ];
    let output = python(script, &args);
    assert!(output.contains("pop3s 5002 +OK +OK bye, 0 messages deleted"), "{output}");
    assert!(output.contains("stls 5002 +OK +OK bye, 0 messages deleted"), "{output}");
}

/// openssl s_client's STARTTLS for POP3 works, and CAPA after the
/// handshake no longer offers STLS.
#[test]
fn openssl_s_client_starttls_pop3() {
    let certificate = TestCertificate::new();
    let server = tls_server(&certificate, "127.0.0.1", &[]);
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-starttls", "pop3", "-verify_return_error", "-CAfile"])
        .arg(&certificate.cert)
        .args(["-connect", &server.addr().to_string(), "-servername", "localhost"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"CAPA\r\nUSER alice\r\nPASS alice-pw\r\nSTAT\r\nQUIT\r\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("SASL PLAIN"), "{text}");
    assert!(!text.contains("STLS"), "STLS offered inside TLS: {text}");
    assert!(text.contains("+OK 1 29"), "{text}\n{}", String::from_utf8_lossy(&output.stderr));
}

/// CVE-2011-0411: a command sent in clear right behind STLS, in the same
/// packet, must not run inside the TLS session.
#[test]
fn commands_injected_after_stls_are_discarded() {
    let certificate = TestCertificate::new();
    let server = tls_server(&certificate, "127.0.0.1", &[]);
    let script = r#"
import socket, ssl, sys
cafile, port = sys.argv[1], int(sys.argv[2])
raw = socket.create_connection(("127.0.0.1", port), timeout=20)
file = raw.makefile("rb")
assert file.readline().startswith(b"+OK")
raw.sendall(b"STLS\r\nUSER alice\r\n")
print(file.readline().decode().strip())
context = ssl.create_default_context(cafile=cafile)
secure = context.wrap_socket(raw, server_hostname="localhost")
secure_file = secure.makefile("rb")
secure.sendall(b"PASS alice-pw\r\n")
print(secure_file.readline().decode().strip())
"#;
    let output = python(script, &[certificate.cert.display().to_string(), server.addr().port().to_string()]);
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[0], "+OK begin TLS negotiation");
    assert_eq!(lines[1], "-ERR send USER first", "the injected USER ran inside TLS");
    server.wait_for_log("discarded 12 octets sent in clear after STLS");
}

/// From an address the policy does not trust (loopback with the exemption
/// turned off), cleartext logins are refused with advice to use STLS; CAPA
/// offers neither USER nor SASL until TLS is on, then both.
#[test]
fn cleartext_logins_are_refused_where_the_policy_says() {
    let certificate = TestCertificate::new();
    let server = tls_server(&certificate, "127.0.0.2", &["--require-tls-on-loopback"]);
    let mut client = server.connect();
    assert_eq!(client.command("CAPA"), "+OK Capability list follows");
    let capabilities = client.data_lines();
    assert!(capabilities.contains(&"STLS".to_owned()), "{capabilities:?}");
    assert!(!capabilities.iter().any(|c| c == "USER" || c.starts_with("SASL")), "{capabilities:?}");
    let refusal = client.command("USER alice");
    assert!(refusal.starts_with("-ERR [AUTH] cleartext login is disabled"), "{refusal}");
    assert!(refusal.contains("STLS"), "{refusal}");
    assert!(client.command("AUTH PLAIN AGFsaWNlAGFsaWNlLXB3").starts_with("-ERR [AUTH]"));
    let script = r#"
import poplib, ssl, sys
cafile, port = sys.argv[1], int(sys.argv[2])
client = poplib.POP3("127.0.0.2", port, timeout=20)
client.stls(context=ssl.create_default_context(cafile=cafile))
capabilities = client.capa()
assert "USER" in capabilities and "SASL" in capabilities, capabilities
client.user("alice"); client.pass_("alice-pw")
print(client.stat())
"#;
    let output = python(script, &[certificate.cert.display().to_string(), server.addr().port().to_string()]);
    assert_eq!(output.trim(), "(1, 29)");
}

/// Without a certificate, STLS is refused and not offered.
#[test]
fn stls_without_a_certificate_is_refused() {
    let server = TestServer::start();
    let mut client = server.connect();
    client.command("CAPA");
    assert!(!client.data_lines().contains(&"STLS".to_owned()));
    assert!(client.command("STLS").starts_with("-ERR STLS is not available"));
    assert!(client.command("USER alice").starts_with("+OK"));
}

/// A bad certificate path stops the server at start with one line naming it.
#[test]
fn a_missing_certificate_is_a_start_up_error() {
    let exited = run_to_exit(&[
        "127.0.0.1",
        "0",
        "--mgmt-port",
        "0",
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    assert_eq!(exited.status, 1);
    let stderr = exited.stderr;
    assert!(stderr.contains("cannot read /nonexistent/cert.pem"), "{stderr}");
}

/// RFC 5034 AUTH PLAIN: listing, with and without an initial response,
/// cancelling with `*`, bad base64, and no second login.
#[test]
fn sasl_plain_logins() {
    let server = TestServer::start_with(&["-u", "alice:alice-pw"]);
    server.deliver("alice", "1700000001.a", b"x\n");
    let mut client = server.connect();
    assert_eq!(client.command("AUTH"), "+OK SASL mechanisms follow");
    assert_eq!(client.data_lines(), ["PLAIN"]);
    assert!(client.command("AUTH CRAM-MD5").starts_with("-ERR unsupported SASL mechanism"));
    assert_eq!(client.command("AUTH PLAIN"), "+ ");
    assert_eq!(client.command("*"), "-ERR authentication cancelled");
    assert_eq!(client.command("AUTH PLAIN"), "+ ");
    assert!(client.command("!!notbase64!!").starts_with("-ERR invalid base64"));
    // base64("\0alice\0wrong")
    assert!(client.command("AUTH PLAIN AGFsaWNlAHdyb25n").starts_with("-ERR [AUTH]"));
    assert_eq!(client.command("AUTH PLAIN"), "+ ");
    // base64("\0alice\0alice-pw")
    assert_eq!(client.command("AGFsaWNlAGFsaWNlLXB3"), "+OK maildrop has 1 messages (3 octets)");
    assert_eq!(client.command("AUTH PLAIN AGFsaWNlAGFsaWNlLXB3"), "-ERR already logged in");
    assert_eq!(client.command("STAT"), "+OK 1 3");
    let mut second = server.connect();
    assert!(second.command("AUTH PLAIN AGFsaWNlAGFsaWNlLXB3").starts_with("-ERR [IN-USE]"));
}

/// Over implicit TLS the greeting itself comes through TLS, and a raw
/// cleartext client gets nothing it could mistake for POP3.
#[test]
fn the_pop3s_port_speaks_tls_only() {
    let certificate = TestCertificate::new();
    let server = tls_server(&certificate, "127.0.0.1", &[]);
    let mut raw = Client::connect_raw(pop3s_addr(&server));
    raw.send("CAPA");
    let mut buffer = Vec::new();
    use std::io::Read;
    let _ = raw.reader.read_to_end(&mut buffer);
    assert!(!buffer.starts_with(b"+OK"), "cleartext POP3 on the POP3S port");
}

/// A client polling again resumes its TLS session instead of a full
/// handshake: TLS 1.3 with a session ticket, TLS 1.2 with a ticket and,
/// for a client that offers no ticket support, with a session ID. The
/// resumed session logs in and reads the mail as a fresh one would.
#[test]
fn pop3s_sessions_resume_with_tls_1_3_and_1_2() {
    let certificate = TestCertificate::new();
    let server = tls_server(&certificate, "127.0.0.1", &[]);
    let script = r#"
import socket, ssl, sys
cafile, port = sys.argv[1], int(sys.argv[2])
def poll(context, session):
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    tls = context.wrap_socket(raw, server_hostname="localhost", session=session)
    reader = tls.makefile("rb")
    assert reader.readline().startswith(b"+OK")
    for command in [b"USER alice", b"PASS alice-pw", b"STAT", b"QUIT"]:
        tls.sendall(command + b"\r\n")
        reply = reader.readline()
        assert reply.startswith(b"+OK"), reply
        if command == b"STAT":
            stat = reply.strip().decode()
    result = (tls.version(), tls.session_reused, stat)
    session = tls.session
    tls.close()
    return result, session
for version, tickets in [(ssl.TLSVersion.TLSv1_3, True), (ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_2, False)]:
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = context.maximum_version = version
    if not tickets:
        context.options |= ssl.OP_NO_TICKET
    first, session = poll(context, None)
    second, _ = poll(context, session)
    print(version.name, "tickets" if tickets else "ids", first, second, "ticket" if session.has_ticket else "no ticket")
"#;
    let args = [certificate.cert.display().to_string(), pop3s_addr(&server).port().to_string()];
    let output = python(script, &args);
    for how in ["TLSv1_3 tickets", "TLSv1_2 tickets", "TLSv1_2 ids"] {
        let protocol = if how.starts_with("TLSv1_3") { "TLSv1.3" } else { "TLSv1.2" };
        let ticket = if how.ends_with("tickets") { "ticket" } else { "no ticket" };
        let expected = format!("{how} ('{protocol}', False, '+OK 1 29') ('{protocol}', True, '+OK 1 29') {ticket}\n");
        assert!(output.contains(&expected), "{expected}:\n{output}");
    }
}
