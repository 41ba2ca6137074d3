//! Hostile and unusual input: pipelined commands (errors included) are
//! answered in order, input one byte at a time works, over-long lines get
//! `-ERR` and the session goes on, and megabytes without a newline neither
//! kill the server nor make it hold them.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{files_in_cur, Client, TestServer};

const MESSAGE: &[u8] = b"Subject: pipelined\n\n.dot\nbody\n";

fn server_with_one_message() -> TestServer {
    let server = TestServer::start();
    server.deliver("alice", "1700000001.M1P1.test", MESSAGE);
    server
}

/// The server's resident memory in KiB, from /proc.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A whole session in one write, with errors in the middle, is answered
/// command by command in order, and the commands after QUIT are not run.
#[test]
fn pipelined_commands_are_answered_in_order_after_errors() {
    let server = server_with_one_message();
    let mut client = server.connect();
    client.send_raw(
        b"CAPA\r\nSTAT\r\nUSER alice\r\nPASS alice-pw\r\nBOGUS\r\nRETR 9\r\nLIST 1\r\nRETR 1\r\n\
          TOP 1 0\r\nRETR 0\r\nUIDL\r\nDELE 1\r\nDELE 1\r\nSTAT\r\nQUIT\r\nRSET\r\nSTAT\r\n",
    );
    assert!(client.line().starts_with("+OK"), "CAPA");
    assert!(client.data_lines().contains(&"PIPELINING".to_owned()));
    assert!(client.line().starts_with("-ERR"), "STAT before login");
    assert!(client.line().starts_with("+OK"), "USER");
    assert!(client.line().starts_with("+OK"), "PASS");
    assert!(client.line().starts_with("-ERR"), "BOGUS");
    assert!(client.line().starts_with("-ERR"), "RETR 9");
    assert_eq!(client.line(), "+OK 1 34", "LIST 1");
    assert_eq!(client.line(), "+OK 34 octets", "RETR 1");
    assert_eq!(client.raw_body(), b"Subject: pipelined\r\n\r\n..dot\r\nbody\r\n.\r\n");
    assert!(client.line().starts_with("+OK"), "TOP 1 0");
    assert_eq!(client.raw_body(), b"Subject: pipelined\r\n\r\n.\r\n");
    assert!(client.line().starts_with("-ERR"), "RETR 0");
    assert!(client.line().starts_with("+OK"), "UIDL");
    assert_eq!(client.data_lines().len(), 1);
    assert!(client.line().starts_with("+OK"), "DELE 1");
    assert!(client.line().starts_with("-ERR"), "DELE 1 again");
    assert_eq!(client.line(), "+OK 0 0", "STAT");
    assert!(client.line().starts_with("+OK"), "QUIT");
    assert!(client.is_closed(), "nothing after QUIT is answered");
    assert!(files_in_cur(&server.maildir("alice")).is_empty(), "QUIT committed, the RSET after it never ran");
}

/// A thousand commands in one write, a third of them errors, get a
/// thousand replies in order.
#[test]
fn a_thousand_pipelined_commands_get_a_thousand_replies() {
    let server = server_with_one_message();
    let mut client = server.login("alice", "alice-pw");
    let commands: Vec<&str> = (0..1000).map(|i| ["NOOP", "LIST 2", "LIST 1"][i % 3]).collect();
    let mut burst = commands.join("\r\n");
    burst.push_str("\r\n");
    client.send_raw(burst.as_bytes());
    for (index, command) in commands.iter().enumerate() {
        let reply = client.line();
        let expected = match *command {
            "NOOP" => "+OK",
            "LIST 2" => "-ERR",
            _ => "+OK 1 34",
        };
        assert!(reply.starts_with(expected), "reply {index} to {command}: {reply}");
    }
    assert_eq!(client.command("STAT"), "+OK 1 34");
}

/// Commands sent one byte per write, with pauses, work like whole lines.
#[test]
fn input_one_byte_at_a_time_works() {
    let server = server_with_one_message();
    let mut client = server.connect();
    client.stream().set_nodelay(true).unwrap();
    let send_slowly = |client: &mut Client, text: &[u8]| {
        for byte in text {
            client.send_raw(std::slice::from_ref(byte));
            client.reader.get_mut().flush().unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    send_slowly(&mut client, b"USER alice\r\nPASS alice-pw\r\n");
    assert!(client.line().starts_with("+OK"));
    assert!(client.line().starts_with("+OK"));
    send_slowly(&mut client, b"STAT\r\n");
    assert_eq!(client.line(), "+OK 1 34");
    send_slowly(&mut client, b"RETR 1\r\n");
    assert_eq!(client.line(), "+OK 34 octets");
    assert_eq!(client.raw_body(), b"Subject: pipelined\r\n\r\n..dot\r\nbody\r\n.\r\n");
    send_slowly(&mut client, b"QUIT\r\n");
    assert!(client.line().starts_with("+OK"));
}

/// Lines ending in a bare LF are accepted as commands.
#[test]
fn bare_lf_line_ends_are_accepted() {
    let server = server_with_one_message();
    let mut client = server.connect();
    client.send_raw(b"USER alice\nPASS alice-pw\nSTAT\n");
    assert!(client.line().starts_with("+OK"));
    assert!(client.line().starts_with("+OK"));
    assert_eq!(client.line(), "+OK 1 34");
}

/// RFC 2449 §4: a command line may be 255 octets with its CRLF. One of
/// exactly 255 is served; one of 256 gets `-ERR` (a bare LF counts as CRLF),
/// in both states, and the session goes on, also when the next command
/// follows in the same write.
#[test]
fn lines_over_255_octets_get_err_and_the_session_goes_on() {
    let server = server_with_one_message();
    let mut client = server.connect();
    let long_user = format!("USER {}", "a".repeat(300));
    assert!(client.command(&long_user).starts_with("-ERR"));
    assert!(client.command("USER alice").starts_with("+OK"));
    assert!(client.command("PASS alice-pw").starts_with("+OK"));
    // "LIST " and a 1 padded with zeros to exactly 253 octets, then CRLF.
    let at_limit = format!("LIST {:0>248}", 1);
    assert_eq!(at_limit.len() + 2, 255);
    assert_eq!(client.command(&at_limit), "+OK 1 34", "255 octets with CRLF are a legal line");
    let over = format!("LIST {:0>249}", 1);
    let reply = client.command(&over);
    assert!(reply.starts_with("-ERR"), "256 octets: {reply}");
    client.send_raw(format!("LIST {:0>249}\n", 1).as_bytes());
    assert!(client.line().starts_with("-ERR"), "255 octets with a bare LF count as 256");
    client.send_raw(format!("{}\r\nSTAT\r\n", "X".repeat(1000)).as_bytes());
    assert!(client.line().starts_with("-ERR"));
    assert_eq!(client.line(), "+OK 1 34", "the command after a long line in the same write is served");
}

/// Bytes that are not text (invalid UTF-8, NUL, other controls) in a command
/// get `-ERR` and the session goes on. A user name or password that is not
/// UTF-8 is refused as a wrong one, with `[AUTH]`.
#[test]
fn binary_garbage_gets_err_and_the_session_goes_on() {
    let server = server_with_one_message();
    let mut client = server.connect();
    for garbage in [&b"\xff\xfe\xfd\r\n"[..], b"US\0ER alice\r\n", b"\x1b[2J\r\n", b"\0\r\n"] {
        client.send_raw(garbage);
        let reply = client.line();
        assert!(reply.starts_with("-ERR"), "{garbage:?}: {reply}");
    }
    client.send_raw(b"USER \xc3\x28\r\n");
    assert_eq!(client.line(), "-ERR [AUTH] invalid user name");
    assert!(client.command("USER alice").starts_with("+OK"));
    client.send_raw(b"PASS alice-pw\xff\r\n");
    assert_eq!(client.line(), "-ERR [AUTH] invalid user name or password", "a password with a bad byte is wrong");
    assert_eq!(client.command("PASS alice-pw"), "-ERR send USER first", "and USER starts again");
    assert!(client.command("USER alice").starts_with("+OK"));
    assert!(client.command("PASS alice-pw").starts_with("+OK"));
}

/// Sixty-four megabytes without a newline get one `-ERR` once the line ends,
/// the session goes on, other clients are served meanwhile, and the server
/// does not grow by anything like the size of the line.
#[test]
fn megabytes_without_newline_do_not_hurt_the_server() {
    const FLOOD: usize = 64 << 20;
    let server = server_with_one_message();
    // One full session first, so that its thread and buffers already exist.
    let mut warm_up = server.login("alice", "alice-pw");
    assert!(warm_up.command("QUIT").starts_with("+OK"));
    assert!(warm_up.is_closed());
    server.wait_for_closed_sessions(1);
    let before = resident_kib(server.pid());

    let mut flooder = server.connect();
    let chunk = vec![b'A'; 1 << 20];
    for _ in 0..FLOOD / chunk.len() {
        flooder.send_raw(&chunk);
    }
    let during = resident_kib(server.pid());
    let mut other = server.login("bob", "bob-pw");
    assert_eq!(other.command("STAT"), "+OK 0 0", "another client is served during the flood");
    flooder.send_raw(b"\r\nCAPA\r\n");
    assert!(flooder.line().starts_with("-ERR"), "the flood line is refused");
    assert!(flooder.line().starts_with("+OK"), "the session goes on");
    flooder.data_lines();
    let grown = during.max(resident_kib(server.pid())).saturating_sub(before);
    assert!(grown < 16 * 1024, "the server grew by {grown} KiB while reading a {} MiB line", FLOOD >> 20);

    // A flood that ends with the client going away leaves the server up.
    let mut quitter = server.connect();
    quitter.send_raw(&chunk);
    drop(quitter);
    let mut client = server.login("alice", "alice-pw");
    assert_eq!(client.command("STAT"), "+OK 1 34");
}
