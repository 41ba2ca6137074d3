//! A socket view that counts the octets moving through it.
//!
//! Every read and write is added to the server-wide [`Stats`] as it happens
//! (MGMT's BYTES_TRANS is live, not settled at session end) and to this
//! connection's own totals, which the session logs when it closes. Counts
//! are of octets on the wire, TLS records included.
//!
//! Reads may also carry a deadline: a socket read timeout alone restarts
//! with every byte that arrives, so a client trickling bytes that never make
//! up a command would never be logged out.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Instant;

use crate::shared::stats::Stats;

pub struct Metered<'a> {
    stream: &'a TcpStream,
    stats: &'a Stats,
    received: u64,
    sent: u64,
    /// Reads after this instant fail with `TimedOut`.
    read_deadline: Option<Instant>,
}

impl<'a> Metered<'a> {
    pub fn new(stream: &'a TcpStream, stats: &'a Stats) -> Self {
        Self { stream, stats, received: 0, sent: 0, read_deadline: None }
    }

    /// Makes reads fail with `TimedOut` once `deadline` has passed.
    pub fn set_read_deadline(&mut self, deadline: Instant) {
        self.read_deadline = Some(deadline);
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Sets or clears TCP_CORK: while set, the kernel sends only full
    /// segments; clearing it sends what is left at once.
    pub fn set_cork(&self, cork: bool) -> io::Result<()> {
        let value = libc::c_int::from(cork);
        // SAFETY: a valid socket descriptor, borrowed for this call, and a
        // pointer to a c_int that outlives it, with its exact size.
        let status = unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_CORK,
                (&raw const value).cast(),
                std::mem::size_of_val(&value) as libc::socklen_t,
            )
        };
        if status == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Read for Metered<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.read_deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        let read = self.stream.read(buf)?;
        self.received += read as u64;
        self.stats.add_received(read as u64);
        Ok(read)
    }
}

impl Write for Metered<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.stream.write(buf)?;
        self.sent += written as u64;
        self.stats.add_sent(written as u64);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
