//! The measurements, each against one running server.
//!
//! Every scenario logs in with the [`Client`], checks every reply, and
//! returns plain numbers; a protocol error aborts the whole benchmark.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{Client, Endpoint, Negotiated, Result};
use crate::data::{DataSet, PASSWORD, SMALL_PER_USER};
use crate::servers::Server;

pub const MB: f64 = 1e6;

/// Row 1: one client retrieves the 1 GiB message.
pub struct BigRetr {
    pub seconds: f64,
    pub megabytes_per_second: f64,
    pub cpu_seconds_per_gb: f64,
}

pub fn retr_big(server: &Server, endpoint: &Endpoint) -> Result<BigRetr> {
    let mut client = endpoint.connect()?;
    client.login("big", PASSWORD)?;
    let size = client.list_one(1)?;
    let cpu = server.cpu_seconds();
    let started = Instant::now();
    client.retr(1, size)?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds() - cpu;
    client.quit()?;
    Ok(BigRetr {
        seconds,
        megabytes_per_second: size as f64 / MB / seconds,
        cpu_seconds_per_gb: cpu / (size as f64 / 1e9),
    })
}

/// Row 2: `clients` clients each retrieve a large message at once.
pub struct Concurrent {
    /// Mean time one client's RETR took.
    pub seconds_per_client: f64,
    pub aggregate_megabytes_per_second: f64,
}

pub fn concurrent_downloads(endpoint: &Endpoint, clients: usize) -> Result<Concurrent> {
    let start = Arc::new(Barrier::new(clients + 1));
    let workers: Vec<_> = (0..clients)
        .map(|index| {
            let start = Arc::clone(&start);
            let endpoint = endpoint.clone();
            thread::spawn(move || -> Result<(f64, u64)> {
                let mut client = endpoint.connect()?;
                client.login(&DataSet::downloader(index), PASSWORD)?;
                let size = client.list_one(1)?;
                start.wait();
                let started = Instant::now();
                client.retr(1, size)?;
                let seconds = started.elapsed().as_secs_f64();
                client.quit()?;
                Ok((seconds, size))
            })
        })
        .collect();
    start.wait();
    let started = Instant::now();
    let mut results = Vec::new();
    for worker in workers {
        results.push(worker.join().expect("download thread panicked")?);
    }
    let wall = started.elapsed().as_secs_f64();
    let octets: u64 = results.iter().map(|(_, size)| size).sum();
    Ok(Concurrent {
        seconds_per_client: results.iter().map(|(seconds, _)| seconds).sum::<f64>() / clients as f64,
        aggregate_megabytes_per_second: octets as f64 / MB / wall,
    })
}

/// Row 4: full sessions per second with `clients` concurrent clients.
pub struct Sessions {
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Server CPU seconds per session, over the whole row.
    pub cpu_ms: f64,
    /// Over TLS: what the first handshake agreed on, and the share of
    /// sessions whose handshake resumed an earlier TLS session.
    pub tls: Option<(Negotiated, f64)>,
}

/// Whose maildrops a sessions row reads: client `i` logs in as `user(i)`,
/// whose maildrop holds `messages` messages.
#[derive(Clone, Copy)]
pub struct Maildrops {
    pub user: fn(usize) -> String,
    pub messages: u64,
}

impl Maildrops {
    /// The 5-message maildrops of the small users.
    pub fn small() -> Self {
        Self { user: DataSet::small_user, messages: SMALL_PER_USER as u64 }
    }
}

pub fn sessions(
    server: &Server,
    endpoint: &Endpoint,
    maildrops: Maildrops,
    clients: usize,
    duration: Duration,
) -> Result<Sessions> {
    let start = Arc::new(Barrier::new(clients + 1));
    let workers: Vec<_> = (0..clients)
        .map(|index| {
            let start = Arc::clone(&start);
            let endpoint = endpoint.clone();
            thread::spawn(move || -> Result<(Vec<f64>, usize, Option<Negotiated>)> {
                let user = (maildrops.user)(index);
                // One untimed session first: each server has then seen every
                // maildrop once (Dovecot builds its index on the first).
                one_session(&endpoint, &user, maildrops.messages)?;
                start.wait();
                let deadline = Instant::now() + duration;
                let (mut latencies, mut resumed, mut first) = (Vec::new(), 0, None);
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let negotiated = one_session(&endpoint, &user, maildrops.messages)?;
                    latencies.push(started.elapsed().as_secs_f64());
                    if let Some(negotiated) = negotiated {
                        resumed += usize::from(negotiated.resumed);
                        first.get_or_insert(negotiated);
                    }
                }
                Ok((latencies, resumed, first))
            })
        })
        .collect();
    start.wait();
    let cpu = server.cpu_seconds();
    let started = Instant::now();
    let (mut latencies, mut resumed, mut first) = (Vec::new(), 0, None);
    for worker in workers {
        let (times, resumed_here, negotiated) = worker.join().expect("session thread panicked")?;
        latencies.extend(times);
        resumed += resumed_here;
        if first.is_none() {
            first = negotiated;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds() - cpu;
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize] * 1000.0;
    let count = latencies.len() as f64;
    Ok(Sessions {
        per_second: count / wall,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        cpu_ms: cpu * 1000.0 / count,
        tls: first.map(|negotiated| (negotiated, resumed as f64 / count)),
    })
}

/// connect, USER, PASS, STAT, LIST, UIDL, RETR 1, QUIT; returns what TLS
/// agreed on, if used.
fn one_session(endpoint: &Endpoint, user: &str, messages: u64) -> Result<Option<Negotiated>> {
    let mut client = endpoint.connect()?;
    let negotiated = client.negotiated();
    client.login(user, PASSWORD)?;
    let (count, octets) = client.stat()?;
    let listing = client.list()?;
    let listed: u64 = listing.iter().map(|(_, size)| size).sum();
    if count != messages || listing.len() as u64 != count || listed != octets {
        return Err(crate::client::Error::Protocol(format!("{user}: STAT {count} {octets} disagrees with LIST")));
    }
    if client.uidl()? != listing.len() {
        return Err(crate::client::Error::Protocol(format!("{user}: UIDL and LIST disagree")));
    }
    client.retr(1, listing[0].1)?;
    client.quit()?;
    Ok(negotiated)
}

/// Row 5: RSS while `count` connections are held open, logged in or not.
pub struct Idle {
    pub base_rss: u64,
    pub held_rss: u64,
    pub processes: usize,
}

/// `logged_in` says whose maildrops the sessions log in to, if any.
pub fn idle(server: &Server, count: usize, logged_in: Option<Maildrops>) -> Result<Idle> {
    settle();
    let base_rss = server.rss_bytes();
    let mut held = Vec::with_capacity(count);
    for index in 0..count {
        let mut client = Client::connect(server.addr)?;
        if let Some(maildrops) = logged_in {
            client.login(&(maildrops.user)(index), PASSWORD)?;
            if client.stat()?.0 != maildrops.messages {
                return Err(crate::client::Error::Protocol("idle: STAT counts the wrong messages".to_owned()));
            }
        }
        held.push(client);
    }
    // Let the server finish any lazy work before it is measured.
    thread::sleep(Duration::from_millis(500));
    let idle = Idle { base_rss, held_rss: server.rss_bytes(), processes: server.processes() };
    // Every held connection must still answer.
    for client in &mut held {
        if logged_in.is_some() {
            client.command("NOOP")?;
        }
    }
    drop(held);
    Ok(idle)
}

/// Lets sessions closed by the previous scenario end on the server side.
pub fn settle() {
    thread::sleep(Duration::from_millis(700));
}

/// Row 6: `count` copies of `command` in one write; all replies read.
pub fn pipelined(server: &Server, command: &str, count: usize) -> Result<f64> {
    let mut client = Client::connect(server.addr)?;
    client.login(&DataSet::small_user(0), PASSWORD)?;
    let burst = format!("{command}\r\n").repeat(count);
    let multi_line = command == "LIST";
    let started = Instant::now();
    client.send(burst.as_bytes())?;
    for _ in 0..count {
        client.status(command)?;
        if multi_line && client.data_lines(command)?.len() != SMALL_PER_USER {
            return Err(crate::client::Error::Protocol(format!("{command}: wrong number of lines")));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    client.quit()?;
    Ok(seconds)
}

/// Login to a maildrop of many messages: connect, USER, PASS, STAT.
pub fn big_login(server: &Server, user: &str, expected: u64) -> Result<f64> {
    let started = Instant::now();
    let mut client = Client::connect(server.addr)?;
    client.login(user, PASSWORD)?;
    let (count, _) = client.stat()?;
    let seconds = started.elapsed().as_secs_f64();
    if count != expected {
        return Err(crate::client::Error::Protocol(format!("{user}: STAT says {count} messages, not {expected}")));
    }
    client.quit()?;
    Ok(seconds)
}

/// Row 7: the loopback ceiling. A thread copies `file` (or `bytes` of
/// memory, when `file` is None) to a socket through a `buffer`-sized buffer;
/// the reader discards it. Returns MB/s.
pub fn loopback(file: Option<&Path>, bytes: u64, buffer: usize) -> io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let file = file.map(File::open).transpose()?;
    let sender = thread::spawn(move || -> io::Result<u64> {
        let (mut socket, _) = listener.accept()?;
        let mut chunk = vec![b'x'; buffer];
        let mut sent = 0u64;
        match file {
            Some(mut file) => loop {
                let read = file.read(&mut chunk)?;
                if read == 0 {
                    break;
                }
                socket.write_all(&chunk[..read])?;
                sent += read as u64;
            },
            None => {
                while sent < bytes {
                    socket.write_all(&chunk)?;
                    sent += chunk.len() as u64;
                }
            }
        }
        Ok(sent)
    });
    let mut socket = TcpStream::connect(addr)?;
    let mut sink = vec![0u8; 256 * 1024];
    let started = Instant::now();
    let mut received = 0u64;
    loop {
        let read = socket.read(&mut sink)?;
        if read == 0 {
            break;
        }
        received += read as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    let sent = sender.join().expect("sender thread panicked")?;
    if sent != received {
        return Err(io::Error::other(format!("loopback: sent {sent}, received {received}")));
    }
    Ok(received as f64 / MB / seconds)
}
