//! A socket view that counts the octets moving through it.
//!
//! Every read and write is added to the server-wide [`Stats`] as it happens
//! (MGMT's BYTES_TRANS is live, not settled at session end) and to this
//! view's own total, which the session logs when it closes. Reads may also
//! carry a deadline, so that a client trickling bytes that never make up a
//! command is still logged out on time.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use crate::state::stats::Stats;

pub struct Metered<'a> {
    stream: &'a TcpStream,
    stats: &'a Stats,
    octets: u64,
    /// Reads after this instant fail with `TimedOut`. A socket read timeout
    /// alone restarts with every byte that arrives.
    read_deadline: Option<Instant>,
}

impl<'a> Metered<'a> {
    pub fn new(stream: &'a TcpStream, stats: &'a Stats) -> Self {
        Self { stream, stats, octets: 0, read_deadline: None }
    }

    /// Makes reads fail with `TimedOut` once `deadline` has passed.
    pub fn set_read_deadline(&mut self, deadline: Instant) {
        self.read_deadline = Some(deadline);
    }

    /// Octets moved through this view so far.
    pub fn octets(&self) -> u64 {
        self.octets
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
        self.octets += read as u64;
        self.stats.add_received(read as u64);
        Ok(read)
    }
}

impl Write for Metered<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.stream.write(buf)?;
        self.octets += written as u64;
        self.stats.add_sent(written as u64);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
