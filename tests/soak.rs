//! The soak: minutes of mixed, partly hostile load against the real server,
//! then an audit of what it left behind.
//!
//! Hundreds of client threads log in to a few dozen Maildirs and list,
//! retrieve (checking every octet), delete and QUIT, delete and vanish,
//! vanish in the middle of a RETR, send garbage, over-long lines and
//! commands one byte at a time, and fight over the same maildrop. A ledger
//! records every message delivered and every deletion a QUIT committed;
//! clients that delete deliver as many new messages, so the load never runs
//! dry. Afterwards the test requires:
//!
//! - no `[ERROR]`, `[WARN]` or panic line in the server's log, and no client
//!   that saw a reply it should not have;
//! - every message ever delivered either on disk, once and byte for byte, or
//!   deleted by a committed QUIT, and nothing else on disk;
//! - open descriptors back to their level before the load, and RSS within
//!   [`RSS_TOLERANCE_BYTES`] of its level after a warm-up under the same load.
//!
//! It is `#[ignore]`d because it runs for minutes: `make soak`, or
//! `SOAK_SECONDS=30 cargo test --release --test soak -- --ignored --nocapture`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::TestServer;

const USERS: usize = 40;
const MESSAGES_PER_USER: usize = 6;
const DEFAULT_SECONDS: u64 = 180;
const DEFAULT_CLIENTS: usize = 300;
/// Load before the RSS baseline is taken, as a share of the measured run
/// (at least 5 s): the first sessions grow the allocator's arenas and each
/// pool thread touches its stack once, a high-water mark and not a leak.
/// A quarter of the run reaches about the same peak concurrency.
fn warm_up(seconds: u64) -> Duration {
    Duration::from_secs((seconds / 4).max(5))
}
/// How far RSS may end above the warmed-up baseline.
const RSS_TOLERANCE_BYTES: u64 = 16 << 20;
/// How long sessions get to notice their clients are gone.
const SETTLE: Duration = Duration::from_secs(30);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the test knows about one user's maildrop.
#[derive(Default)]
struct Mailbox {
    /// Every message ever delivered, by its X-Soak-Id, with its content.
    delivered: BTreeMap<String, Vec<u8>>,
    /// Messages a QUIT reported as deleted.
    committed: BTreeSet<String>,
    next_serial: usize,
}

impl Mailbox {
    fn live(&self) -> impl Iterator<Item = (&String, &Vec<u8>)> {
        self.delivered.iter().filter(|(id, _)| !self.committed.contains(*id))
    }
}

/// Everything the client threads share.
struct Soak {
    addr: SocketAddr,
    root: std::path::PathBuf,
    /// One lock per user. A client holds it from its deliveries through its
    /// QUIT reply, and a client that has just logged in takes it to compare
    /// STAT with the ledger, so the two never disagree because of a reply
    /// still in flight.
    mailboxes: Vec<Mutex<Mailbox>>,
    stop: AtomicBool,
    counters: Counters,
    failures: Mutex<Vec<String>>,
}

#[derive(Default)]
struct Counters {
    sessions: AtomicU64,
    logins: AtomicU64,
    in_use: AtomicU64,
    retrieved: AtomicU64,
    retrieved_octets: AtomicU64,
    deleted: AtomicU64,
    abandoned_deletions: AtomicU64,
    dropped_mid_retr: AtomicU64,
    garbage_sessions: AtomicU64,
    byte_at_a_time: AtomicU64,
    failed_logins: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

fn user(index: usize) -> String {
    format!("soak{index:02}")
}

fn password(index: usize) -> String {
    format!("pw-{index}-secret")
}

/// The content of message `serial` of user `index`; the shapes cycle
/// through what the encoder must handle, and every sixth one is large.
fn message(index: usize, serial: usize) -> (String, Vec<u8>) {
    let id = format!("u{index:02}-m{serial:04}");
    let mut content = format!("X-Soak-Id: {id}\n").into_bytes();
    match serial % MESSAGES_PER_USER {
        0 => content.extend_from_slice(b"Subject: plain\n\nHello.\n"),
        1 => content.extend_from_slice(b"Subject: dots\r\n\r\n.\r\n..two\r\n.three\r\nend\r\n"),
        2 => content.extend_from_slice(b"Subject: unterminated\n\nno newline at the end"),
        3 => content.extend_from_slice(b"Subject: 8bit\n\n\xe9t\xe9 \x00\xff\r\rx\n.\r"),
        4 => {
            content.extend_from_slice(b"Subject: medium\n\n");
            for line in 0..400 {
                content.extend_from_slice(format!(".line {line} of a medium message\n").as_bytes());
            }
        }
        _ => {
            content.extend_from_slice(b"Subject: large\n\n");
            for line in 0..6000 {
                content.extend_from_slice(
                    format!("line {line:05} of a large message, long enough to span chunks\n").as_bytes(),
                );
                if line % 97 == 0 {
                    content.extend_from_slice(b".\n");
                }
            }
        }
    }
    (id, content)
}

/// The lines a client sees, without line ends or byte-stuffing.
fn wire_lines(content: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = content.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.into_iter().map(|line| line.strip_suffix(b"\r").unwrap_or(line)).collect()
}

/// RFC 1939 §3 done the obvious way: CRLF lines, dot-stuffed, "." CRLF.
fn wire_body(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in wire_lines(content) {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// RFC 1939 §11: the size as sent, before byte-stuffing.
fn wire_size(content: &[u8]) -> u64 {
    wire_lines(content).iter().map(|line| line.len() as u64 + 2).sum()
}

/// The server's QUIT reply when it removed `deleted` messages.
fn bye(deleted: usize) -> String {
    format!("+OK bye, {deleted} messages deleted")
}

/// A Maildir delivery as an MDA makes it: write in tmp/, rename into new/.
fn deliver_atomically(maildir: &Path, id: &str, content: &[u8]) {
    let name = format!("1700000000.{id}.soak");
    let tmp = maildir.join("tmp").join(&name);
    fs::write(&tmp, content).unwrap();
    fs::rename(&tmp, maildir.join("new").join(&name)).unwrap();
}

/// A small deterministic generator (xorshift64*), one per client thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A client that reports trouble instead of panicking.
struct Client {
    reader: BufReader<TcpStream>,
    /// The last command sent, for failure reports (never a password).
    last: String,
}

type Outcome<T> = Result<T, String>;

fn io_failure(what: &str) -> impl Fn(io::Error) -> String + '_ {
    move |error| format!("{what}: {error}")
}

impl Client {
    fn connect(addr: SocketAddr) -> Outcome<Self> {
        let stream = TcpStream::connect(addr).map_err(io_failure("connect"))?;
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut client = Self { reader: BufReader::new(stream), last: "(greeting)".into() };
        let greeting = client.line()?;
        expect(greeting.starts_with("+OK"), || format!("greeting {greeting:?}"))?;
        Ok(client)
    }

    fn send_raw(&mut self, bytes: &[u8]) -> Outcome<()> {
        self.reader.get_mut().write_all(bytes).map_err(io_failure("write"))
    }

    fn send(&mut self, line: &str) -> Outcome<()> {
        self.last = if line.starts_with("PASS") { "PASS".into() } else { line.to_owned() };
        self.send_raw(format!("{line}\r\n").as_bytes())
    }

    fn line(&mut self) -> Outcome<String> {
        let mut bytes = Vec::new();
        self.reader
            .read_until(b'\n', &mut bytes)
            .map_err(|error| format!("read the reply to {}: {error}", self.last))?;
        if !bytes.ends_with(b"\r\n") {
            return Err(format!("reply line without CRLF: {:?}", String::from_utf8_lossy(&bytes)));
        }
        bytes.truncate(bytes.len() - 2);
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn command(&mut self, line: &str) -> Outcome<String> {
        self.send(line)?;
        self.line()
    }

    /// The raw multi-line body through its "." CRLF line.
    fn body(&mut self) -> Outcome<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let start = body.len();
            self.reader
                .read_until(b'\n', &mut body)
                .map_err(|error| format!("read the body after {}: {error}", self.last))?;
            if body.len() == start {
                return Err("connection closed inside a multi-line reply".into());
            }
            if &body[start..] == b".\r\n" {
                return Ok(body);
            }
        }
    }

    fn lines(&mut self) -> Outcome<Vec<String>> {
        let body = self.body()?;
        let text = String::from_utf8_lossy(&body[..body.len() - 3]).into_owned();
        Ok(text.lines().map(str::to_owned).collect())
    }

    /// True once the server has closed the connection.
    fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

fn expect(condition: bool, what: impl FnOnce() -> String) -> Outcome<()> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

/// How a login attempt ended.
enum Login {
    In(Client),
    InUse,
}

impl Soak {
    fn fail(&self, failure: String) {
        let mut failures = self.failures.lock().unwrap();
        if failures.len() < 50 {
            failures.push(failure);
        } else if failures.len() == 50 {
            failures.push("(more failures not shown)".into());
        }
    }

    /// Logs in as user `index` and checks STAT against the ledger.
    fn login(&self, index: usize) -> Outcome<Login> {
        let mut client = Client::connect(self.addr)?;
        let reply = client.command(&format!("USER {}", user(index)))?;
        expect(reply.starts_with("+OK"), || format!("USER: {reply}"))?;
        let reply = client.command(&format!("PASS {}", password(index)))?;
        if reply.starts_with("-ERR [IN-USE]") {
            bump(&self.counters.in_use, 1);
            let bye = client.command("QUIT")?;
            expect(bye.starts_with("+OK"), || format!("QUIT after IN-USE: {bye}"))?;
            // A real client waits a moment before it tries again.
            thread::sleep(Duration::from_millis(5));
            return Ok(Login::InUse);
        }
        expect(reply.starts_with("+OK"), || format!("PASS of {}: {reply}", user(index)))?;
        bump(&self.counters.logins, 1);
        let mailbox = self.mailboxes[index].lock().unwrap();
        let (count, octets) = mailbox.live().fold((0, 0), |(n, o), (_, c)| (n + 1, o + wire_size(c)));
        let expected = format!("+OK maildrop has {count} messages ({octets} octets)");
        expect(reply == expected, || format!("{}: login said {reply:?}, ledger says {expected:?}", user(index)))?;
        Ok(Login::In(client))
    }

    /// The X-Soak-Id of message `number`, read with TOP n 0.
    fn id_of(&self, client: &mut Client, number: usize) -> Outcome<String> {
        let reply = client.command(&format!("TOP {number} 0"))?;
        expect(reply.starts_with("+OK"), || format!("TOP {number} 0: {reply}"))?;
        let lines = client.lines()?;
        lines
            .first()
            .and_then(|l| l.strip_prefix("X-Soak-Id: "))
            .map(str::to_owned)
            .ok_or_else(|| format!("TOP {number} 0 without an id: {lines:?}"))
    }

    /// RETR `number` and compare every octet with the ledger.
    fn retrieve(&self, index: usize, client: &mut Client, number: usize) -> Outcome<()> {
        let reply = client.command(&format!("RETR {number}"))?;
        expect(reply.starts_with("+OK"), || format!("RETR {number}: {reply}"))?;
        let body = client.body()?;
        let first = body.split(|&b| b == b'\n').next().unwrap_or_default();
        let id = std::str::from_utf8(first)
            .ok()
            .and_then(|l| l.trim_end().strip_prefix("X-Soak-Id: "))
            .ok_or_else(|| format!("RETR {number} without an id"))?
            .to_owned();
        let mailbox = self.mailboxes[index].lock().unwrap();
        let content = mailbox.delivered.get(&id).ok_or_else(|| format!("RETR {number} sent unknown message {id}"))?;
        expect(!mailbox.committed.contains(&id), || format!("RETR {number} sent {id}, deleted before"))?;
        expect(reply == format!("+OK {} octets", wire_size(content)), || format!("RETR {number} of {id}: {reply}"))?;
        expect(body == wire_body(content), || format!("RETR {number} of {id}: body differs"))?;
        bump(&self.counters.retrieved, 1);
        bump(&self.counters.retrieved_octets, body.len() as u64);
        Ok(())
    }

    /// The message numbers LIST shows, with their sizes.
    fn list(&self, client: &mut Client) -> Outcome<Vec<(usize, u64)>> {
        let reply = client.command("LIST")?;
        expect(reply.starts_with("+OK"), || format!("LIST: {reply}"))?;
        client
            .lines()?
            .iter()
            .map(|line| {
                let (n, size) = line.split_once(' ').ok_or_else(|| format!("LIST line {line:?}"))?;
                Ok((
                    n.parse().map_err(|_| format!("LIST line {line:?}"))?,
                    size.parse().map_err(|_| format!("LIST line {line:?}"))?,
                ))
            })
            .collect()
    }

    fn one_session(&self, rng: &mut Rng) -> Outcome<()> {
        bump(&self.counters.sessions, 1);
        let index = rng.below(USERS);
        let (scenario, outcome) = match rng.below(100) {
            0..=29 => ("read-only", self.read_only(index, rng)),
            30..=49 => ("delete and QUIT", self.delete_and_quit(index, rng)),
            50..=59 => ("delete and vanish", self.delete_and_vanish(index, rng)),
            60..=67 => ("drop mid-RETR", self.drop_mid_retr(index)),
            68..=77 => ("garbage", self.garbage(rng)),
            78..=85 => ("byte at a time", self.byte_at_a_time(index)),
            86..=93 => ("contention", self.contention(index)),
            _ => ("wrong password", self.wrong_password(index)),
        };
        outcome.map_err(|failure| format!("{scenario} as {}: {failure}", user(index)))
    }

    /// LIST, UIDL, RETR a few (every octet checked), QUIT deleting nothing.
    fn read_only(&self, index: usize, rng: &mut Rng) -> Outcome<()> {
        let Login::In(mut client) = self.login(index)? else {
            return Ok(());
        };
        let listed = self.list(&mut client)?;
        let reply = client.command("UIDL")?;
        expect(reply.starts_with("+OK"), || format!("UIDL: {reply}"))?;
        let uids = client.lines()?;
        expect(uids.len() == listed.len(), || format!("UIDL has {} lines, LIST {}", uids.len(), listed.len()))?;
        for _ in 0..listed.len().min(1 + rng.below(3)) {
            let (number, _) = listed[rng.below(listed.len())];
            self.retrieve(index, &mut client, number)?;
        }
        let reply = client.command("QUIT")?;
        expect(reply == bye(0), || format!("read-only QUIT: {reply}"))
    }

    /// DELE one or two messages, deliver as many new ones, QUIT, and record
    /// what the QUIT committed.
    fn delete_and_quit(&self, index: usize, rng: &mut Rng) -> Outcome<()> {
        let Login::In(mut client) = self.login(index)? else {
            return Ok(());
        };
        let listed = self.list(&mut client)?;
        let mut doomed = BTreeMap::new();
        for _ in 0..listed.len().min(1 + rng.below(2)) {
            let (number, _) = listed[rng.below(listed.len())];
            if doomed.contains_key(&number) {
                continue;
            }
            let id = self.id_of(&mut client, number)?;
            if rng.below(2) == 0 {
                self.retrieve(index, &mut client, number)?;
            }
            let reply = client.command(&format!("DELE {number}"))?;
            expect(reply.starts_with("+OK"), || format!("DELE {number}: {reply}"))?;
            doomed.insert(number, id);
        }
        let mut mailbox = self.mailboxes[index].lock().unwrap();
        let maildir = self.root.join(user(index));
        for _ in 0..doomed.len() {
            let serial = mailbox.next_serial;
            mailbox.next_serial += 1;
            let (id, content) = message(index, serial);
            deliver_atomically(&maildir, &id, &content);
            mailbox.delivered.insert(id, content);
        }
        let reply = client.command("QUIT")?;
        let expected = bye(doomed.len());
        expect(reply == expected, || format!("QUIT after DELE: {reply:?}, expected {expected:?}"))?;
        for id in doomed.into_values() {
            expect(mailbox.committed.insert(id.clone()), || format!("{id} deleted twice"))?;
            bump(&self.counters.deleted, 1);
        }
        Ok(())
    }

    /// DELE, then close the connection without QUIT: nothing may go.
    fn delete_and_vanish(&self, index: usize, rng: &mut Rng) -> Outcome<()> {
        let Login::In(mut client) = self.login(index)? else {
            return Ok(());
        };
        let (count, _) = self.mailboxes[index].lock().unwrap().live().fold((0, 0), |(n, o), _| (n + 1, o));
        for number in 1..=count.min(1 + rng.below(3)) {
            let reply = client.command(&format!("DELE {number}"))?;
            expect(reply.starts_with("+OK"), || format!("DELE {number}: {reply}"))?;
            bump(&self.counters.abandoned_deletions, 1);
        }
        let _ = client.reader.get_ref().shutdown(Shutdown::Both);
        Ok(())
    }

    /// Start the RETR of the largest message and hang up after a few KiB.
    fn drop_mid_retr(&self, index: usize) -> Outcome<()> {
        let Login::In(mut client) = self.login(index)? else {
            return Ok(());
        };
        let listed = self.list(&mut client)?;
        let Some(&(number, size)) = listed.iter().max_by_key(|(_, size)| *size) else {
            return Ok(());
        };
        client.send(&format!("RETR {number}"))?;
        let reply = client.line()?;
        expect(reply.starts_with("+OK"), || format!("RETR {number}: {reply}"))?;
        let mut start = vec![0u8; (size / 2).min(4096) as usize];
        client.reader.read_exact(&mut start).map_err(io_failure("read the start of RETR"))?;
        let _ = client.reader.get_ref().shutdown(Shutdown::Both);
        bump(&self.counters.dropped_mid_retr, 1);
        Ok(())
    }

    /// Random bytes, over-long lines and bad commands, in one packet with
    /// good ones; every reply must still be a status line, and the server
    /// may hang up on a client this rude.
    fn garbage(&self, rng: &mut Rng) -> Outcome<()> {
        bump(&self.counters.garbage_sessions, 1);
        let mut client = Client::connect(self.addr)?;
        let mut packet = Vec::new();
        let mut lines = 0;
        for _ in 0..1 + rng.below(4) {
            match rng.below(4) {
                0 => packet.extend((0..rng.below(200)).map(|_| (rng.next() as u8) | 1).filter(|&b| b != b'\n')),
                1 => packet.extend(std::iter::repeat_n(b'A', 256 + rng.below(8000))),
                2 => packet.extend_from_slice(b"RETR 99999999999999999999"),
                _ => packet.extend_from_slice(b"NOOP"),
            }
            packet.extend_from_slice(b"\r\n");
            lines += 1;
        }
        packet.extend_from_slice(b"CAPA\r\n");
        if client.send_raw(&packet).is_err() {
            return Ok(()); // hung up on while we were still writing
        }
        for _ in 0..lines {
            match client.line() {
                Ok(reply) => expect(reply.starts_with("-ERR"), || format!("garbage answered {reply:?}"))?,
                Err(_) => return Ok(()), // closed for too many bad commands
            }
        }
        match client.line() {
            Ok(reply) => expect(reply.starts_with("+OK"), || format!("CAPA after garbage: {reply}"))?,
            Err(_) => return Ok(()),
        }
        client.lines()?;
        let reply = client.command("QUIT")?;
        expect(reply.starts_with("+OK"), || format!("QUIT after garbage: {reply}"))
    }

    /// A whole session typed one byte per write.
    fn byte_at_a_time(&self, index: usize) -> Outcome<()> {
        bump(&self.counters.byte_at_a_time, 1);
        let mut client = Client::connect(self.addr)?;
        let script = format!("USER {}\r\nPASS {}\r\n", user(index), password(index));
        for byte in script.as_bytes() {
            client.send_raw(std::slice::from_ref(byte))?;
        }
        let reply = client.line()?;
        expect(reply.starts_with("+OK"), || format!("byte-wise USER: {reply}"))?;
        let reply = client.line()?;
        if reply.starts_with("-ERR [IN-USE]") {
            bump(&self.counters.in_use, 1);
            return Ok(());
        }
        expect(reply.starts_with("+OK"), || format!("byte-wise PASS: {reply}"))?;
        bump(&self.counters.logins, 1);
        for byte in b"STAT\r\nQUIT\r\n" {
            client.send_raw(std::slice::from_ref(byte))?;
        }
        let stat = client.line()?;
        expect(stat.starts_with("+OK "), || format!("byte-wise STAT: {stat}"))?;
        let reply = client.line()?;
        expect(reply == bye(0), || format!("byte-wise QUIT: {reply}"))
    }

    /// While one session holds a maildrop, a second login to it must get
    /// [IN-USE]; after the first QUITs, the maildrop is free again.
    fn contention(&self, index: usize) -> Outcome<()> {
        let Login::In(mut first) = self.login(index)? else {
            return Ok(());
        };
        let mut second = Client::connect(self.addr)?;
        second.command(&format!("USER {}", user(index)))?;
        let reply = second.command(&format!("PASS {}", password(index)))?;
        expect(reply.starts_with("-ERR [IN-USE]"), || format!("second login while held: {reply}"))?;
        bump(&self.counters.in_use, 1);
        let reply = first.command("QUIT")?;
        expect(reply == bye(0), || format!("QUIT of the holder: {reply}"))?;
        let reply = second.command("QUIT")?;
        expect(reply.starts_with("+OK"), || format!("QUIT of the refused: {reply}"))
    }

    fn wrong_password(&self, index: usize) -> Outcome<()> {
        let mut client = Client::connect(self.addr)?;
        client.command(&format!("USER {}", user(index)))?;
        let reply = client.command("PASS not-the-password")?;
        expect(reply.starts_with("-ERR [AUTH]"), || format!("wrong password answered {reply:?}"))?;
        bump(&self.counters.failed_logins, 1);
        if client.send("QUIT").is_ok() {
            let _ = client.line(); // or closed after the failure
        }
        let _ = client.closed();
        Ok(())
    }
}

/// The kernel's count of connections dropped because a listen queue was
/// full (system-wide, TcpExt ListenOverflows), if it can be read.
fn listen_overflows() -> Option<u64> {
    let netstat = fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let column = names.split_whitespace().position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// (VmRSS in bytes, open descriptors) of process `pid`.
fn footprint(pid: u32) -> (u64, usize) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    (rss_kib * 1024, fds)
}

/// Waits (bounded) for the descriptor count to fall to `target`, then
/// returns the footprint.
fn settle(pid: u32, target: usize) -> (u64, usize) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let (_, fds) = footprint(pid);
        if fds <= target || Instant::now() >= deadline {
            // Let the last sessions free their buffers.
            thread::sleep(Duration::from_millis(500));
            return footprint(pid);
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Runs the load with `clients` threads until `soak.stop` is set.
fn run_clients(soak: &Arc<Soak>, clients: usize, seed: u64) -> Vec<thread::JoinHandle<()>> {
    (0..clients)
        .map(|n| {
            let soak = Arc::clone(soak);
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut rng = Rng(seed ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    while !soak.stop.load(Ordering::Relaxed) {
                        if let Err(failure) = soak.one_session(&mut rng) {
                            soak.fail(failure);
                        }
                    }
                })
                .expect("spawn a client thread")
        })
        .collect()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Mixed load for SOAK_SECONDS (default 180) with SOAK_CLIENTS (default
/// 300) client threads; see the module documentation for what is checked.
#[test]
#[ignore = "runs for minutes; use make soak"]
fn soak() {
    let seconds = env_number("SOAK_SECONDS", DEFAULT_SECONDS);
    let clients = env_number("SOAK_CLIENTS", DEFAULT_CLIENTS as u64) as usize;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail");
    let mut mailboxes = Vec::new();
    let mut args = Vec::new();
    for index in 0..USERS {
        let mut mailbox = Mailbox::default();
        for serial in 0..MESSAGES_PER_USER {
            let (id, content) = message(index, serial);
            common::deliver(&root.join(user(index)), &format!("1700000000.{id}.soak"), &content);
            mailbox.delivered.insert(id, content);
        }
        mailbox.next_serial = MESSAGES_PER_USER;
        mailboxes.push(Mutex::new(mailbox));
        args.push(format!("{}:{}", user(index), password(index)));
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_pop3d"));
    command
        .args(["127.0.0.1", "0", "-d"])
        .arg(&root)
        // A session counts against -c until its thread sees the client
        // gone, which under this churn lags the client's close by enough
        // that twice the client count is not sufficient.
        .args(["--mgmt-port", "0", "-l", "info", "-c"])
        .arg((clients * 5 + 100).to_string())
        // Wrong passwords are part of the mix; without a delay they churn
        // as fast as the rest.
        .args(["--auth-failure-delay", "0"])
        // Not the default admin:admin, which the server warns about at
        // start, and the log must stay free of warnings.
        .args(["-a", "soakadmin:soak-admin-secret"])
        .arg("-u")
        .args(&args);
    let server = TestServer::spawn(command, dir, root.clone());
    let pid = server.pid();
    let (cold_rss, start_fds) = footprint(pid);

    let soak = Arc::new(Soak {
        addr: server.addr(),
        root: root.clone(),
        mailboxes,
        stop: AtomicBool::new(false),
        counters: Counters::default(),
        failures: Mutex::new(Vec::new()),
    });

    // Warm-up, then the baseline the leak check compares against.
    let threads = run_clients(&soak, clients, 0x5eed);
    thread::sleep(warm_up(seconds));
    soak.stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());
    let (base_rss, base_fds) = settle(pid, start_fds);
    println!("soak: warm-up done, RSS {:.1} MiB (cold {:.1} MiB), {base_fds} fds", mib(base_rss), mib(cold_rss));

    soak.stop.store(false, Ordering::Relaxed);
    let overflows_before = listen_overflows();
    let started = Instant::now();
    let threads = run_clients(&soak, clients, 0xfeed);
    let (mut peak_rss, mut peak_fds) = (0, 0);
    while started.elapsed() < Duration::from_secs(seconds) {
        thread::sleep(Duration::from_secs(1));
        let (rss, fds) = footprint(pid);
        peak_rss = peak_rss.max(rss);
        peak_fds = peak_fds.max(fds);
    }
    soak.stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());
    let (end_rss, end_fds) = settle(pid, start_fds);
    let overflows = overflows_before.zip(listen_overflows()).map(|(before, after)| after - before);

    // The audit: every message ever delivered is on disk exactly once, byte
    // for byte, or was deleted by a committed QUIT; nothing else is there.
    let mut lost = Vec::new();
    let mut surplus = Vec::new();
    let mut on_disk_total = 0;
    for (index, mailbox) in soak.mailboxes.iter().enumerate() {
        let mailbox = mailbox.lock().unwrap();
        let maildir = root.join(user(index));
        let mut on_disk: BTreeMap<String, usize> = BTreeMap::new();
        for sub in ["cur", "new"] {
            for entry in fs::read_dir(maildir.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                let content = fs::read(&path).unwrap();
                let id = content
                    .split(|&b| b == b'\n')
                    .next()
                    .and_then(|line| std::str::from_utf8(line).ok())
                    .and_then(|line| line.strip_prefix("X-Soak-Id: "));
                let matching = id.filter(|id| mailbox.delivered.get(*id) == Some(&content));
                match matching {
                    Some(id) => *on_disk.entry(id.to_owned()).or_default() += 1,
                    None => surplus.push(format!("{} (unknown content)", path.display())),
                }
            }
        }
        for stray in fs::read_dir(maildir.join("tmp")).unwrap().chain(fs::read_dir(&maildir).unwrap()) {
            let path = stray.unwrap().path();
            if path.is_file() {
                surplus.push(format!("{} (stray file)", path.display()));
            }
        }
        for id in mailbox.delivered.keys() {
            let copies = on_disk.get(id).copied().unwrap_or(0);
            match (mailbox.committed.contains(id), copies) {
                (false, 1) | (true, 0) => {}
                (false, 0) => lost.push(id.clone()),
                (deleted, n) => surplus.push(format!("{id}: {n} copies, deleted={deleted}")),
            }
        }
        on_disk_total += on_disk.values().sum::<usize>();
    }

    let log = server.log_text();
    let bad_log: Vec<&str> =
        log.lines().filter(|l| l.contains("[ERROR]") || l.contains("[WARN]") || l.contains("panicked")).collect();
    let counters = &soak.counters;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let delivered: usize = soak.mailboxes.iter().map(|m| m.lock().unwrap().delivered.len()).sum();
    println!(
        "soak: {}s warm-up + {seconds}s, {clients} client threads, {USERS} users (counts include the warm-up)",
        warm_up(seconds).as_secs()
    );
    println!(
        "soak: {} sessions ({} logins, {} [IN-USE], {} failed logins, {} garbage, {} byte-at-a-time, {} dropped mid-RETR)",
        load(&counters.sessions),
        load(&counters.logins),
        load(&counters.in_use),
        load(&counters.failed_logins),
        load(&counters.garbage_sessions),
        load(&counters.byte_at_a_time),
        load(&counters.dropped_mid_retr),
    );
    println!(
        "soak: {} messages retrieved and verified ({:.1} MiB), {} deleted by QUIT, {} deletions abandoned without QUIT",
        load(&counters.retrieved),
        mib(load(&counters.retrieved_octets)),
        load(&counters.deleted),
        load(&counters.abandoned_deletions),
    );
    println!(
        "soak: {delivered} messages delivered in all, {on_disk_total} on disk, {} lost, {} surplus",
        lost.len(),
        surplus.len()
    );
    println!(
        "soak: RSS {:.1} MiB after warm-up, {:.1} MiB peak, {:.1} MiB after (tolerance +{:.0} MiB)",
        mib(base_rss),
        mib(peak_rss),
        mib(end_rss),
        mib(RSS_TOLERANCE_BYTES)
    );
    println!("soak: open fds {start_fds} at start, {peak_fds} peak, {end_fds} after");
    match overflows {
        Some(n) => {
            println!("soak: {n} connections dropped by a full listen queue (system-wide count)")
        }
        None => println!("soak: listen queue overflows unknown (no /proc/net/netstat)"),
    }
    println!(
        "soak: {} client failures, {} server log lines at WARN/ERROR or panics",
        soak.failures.lock().unwrap().len(),
        bad_log.len()
    );

    let failures = soak.failures.lock().unwrap();
    assert!(failures.is_empty(), "clients saw unexpected replies:\n{}", failures.join("\n"));
    assert!(bad_log.is_empty(), "the server logged trouble:\n{}", bad_log.join("\n"));
    assert!(lost.is_empty(), "lost messages: {lost:?}");
    assert!(surplus.is_empty(), "unexpected files or copies: {surplus:?}");
    assert!(load(&counters.retrieved) > 0 && load(&counters.deleted) > 0, "the load did no real work");
    assert!(end_fds <= start_fds, "descriptors leaked: {start_fds} at start, {end_fds} after");
    assert!(
        end_rss <= base_rss + RSS_TOLERANCE_BYTES,
        "RSS grew from {:.1} MiB to {:.1} MiB",
        mib(base_rss),
        mib(end_rss)
    );
}
