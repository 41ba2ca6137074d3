//! Graceful shutdown: the flag every thread checks, and the wake-up of
//! every POP3 session on the [`SessionList`] (see [`super::sessions`] for
//! how waking works).
//!
//! [`Shutdown::begin`] sets the flag and shuts the read half of every
//! socket: a session blocked in `read` sees end-of-file, then the flag,
//! says `-ERR [SYS/TEMP] server shutting down` and closes, deleting
//! nothing. A command in flight (a long RETR) is not touched and finishes,
//! unless the grace period runs out and [`Shutdown::force`] closes both
//! halves. A session that does not end even then is blocked on something
//! other than its socket, and is left behind so the process can exit
//! ([`RunningPop3::shut_down`](crate::pop3::server::RunningPop3::shut_down)).

use std::net::{Shutdown as Halves, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::sessions::{Registration, SessionList};

#[derive(Debug, Default)]
pub struct Shutdown {
    requested: AtomicBool,
    /// Every live POP3 connection; MGMT's WHO and KICK read it too.
    pub sessions: SessionList,
}

impl Shutdown {
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Puts `stream` on the list. If shutdown has already begun, the
    /// socket's read half is shut at once so the session ends promptly.
    pub fn register<'a>(&'a self, stream: &Arc<TcpStream>) -> Registration<'a> {
        self.sessions.register(stream, || self.is_requested())
    }

    /// Sets the flag and wakes every session blocked in a read.
    pub fn begin(&self) {
        self.sessions.wake_all(|| self.requested.store(true, Ordering::Release), Halves::Read);
    }

    /// Ends every remaining connection, in flight or not.
    pub fn force(&self) {
        self.sessions.wake_all(|| {}, Halves::Both);
    }

    /// Sessions still on the list.
    pub fn live_sessions(&self) -> usize {
        self.sessions.len()
    }
}
