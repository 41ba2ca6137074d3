//! The list of live POP3 connections: each one's socket, so that it can be
//! woken from a blocked read, and once logged in, who it is. Graceful
//! shutdown ([`super::shutdown`]) wakes them all; MGMT's `WHO` lists the
//! logged-in ones and `KICK` wakes those of one user.
//!
//! Waking works by shutting down the read half of the socket: a blocked
//! read returns end-of-file at once, and the session, before it acts on
//! anything it read, checks why (the shutdown flag, or its own
//! [`SessionEntry::is_kicked`]), says `-ERR [SYS/TEMP] ...` on the
//! still-open write half and closes. A command in flight, a long RETR
//! included, is not interrupted: it finishes, its final "." included, and
//! the session ends before the next command. Nothing is committed: a
//! session ended this way never reaches the UPDATE state, so its DELE marks
//! are forgotten, and its maildrop lock goes with the session.
//!
//! The list holds a second `Arc` of each session's socket, not a duplicated
//! descriptor, so an idle session still costs one descriptor; and since the
//! list's `Arc` keeps the socket open, a socket on the list is never closed
//! (nor its descriptor number reused) while the list may still touch it.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown as Halves, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::accounts::users::UserName;

/// Who a logged-in session is, for `WHO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecord {
    pub user: UserName,
    /// The client's address, as the session knows it.
    pub client: Option<IpAddr>,
    /// The session runs under TLS (POP3S, or after STLS).
    pub tls: bool,
    /// When the connection was accepted.
    pub since: Instant,
}

/// One row of `WHO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub user: UserName,
    pub client: Option<IpAddr>,
    pub tls: bool,
    pub connected: Duration,
}

/// One connection on the list.
#[derive(Debug)]
pub struct SessionEntry {
    socket: Arc<TcpStream>,
    login: Mutex<Option<LoginRecord>>,
    kicked: AtomicBool,
}

impl SessionEntry {
    /// Records who logged in on this connection.
    pub fn logged_in(&self, record: LoginRecord) {
        *self.login.lock() = Some(record);
    }

    /// True once `KICK` has ended this session.
    pub fn is_kicked(&self) -> bool {
        self.kicked.load(Ordering::Acquire)
    }

    /// Shuts `halves` of the socket; it stays open. An error means the
    /// peer is gone already, which is what waking wants anyway.
    pub(super) fn shut(&self, halves: Halves) {
        let _ = self.socket.shutdown(halves);
    }
}

/// The live connections, each under the id its [`Registration`] holds.
#[derive(Debug, Default)]
pub struct SessionList {
    next_id: AtomicU64,
    entries: Mutex<HashMap<u64, Arc<SessionEntry>>>,
}

/// A connection's place on the list; dropping it takes the connection off.
#[must_use]
pub struct Registration<'a> {
    list: &'a SessionList,
    id: u64,
    entry: Arc<SessionEntry>,
}

impl Registration<'_> {
    pub fn entry(&self) -> &SessionEntry {
        &self.entry
    }

    /// The entry, for a session that outlives this borrow's scope.
    pub fn entry_handle(&self) -> Arc<SessionEntry> {
        Arc::clone(&self.entry)
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.list.entries.lock().remove(&self.id);
    }
}

impl SessionList {
    /// Puts `socket` on the list; `wake` says whether to shut its read half
    /// at once (shutdown has begun), under the list's lock so that a
    /// concurrent [`SessionList::wake_all`] cannot miss it.
    pub(super) fn register<'a>(&'a self, socket: &Arc<TcpStream>, wake: impl FnOnce() -> bool) -> Registration<'a> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(SessionEntry {
            socket: Arc::clone(socket),
            login: Mutex::new(None),
            kicked: AtomicBool::new(false),
        });
        let mut entries = self.entries.lock();
        entries.insert(id, Arc::clone(&entry));
        if wake() {
            entry.shut(Halves::Read);
        }
        Registration { list: self, id, entry }
    }

    /// Runs `before` (setting a flag the woken sessions will see), then
    /// shuts `halves` of every socket on the list.
    pub(super) fn wake_all(&self, before: impl FnOnce(), halves: Halves) {
        let entries = self.entries.lock();
        before();
        for entry in entries.values() {
            entry.shut(halves);
        }
    }

    /// Connections on the list, logged in or not.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The logged-in sessions, longest connected first.
    pub fn who(&self) -> Vec<SessionSummary> {
        let mut rows: Vec<SessionSummary> = self
            .entries
            .lock()
            .values()
            .filter(|entry| !entry.is_kicked())
            .filter_map(|entry| entry.login.lock().clone())
            .map(|login| SessionSummary {
                user: login.user,
                client: login.client,
                tls: login.tls,
                connected: login.since.elapsed(),
            })
            .collect();
        rows.sort_by(|a, b| b.connected.cmp(&a.connected).then_with(|| a.user.cmp(&b.user)));
        rows
    }

    /// Ends every session logged in as `user` (see the module
    /// documentation) and returns how many there were.
    pub fn kick(&self, user: &UserName) -> usize {
        let entries = self.entries.lock();
        let mut kicked = 0;
        for entry in entries.values() {
            let is_user = entry.login.lock().as_ref().is_some_and(|login| &login.user == user);
            if is_user && !entry.kicked.swap(true, Ordering::AcqRel) {
                entry.shut(Halves::Read);
                kicked += 1;
            }
        }
        kicked
    }
}

/// A connected pair on `listener`, for unit tests of code that wakes
/// sockets: the server's end, shared as a session shares it, and the
/// client's end.
#[cfg(test)]
pub(crate) fn connected_pair(listener: &std::net::TcpListener) -> (Arc<TcpStream>, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (Arc::new(server), client)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;

    use super::*;

    use super::connected_pair as connection;

    fn record(user: &str, since: Instant) -> LoginRecord {
        LoginRecord { user: UserName::parse(user).unwrap(), client: None, tls: false, since }
    }

    #[test]
    fn kick_wakes_only_that_users_sessions_and_who_forgets_them() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let list = SessionList::default();
        let early = Instant::now() - Duration::from_secs(30);
        let (alice_socket, _alice) = connection(&listener);
        let (bob_socket, _bob) = connection(&listener);
        let (anonymous_socket, _anonymous) = connection(&listener);
        let alice = list.register(&alice_socket, || false);
        let bob = list.register(&bob_socket, || false);
        let _anonymous = list.register(&anonymous_socket, || false);
        alice.entry().logged_in(record("alice", Instant::now()));
        bob.entry().logged_in(record("bob", early));
        let names: Vec<_> = list.who().into_iter().map(|row| row.user.to_string()).collect();
        assert_eq!(names, ["bob", "alice"], "longest connected first; not logged in is not listed");

        assert_eq!(list.kick(&UserName::parse("alice").unwrap()), 1);
        assert_eq!(list.kick(&UserName::parse("alice").unwrap()), 0, "a session is kicked once");
        assert!(alice.entry().is_kicked() && !bob.entry().is_kicked());
        let mut buf = [0; 1];
        assert_eq!((&*alice_socket).read(&mut buf).unwrap(), 0, "the blocked read sees end-of-file");
        assert_eq!(list.who().len(), 1);
        drop(alice);
        assert_eq!(list.len(), 2);
    }
}
