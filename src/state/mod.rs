//! State shared by the accept threads, every POP3 session and MGMT.
//!
//! Each piece guards itself (atomics or parking_lot locks), so holders of an
//! `Arc<Shared>` never take a lock that spans two pieces and no lock is ever
//! held across network I/O.

pub mod connections;
pub mod pause;
pub mod stats;
pub mod users;
pub mod users_file;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use connections::ConnectionLimit;
use pause::PauseGate;
use stats::Stats;
use users::{UserName, UserTable};

/// Everything a session or an admin may read or change while the server runs.
#[derive(Debug)]
pub struct Shared {
    /// The root under which each user's Maildir lives (`<root>/<user>`).
    pub mail_root: PathBuf,
    pub users: UserTable,
    pub stats: Stats,
    pub connections: Arc<ConnectionLimit>,
    pub pause: PauseGate,
    /// Seconds of inactivity after login before autologout (RFC 1939 §3).
    idle_timeout_secs: AtomicU64,
    /// Bytes read from a message file per RETR/TOP step.
    pub retr_buffer: usize,
}

impl Shared {
    pub fn new(
        mail_root: PathBuf,
        users: UserTable,
        connections: ConnectionLimit,
        idle_timeout: Duration,
        retr_buffer: usize,
    ) -> Self {
        Self {
            mail_root,
            users,
            stats: Stats::default(),
            connections: Arc::new(connections),
            pause: PauseGate::default(),
            idle_timeout_secs: AtomicU64::new(idle_timeout.as_secs()),
            retr_buffer,
        }
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.load(Ordering::Relaxed))
    }

    pub fn set_idle_timeout(&self, timeout: Duration) {
        self.idle_timeout_secs.store(timeout.as_secs(), Ordering::Relaxed);
    }

    /// Where `user`'s Maildir lives. Safe because [`UserName`] cannot hold
    /// a path separator or a leading dot.
    pub fn maildir_of(&self, user: &UserName) -> PathBuf {
        self.mail_root.join(user.as_str())
    }
}
