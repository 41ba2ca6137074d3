//! Graceful shutdown: the flag every thread checks, and the list of live
//! POP3 sockets so that sessions blocked in `read` can be woken.
//!
//! Waking works by shutting down the read half of each socket: a blocked
//! read returns end-of-file, the session sees the flag, says
//! `-ERR [SYS/TEMP] server shutting down` on the still-open write half and
//! closes, deleting nothing. A command in flight (a long RETR) is not
//! touched and finishes, unless the grace period runs out and
//! [`Shutdown::force`] closes both halves. A session that does not end
//! even then is blocked on something other than its socket, and is left
//! behind so the process can exit
//! ([`RunningPop3::shut_down`](crate::pop3::server::RunningPop3::shut_down)).
//!
//! The list holds a second `Arc` of each session's socket, not a duplicated
//! descriptor, so an idle session still costs one descriptor; and since the
//! list's `Arc` keeps the socket open, a socket on the list is never closed
//! (nor its descriptor number reused) while shutdown may still touch it.

use std::collections::HashMap;
use std::net::{Shutdown as Halves, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

#[derive(Debug, Default)]
pub struct Shutdown {
    requested: AtomicBool,
    next_id: AtomicU64,
    sockets: Mutex<HashMap<u64, Arc<TcpStream>>>,
}

/// A socket's place on the list; dropping it takes the socket off.
#[must_use]
pub struct Registration<'a> {
    shutdown: &'a Shutdown,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.shutdown.sockets.lock().remove(&self.id);
    }
}

impl Shutdown {
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Puts `stream` on the list. If shutdown has already begun, the
    /// socket's read half is shut at once so the session ends promptly.
    pub fn register<'a>(&'a self, stream: &Arc<TcpStream>) -> Registration<'a> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut sockets = self.sockets.lock();
        sockets.insert(id, Arc::clone(stream));
        if self.is_requested() {
            shut(stream, Halves::Read);
        }
        Registration { shutdown: self, id }
    }

    /// Sets the flag and wakes every session blocked in a read.
    pub fn begin(&self) {
        let sockets = self.sockets.lock();
        self.requested.store(true, Ordering::Release);
        for stream in sockets.values() {
            shut(stream, Halves::Read);
        }
    }

    /// Ends every remaining connection, in flight or not.
    pub fn force(&self) {
        let sockets = self.sockets.lock();
        for stream in sockets.values() {
            shut(stream, Halves::Both);
        }
    }

    /// Sessions still on the list.
    pub fn live_sessions(&self) -> usize {
        self.sockets.lock().len()
    }
}

/// Shuts `halves` of `stream`; it stays open. An error means the peer is
/// gone already, which is what shutting down wants anyway.
fn shut(stream: &TcpStream, halves: Halves) {
    let _ = stream.shutdown(halves);
}
