//! A socket view that counts the octets moving through it.
//!
//! Every read and write is added to the server-wide [`Stats`] as it happens
//! (MGMT's BYTES_TRANS is live, not settled at session end) and to this
//! view's own total, which the session logs when it closes.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use crate::state::stats::Stats;

pub struct Metered<'a> {
    stream: &'a TcpStream,
    stats: &'a Stats,
    octets: u64,
}

impl<'a> Metered<'a> {
    pub fn new(stream: &'a TcpStream, stats: &'a Stats) -> Self {
        Self {
            stream,
            stats,
            octets: 0,
        }
    }

    /// Octets moved through this view so far.
    pub fn octets(&self) -> u64 {
        self.octets
    }
}

impl Read for Metered<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
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
