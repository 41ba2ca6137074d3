//! Who may hold an MGMT connection: [`MgmtSlots`], with slots for
//! logged-in admins and, apart from them, slots for connections still
//! logging in.
//!
//! When one cap counted both, four connections that never logged in held
//! every slot until the idle timeout, and any local user could open them.
//! Now the two kinds of connection never compete:
//! - A logged-in admin holds an [`AdminSlot`], one of
//!   [`MAX_ADMIN_SESSIONS`]. Nobody can take it away. While all are taken,
//!   a new connection is refused at once with
//!   `-ERR [SYS/TEMP] TOO MANY ADMIN SESSIONS`, as it always was: it could
//!   not log in anyway.
//! - A connection not yet logged in holds a [`LoginSlot`], one of
//!   [`MAX_WAITING_LOGINS`]. When they are all taken, a newcomer takes the
//!   place of the oldest, which is told
//!   `-ERR [SYS/TEMP] LOGIN SLOT TAKEN BY A NEWER CONNECTION` and closed.
//!   Each connection also has only the login timeout to log in.
//!
//! Why the oldest gives way, rather than the newcomer being refused:
//! refusing newcomers is what let an attacker lock the admin out just by
//! connecting first. With the oldest giving way, silent connections hold
//! nothing: a real admin's connection displaces one of them and logs in
//! within a few round trips (`admin_monitor` sends USER and PASS as soon as
//! it is greeted). To push that admin out too, an attacker must open
//! [`MAX_WAITING_LOGINS`] new connections within those few milliseconds,
//! and keep doing so: a flood, which every displacement logs, rather than
//! four idle sockets.
//!
//! Displacing works like the shutdown wake-up of [`crate::shared::shutdown`]:
//! the read half of the displaced connection's socket is shut, so its
//! session, blocked reading, wakes at once, sees that its slot is gone, and
//! writes its own `-ERR` (in clear or under TLS, never in the middle of
//! another reply). A displaced session that is instead stuck writing to a
//! client that does not read is still there [`STUCK_AFTER`] later; the
//! next displacement after that shuts both halves, which fails the write,
//! so displaced sessions never pile up.
//!
//! Everything is under one lock, held only for a few list operations (and
//! `shutdown` calls, which never block), never across a read or a write on
//! a socket; so moving from a login slot to an admin slot is one
//! step: a connection is never displaced after it has logged in, and never
//! logs in after it has been displaced.

use std::collections::VecDeque;
use std::net::{Shutdown as Halves, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::error::MgmtError;
use super::{MAX_ADMIN_SESSIONS, MAX_WAITING_LOGINS};

/// A displaced session wakes, writes its `-ERR` and ends within
/// milliseconds; one still waiting this long after is stuck writing to a
/// client that does not read.
pub const STUCK_AFTER: Duration = Duration::from_secs(1);

/// The slots of every MGMT connection: admins logged in, and connections
/// waiting to log in.
#[derive(Debug, Default)]
pub struct MgmtSlots {
    room: Mutex<Room>,
}

/// What [`MgmtSlots`] guards with its one lock.
#[derive(Debug, Default)]
struct Room {
    /// Admin slots taken.
    logged_in: usize,
    /// Connections not yet logged in, oldest first; the displaced ones stay
    /// (marked) until their sessions end.
    waiting: VecDeque<Guest>,
    next_id: u64,
}

/// A connection not yet logged in.
#[derive(Debug)]
struct Guest {
    id: u64,
    /// For the log line that says it was displaced.
    peer: String,
    /// A second handle on the session's socket, to wake it if displaced.
    socket: Arc<TcpStream>,
    /// When a newer connection took its place, if one has.
    displaced_at: Option<Instant>,
}

impl Guest {
    fn is_displaced(&self) -> bool {
        self.displaced_at.is_some()
    }
}

impl MgmtSlots {
    /// True while every admin slot is taken by a logged-in admin.
    pub fn admins_full(&self) -> bool {
        self.room.lock().logged_in >= MAX_ADMIN_SESSIONS
    }

    /// Gives the connection on `socket` a login slot, displacing the
    /// oldest connection still waiting to log in if every slot is taken.
    pub fn enter(&self, socket: &Arc<TcpStream>, peer: &str) -> LoginSlot<'_> {
        let mut room = self.room.lock();
        if room.waiting.iter().filter(|guest| !guest.is_displaced()).count() >= MAX_WAITING_LOGINS {
            room.displace_oldest(peer);
        }
        let id = room.next_id;
        room.next_id += 1;
        room.waiting.push_back(Guest { id, peer: peer.to_owned(), socket: Arc::clone(socket), displaced_at: None });
        LoginSlot { slots: self, id }
    }
}

impl Room {
    /// Wakes the oldest connection waiting to log in so that it closes.
    fn displace_oldest(&mut self, newcomer: &str) {
        let now = Instant::now();
        let stuck = |guest: &&Guest| guest.displaced_at.is_some_and(|at| now.duration_since(at) >= STUCK_AFTER);
        for guest in self.waiting.iter().filter(stuck) {
            // Closing both halves fails the write it is stuck in.
            let _ = guest.socket.shutdown(Halves::Both);
        }
        if let Some(oldest) = self.waiting.iter_mut().find(|guest| !guest.is_displaced()) {
            oldest.displaced_at = Some(now);
            // An error means the client is gone already; it will close anyway.
            let _ = oldest.socket.shutdown(Halves::Read);
            log::warn!(
                "MGMT {}: {MAX_WAITING_LOGINS} connections waiting to log in, closing the oldest for {newcomer}",
                oldest.peer
            );
        }
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.waiting.iter().position(|guest| guest.id == id)
    }
}

/// A connection's place among those not yet logged in; dropping it frees
/// the place.
#[derive(Debug)]
#[must_use]
pub struct LoginSlot<'a> {
    slots: &'a MgmtSlots,
    id: u64,
}

impl<'a> LoginSlot<'a> {
    /// True if a newer connection has taken this place: the session must
    /// say so and close, acting on nothing more it has read.
    pub fn is_displaced(&self) -> bool {
        let room = self.slots.room.lock();
        room.position(self.id).is_some_and(|index| room.waiting[index].is_displaced())
    }

    /// Trades this place for an admin slot, once the password is right.
    ///
    /// # Errors
    /// [`MgmtError::LoginSlotLost`] if the place was given to a newer
    /// connection meanwhile; [`MgmtError::TooManyAdmins`] if the last admin
    /// slot was taken meanwhile.
    pub fn log_in(&self) -> Result<AdminSlot<'a>, MgmtError> {
        let mut room = self.slots.room.lock();
        let index = room.position(self.id).ok_or(MgmtError::LoginSlotLost)?;
        if room.waiting[index].is_displaced() {
            return Err(MgmtError::LoginSlotLost);
        }
        if room.logged_in >= MAX_ADMIN_SESSIONS {
            return Err(MgmtError::TooManyAdmins);
        }
        room.waiting.remove(index);
        room.logged_in += 1;
        Ok(AdminSlot { slots: self.slots })
    }
}

impl Drop for LoginSlot<'_> {
    fn drop(&mut self) {
        let mut room = self.slots.room.lock();
        if let Some(index) = room.position(self.id) {
            room.waiting.remove(index);
        }
    }
}

/// A logged-in admin's slot; dropping it frees the slot.
#[derive(Debug)]
#[must_use]
pub struct AdminSlot<'a> {
    slots: &'a MgmtSlots,
}

impl Drop for AdminSlot<'_> {
    fn drop(&mut self) {
        self.slots.room.lock().logged_in -= 1;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;

    use super::*;

    use crate::shared::sessions::connected_pair as connection;

    /// True if a read on `socket` returns end-of-file at once.
    fn reads_eof(socket: &TcpStream) -> bool {
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        matches!((&mut &*socket).read(&mut [0u8; 1]), Ok(0))
    }

    #[test]
    fn a_newcomer_displaces_the_oldest_waiting_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let slots = MgmtSlots::default();
        let sockets: Vec<_> = (0..=MAX_WAITING_LOGINS).map(|_| connection(&listener)).collect();
        let waiting: Vec<LoginSlot<'_>> = sockets.iter().map(|(server, _)| slots.enter(server, "peer")).collect();
        assert!(waiting[0].is_displaced(), "the oldest gives way");
        assert!(reads_eof(&sockets[0].0), "its session is woken");
        assert!(waiting[1..].iter().all(|slot| !slot.is_displaced()));
        assert!(matches!(waiting[0].log_in(), Err(MgmtError::LoginSlotLost)), "a displaced one cannot log in");
        let admin = waiting[1].log_in().unwrap();
        assert!(!waiting[1].is_displaced(), "a logged-in admin is not waiting any more");
        drop(admin);
    }

    #[test]
    fn logged_in_admins_keep_their_slots() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let slots = MgmtSlots::default();
        let sockets: Vec<_> = (0..=MAX_ADMIN_SESSIONS).map(|_| connection(&listener)).collect();
        let late = slots.enter(&sockets[MAX_ADMIN_SESSIONS].0, "late");
        let admins: Vec<_> = sockets[..MAX_ADMIN_SESSIONS]
            .iter()
            .map(|(server, _)| slots.enter(server, "admin").log_in().unwrap())
            .collect();
        assert!(slots.admins_full());
        assert!(matches!(late.log_in(), Err(MgmtError::TooManyAdmins)));
        let newcomers: Vec<_> = (0..2 * MAX_WAITING_LOGINS).map(|_| connection(&listener)).collect();
        let _entered: Vec<_> = newcomers.iter().map(|(server, _)| slots.enter(server, "newcomer")).collect();
        for (server, _) in &sockets[..MAX_ADMIN_SESSIONS] {
            server.set_nonblocking(true).unwrap();
            let read = (&mut &**server).read(&mut [0u8; 1]);
            assert!(read.is_err_and(|error| error.kind() == std::io::ErrorKind::WouldBlock), "an admin was woken");
        }
        drop(admins);
        assert!(!slots.admins_full());
    }

    #[test]
    fn a_displaced_session_still_around_later_is_closed_at_the_next_displacement() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let slots = MgmtSlots::default();
        let (first, mut first_client) = connection(&listener);
        let _first = slots.enter(&first, "first");
        let others: Vec<_> = (0..MAX_WAITING_LOGINS + 2).map(|_| connection(&listener)).collect();
        let mut entered: Vec<_> = others[..=MAX_WAITING_LOGINS].iter().map(|(s, _)| slots.enter(s, "other")).collect();
        // Displaced (read half only) when the fifth entered, and left alone
        // by the displacement that followed at once: its session may not
        // have had the time to write its -ERR yet.
        first_client.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        assert!(first_client.read(&mut [0u8; 1]).is_err(), "closed before it could say why");
        std::thread::sleep(STUCK_AFTER + Duration::from_millis(100));
        entered.push(slots.enter(&others[MAX_WAITING_LOGINS + 1].0, "late"));
        // Still here after STUCK_AFTER: closed entirely, its client sees
        // end-of-file.
        first_client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(matches!(first_client.read(&mut [0u8; 1]), Ok(0)));
    }

    #[test]
    fn dropping_a_slot_frees_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let slots = MgmtSlots::default();
        let sockets: Vec<_> = (0..=MAX_WAITING_LOGINS).map(|_| connection(&listener)).collect();
        let mut waiting: Vec<_> = sockets[..MAX_WAITING_LOGINS].iter().map(|(s, _)| slots.enter(s, "peer")).collect();
        drop(waiting.remove(0));
        let newest = slots.enter(&sockets[MAX_WAITING_LOGINS].0, "newest");
        assert!(waiting.iter().chain([&newest]).all(|slot| !slot.is_displaced()), "a free place displaces nobody");
    }
}
