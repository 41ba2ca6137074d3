//! Real POP3 clients against the real server: curl's `pop3://` support and
//! Python's poplib list, fetch and delete mail and get exactly the bytes of
//! the Maildir files. A missing client fails the test; it is never skipped.

mod common;

use std::process::{Command, Output, Stdio};

use common::{files_in_cur, TestServer};

/// Messages with the usual traps: a dot line, a first line starting with a
/// dot, CRLF and LF mixed, 8-bit bytes, no final newline.
const MESSAGES: &[(&str, &[u8])] = &[
    ("1700000001.M1P1.clients", b"From: a@example.org\nSubject: one\n\nHello.\n.\n..two dots\nend\n"),
    ("1700000002.M2P1.clients", b".first line dot\r\nSubject: two\r\n\r\ncaf\xc3\xa9 \xff\r\n"),
    ("1700000003.M3P1.clients", b"Subject: three\n\nno final newline"),
];

/// The CRLF form RETR sends before byte-stuffing (and clients un-stuff to).
fn crlf_form(file: &[u8]) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = file.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.iter().flat_map(|line| [line.strip_suffix(b"\r").unwrap_or(line), b"\r\n"].concat()).collect()
}

fn server_with_messages() -> TestServer {
    let server = TestServer::start();
    for (name, content) in MESSAGES {
        server.deliver("alice", name, content);
    }
    server
}

/// Runs `program` with `args` (and `stdin`), failing clearly if it is not
/// installed, and killing it if it runs past PATIENCE.
fn run(program: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): install it (.ci/run does) to run the client tests"));
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin).unwrap();
    }
    common::wait_bounded(child, &format!("{program} {args:?}"))
}

fn curl(args: &[&str]) -> Vec<u8> {
    let mut all = vec!["--silent", "--show-error", "--max-time", "20"];
    all.extend_from_slice(args);
    let output = run("curl", &all, b"");
    assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// curl lists the maildrop (LIST), fetches each message byte for byte,
/// runs UIDL, and deletes a message with DELE, which QUIT commits.
#[test]
fn curl_lists_fetches_and_deletes() {
    let server = server_with_messages();
    let base = format!("pop3://alice:alice-pw@{}", server.addr());

    let listing = String::from_utf8(curl(&[&format!("{base}/")])).unwrap();
    let expected: String = MESSAGES
        .iter()
        .enumerate()
        .map(|(i, (_, content))| format!("{} {}\r\n", i + 1, crlf_form(content).len()))
        .collect();
    assert_eq!(listing, expected);

    for (index, (name, content)) in MESSAGES.iter().enumerate() {
        let fetched = curl(&[&format!("{base}/{}", index + 1)]);
        assert_eq!(fetched, crlf_form(content), "{name}");
    }

    let uidl = String::from_utf8(curl(&["--request", "UIDL", &format!("{base}/")])).unwrap();
    let expected_uidls: String =
        server.uidl_listing("alice", "alice-pw").iter().map(|line| format!("{line}\r\n")).collect();
    assert_eq!(uidl, expected_uidls);

    curl(&["--request", "DELE", "--list-only", &format!("{base}/2")]);
    server.wait_for_log("deleted=1");
    let left = files_in_cur(&server.maildir("alice"));
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|name| !name.starts_with(MESSAGES[1].0)), "message 2 was deleted: {left:?}");

    let output = run("curl", &["--silent", "--max-time", "20", &format!("pop3://alice:wrong@{}/", server.addr())], b"");
    assert!(!output.status.success(), "curl with a wrong password fails");
}

/// A small poplib script: prints what the server said, one item a line,
/// message bytes in hex, then deletes message 1 and quits.
const POPLIB_SCRIPT: &str = r#"
import poplib, sys
host, port = sys.argv[1], int(sys.argv[2])
pop = poplib.POP3(host, port, timeout=20)
print("CAPA", " ".join(sorted(pop.capa().keys())))
pop.user("alice")
pop.pass_("alice-pw")
count, size = pop.stat()
print("STAT", count, size)
for entry in pop.list()[1]:
    print("LIST", entry.decode())
for entry in pop.uidl()[1]:
    print("UIDL", entry.decode())
for number in range(1, count + 1):
    response, lines, octets = pop.retr(number)
    print("RETR", number, octets, b"".join(line + b"\r\n" for line in lines).hex())
    response, lines, octets = pop.top(number, 0)
    print("TOP", number, b"".join(line + b"\r\n" for line in lines).hex())
pop.dele(1)
print("QUIT", pop.quit().decode())
"#;

/// Python's poplib: CAPA, STAT, LIST, UIDL, RETR and TOP of every message
/// match the files, and DELE then QUIT removes exactly message 1.
#[test]
fn python_poplib_reads_and_deletes() {
    let server = server_with_messages();
    let expected_uidls = server.uidl_listing("alice", "alice-pw");
    let addr = server.addr();
    let output = run("python3", &["-", &addr.ip().to_string(), &addr.port().to_string()], POPLIB_SCRIPT.as_bytes());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "poplib script failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));

    let said = |kind: &str| -> Vec<String> {
        stdout.lines().filter_map(|l| l.strip_prefix(kind).map(|rest| rest.trim_start().to_owned())).collect()
    };
    let sizes: Vec<usize> = MESSAGES.iter().map(|(_, content)| crlf_form(content).len()).collect();
    let capa = said("CAPA ");
    for capability in ["TOP", "UIDL", "USER", "PIPELINING", "RESP-CODES"] {
        assert!(capa[0].split(' ').any(|c| c == capability), "CAPA {capability}: {capa:?}");
    }
    assert_eq!(said("STAT "), [format!("{} {}", MESSAGES.len(), sizes.iter().sum::<usize>())]);
    let lists: Vec<String> = sizes.iter().enumerate().map(|(i, size)| format!("{} {size}", i + 1)).collect();
    assert_eq!(said("LIST "), lists);
    assert_eq!(said("UIDL "), expected_uidls);
    let retrs = said("RETR ");
    let tops = said("TOP ");
    assert_eq!(retrs.len(), MESSAGES.len());
    for (index, (name, content)) in MESSAGES.iter().enumerate() {
        let crlf = crlf_form(content);
        let fields: Vec<&str> = retrs[index].split(' ').collect();
        assert_eq!(fields[..2], [(index + 1).to_string(), crlf.len().to_string()], "{name}: poplib's octets");
        assert_eq!(fields.get(2).copied().unwrap_or(""), hex(&crlf), "{name}: RETR bytes");
        let header_end = crlf.windows(4).position(|w| w == b"\r\n\r\n").map_or(crlf.len(), |i| i + 4);
        let top = tops[index].split(' ').nth(1).unwrap_or("");
        assert_eq!(top, hex(&crlf[..header_end]), "{name}: TOP 0 bytes");
    }
    assert!(said("QUIT ")[0].starts_with("+OK"), "{stdout}");
    let left = files_in_cur(&server.maildir("alice"));
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|name| !name.starts_with(MESSAGES[0].0)), "message 1 was deleted: {left:?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
