//! Graceful shutdown: the flag every thread checks, and the list of live
//! POP3 sockets so that sessions blocked in `read` can be woken.
//!
//! Waking works by shutting down the read half of each socket: a blocked
//! read returns end-of-file, the session sees the flag, says
//! `-ERR [SYS/TEMP] server shutting down` on the still-open write half and
//! closes, deleting nothing. A command in flight (a long RETR) is not
//! touched and finishes, unless the grace period runs out and
//! [`Shutdown::force`] closes both halves.
//!
//! The list holds raw descriptors, not duplicated sockets, so an idle
//! session costs no second descriptor. A descriptor is only ever used under
//! the list's lock, and a session removes itself (under that lock) before
//! its socket is closed, so a descriptor number is never used after reuse.

use std::collections::HashMap;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

#[derive(Debug, Default)]
pub struct Shutdown {
    requested: AtomicBool,
    next_id: AtomicU64,
    sockets: Mutex<HashMap<u64, RawFd>>,
}

/// A socket's place on the list; dropping it takes the socket off.
/// Declare it after the `TcpStream` so it is dropped first.
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
    pub fn register<'a>(&'a self, stream: &TcpStream) -> Registration<'a> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut sockets = self.sockets.lock();
        sockets.insert(id, stream.as_raw_fd());
        if self.is_requested() {
            shut(stream.as_raw_fd(), libc::SHUT_RD);
        }
        Registration { shutdown: self, id }
    }

    /// Sets the flag and wakes every session blocked in a read.
    pub fn begin(&self) {
        let sockets = self.sockets.lock();
        self.requested.store(true, Ordering::Release);
        for &fd in sockets.values() {
            shut(fd, libc::SHUT_RD);
        }
    }

    /// Ends every remaining connection, in flight or not.
    pub fn force(&self) {
        let sockets = self.sockets.lock();
        for &fd in sockets.values() {
            shut(fd, libc::SHUT_RDWR);
        }
    }

    /// Sessions still on the list.
    pub fn live_sessions(&self) -> usize {
        self.sockets.lock().len()
    }
}

fn shut(fd: RawFd, how: libc::c_int) {
    // SAFETY: `fd` is an open socket: it is on the list, and the list's lock
    // is held, so its session cannot close it meanwhile. shutdown(2) does
    // not close or free the descriptor.
    unsafe {
        libc::shutdown(fd, how);
    }
}
