//! Message sizes and message bytes on tricky files: the size in STAT, LIST
//! and `+OK n octets` equals the octets RETR sends before byte-stuffing, and
//! RETR and TOP send exactly the CRLF, byte-stuffed form of the file.

mod common;

use common::{Client, TestServer};

/// Files that trip up line handling, each with a name saying why.
fn tricky_files() -> Vec<(&'static str, Vec<u8>)> {
    let mut files: Vec<(&'static str, Vec<u8>)> = vec![
        ("lf-only", b"Subject: lf\n\nline one\nline two\n".to_vec()),
        ("crlf", b"Subject: crlf\r\n\r\nline one\r\nline two\r\n".to_vec()),
        ("mixed", b"Subject: mixed\r\n\nlf line\ncrlf line\r\nlast lf\n".to_vec()),
        ("dot-lines", b"Subject: dots\n\n.\nbetween\n.\n..\n.x\n".to_vec()),
        ("first-line-dot", b".starts with a dot\nSubject: odd\n\nbody\n".to_vec()),
        ("only-a-dot", b".\n".to_vec()),
        ("no-final-newline", b"Subject: unterminated\n\nno newline at the end".to_vec()),
        ("no-final-newline-dot", b"Subject: x\n\n.".to_vec()),
        ("empty-body", b"Subject: empty body\n\n".to_vec()),
        ("headers-only", b"Subject: no blank line\n".to_vec()),
        ("empty-file", Vec::new()),
        ("blank-lines", b"\n\n\n".to_vec()),
        ("eight-bit", b"Subject: =?utf-8?q?caf=C3=A9?=\n\ncaf\xc3\xa9 \xff\xfe\x80 na\xefve\n".to_vec()),
        ("nul-bytes", b"Subject: nul\n\na\0b\n\0\n\0".to_vec()),
        ("lone-cr", b"Subject: cr\n\na\rb\n\r\r\nend\r".to_vec()),
    ];
    // Long enough to span many read buffers, with CRLFs and dot lines
    // falling on every buffer boundary the server might use.
    let mut long = b"Subject: long\n\n".to_vec();
    for i in 0..3000 {
        match i % 5 {
            0 => long.extend_from_slice(format!(".dot line {i}\n").as_bytes()),
            1 => long.extend_from_slice(format!("crlf line {i}\r\n").as_bytes()),
            2 => long.extend_from_slice(b".\r\n"),
            3 => long.extend_from_slice(format!("cr in {i}\rline\n").as_bytes()),
            _ => long.extend_from_slice(format!("{}\n", "x".repeat(i % 97)).as_bytes()),
        }
    }
    files.push(("long-mixed", long));
    files
}

/// The plain reference for what RETR sends before byte-stuffing: split at
/// LF, drop one CR before each LF, end every line with CRLF (a file without
/// a final newline gets one; a CR at the very end counts as a line end).
fn crlf_form(file: &[u8]) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = file.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// RFC 1939 §3 byte-stuffing plus the closing "." line.
fn stuffed(crlf: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in crlf.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Undoes byte-stuffing of a raw multi-line body and drops its "." line.
fn unstuffed(body: &[u8]) -> Vec<u8> {
    let body = body.strip_suffix(b".\r\n").expect("body ends with .CRLF");
    let mut out = Vec::new();
    for line in body.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

/// Delivers every tricky file to alice, numbered in this order.
fn deliver_all(server: &TestServer, files: &[(&str, Vec<u8>)]) {
    for (index, (name, content)) in files.iter().enumerate() {
        server.deliver("alice", &format!("{}.M{index}P1.{name}", 1_700_000_000 + index), content);
    }
}

/// Checks STAT, LIST, LIST n, RETR and its exact bytes for every file.
fn check_sizes_and_bytes(client: &mut Client, files: &[(&str, Vec<u8>)]) {
    let total: usize = files.iter().map(|(_, content)| crlf_form(content).len()).sum();
    assert_eq!(client.command("STAT"), format!("+OK {} {total}", files.len()));
    assert!(client.command("LIST").starts_with("+OK"));
    let listing = client.data_lines();
    assert_eq!(listing.len(), files.len());
    for (index, (name, content)) in files.iter().enumerate() {
        let number = index + 1;
        let crlf = crlf_form(content);
        assert_eq!(listing[index], format!("{number} {}", crlf.len()), "{name}: LIST");
        assert_eq!(client.command(&format!("LIST {number}")), format!("+OK {number} {}", crlf.len()), "{name}");
        assert_eq!(client.command(&format!("RETR {number}")), format!("+OK {} octets", crlf.len()), "{name}: RETR");
        let body = client.raw_body();
        assert_eq!(unstuffed(&body).len(), crlf.len(), "{name}: RETR octets before stuffing match the size");
        assert_eq!(body, stuffed(&crlf), "{name}: RETR bytes");
    }
}

/// For every tricky file, the sizes in STAT, LIST and RETR's `+OK n octets`
/// equal the octets RETR sends before byte-stuffing, and RETR sends the
/// file with CRLF line ends, stuffed, with no extra blank line, both at the
/// login that moves the mail to cur/ and at a later one.
#[test]
fn sizes_equal_retr_octets_on_tricky_files() {
    let server = TestServer::start();
    let files = tricky_files();
    deliver_all(&server, &files);
    for login in ["first login", "second login"] {
        let mut client = server.login("alice", "alice-pw");
        check_sizes_and_bytes(&mut client, &files);
        assert!(client.command("QUIT").starts_with("+OK"), "{login}");
        assert!(client.is_closed());
    }
}

/// The same holds when the server reads messages in tiny pieces, so every
/// CR, LF and leading dot falls on a read boundary somewhere.
#[test]
fn sizes_and_bytes_do_not_depend_on_the_read_buffer() {
    let files: Vec<_> = tricky_files().into_iter().filter(|(name, _)| *name != "long-mixed").collect();
    for buffer in ["1", "2", "3", "7"] {
        let server = TestServer::start_with_env(&[("POP3D_RETR_BUFFER", buffer)], &["-u", "alice:alice-pw"]);
        deliver_all(&server, &files);
        let mut client = server.login("alice", "alice-pw");
        check_sizes_and_bytes(&mut client, &files);
    }
}

/// TOP n 0 sends exactly the headers and the blank line (or the whole
/// message when it has no blank line), TOP n m adds m body lines, all in
/// CRLF form, stuffed, with no extra blank line.
#[test]
fn top_sends_the_crlf_form_of_headers_and_lines() {
    let server = TestServer::start();
    let files = tricky_files();
    deliver_all(&server, &files);
    let mut client = server.login("alice", "alice-pw");
    for (index, (name, content)) in files.iter().enumerate() {
        let crlf = crlf_form(content);
        let lines: Vec<&[u8]> = crlf.split_inclusive(|&b| b == b'\n').collect();
        let header_lines = lines.iter().position(|l| *l == b"\r\n").map_or(lines.len(), |blank| blank + 1);
        for body_lines in [0, 1, 2, 5, 100_000] {
            let wanted = (header_lines + body_lines).min(lines.len());
            let expected: Vec<u8> = lines[..wanted].concat();
            assert!(client.command(&format!("TOP {} {body_lines}", index + 1)).starts_with("+OK"), "{name}");
            assert_eq!(client.raw_body(), stuffed(&expected), "{name}: TOP {body_lines}");
        }
    }
}

/// A message of a few megabytes with bare LFs is sized exactly and streamed
/// in full, and the session goes on after it.
#[test]
fn a_large_message_is_sized_and_sent_exactly() {
    let server = TestServer::start();
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n";
    let content: Vec<u8> = line.iter().copied().cycle().take(line.len() * 60_000).collect();
    server.deliver("alice", "1700000000.M1P1.large", &content);
    let mut client = server.login("alice", "alice-pw");
    let size = content.len() + 60_000;
    assert_eq!(client.command("LIST 1"), format!("+OK 1 {size}"));
    assert_eq!(client.command("RETR 1"), format!("+OK {size} octets"));
    let body = client.raw_body();
    assert_eq!(body.len(), size + 3);
    assert_eq!(body, stuffed(&crlf_form(&content)));
    assert!(client.command("NOOP").starts_with("+OK"), "the session goes on after a large RETR");
}
