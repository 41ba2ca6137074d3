//! MGMT, the management protocol: its listener, its sessions and handlers,
//! its wire format, and the `admin_monitor` client.
//!
//! The listener has its own accept thread and gives each admin connection
//! its own thread, apart from the POP3 pool: a pause of POP3 or a delayed
//! failed login blocks only the admin who caused it, and MGMT keeps
//! answering while POP3 is paused.
//!
//! Only a few admins may be logged in at once; while all of them are, one
//! more connection gets `-ERR [SYS/TEMP]` and is closed. Connections not
//! yet logged in have slots of their own, and only [`LOGIN_TIMEOUT`] to
//! log in, so that connections which never log in (anyone on the host can
//! open them) cannot lock the administrator out: when those slots are
//! full, a newcomer takes the place of the oldest (see [`slots`] for why).
//!
//! The wire part, pure and shared with the client:
//! - [`verbs`]: the one table of verbs, from which [`verbs::MgmtVerb`] and
//!   the typed [`verbs::MgmtCommand`] are generated.
//! - [`command`]: the line parser (verbs, typed arguments).
//! - [`protocol`]: the greeting, the version and the limits both sides know.
//!
//! The server part:
//! - [`connection`]: [`connection::serve`], the connection loop, the only
//!   MGMT code that touches the socket.
//! - [`session`]: one admin, AUTH then ACTIVE, and the one dispatch.
//! - [`slots`]: who may hold a connection, logged in or logging in.
//! - [`handlers`]: the commands, by family: queries, settings, users.
//! - [`error`]: why a command was refused, as `-ERR` text.
//!
//! And [`client`]: the one-shot client behind `./admin_monitor`.
//!
//! MGMT changes shared state only through [`crate::shared`]; it never
//! touches a POP3 socket or a Maildir.

pub mod client;
pub mod command;
pub mod connection;
pub mod error;
pub mod handlers;
pub mod protocol;
pub mod session;
pub mod slots;
pub mod verbs;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::net::tls_slot::TlsSlot;

use crate::accounts::users_file::UsersFile;
use crate::net::listener::{AcceptThread, ConnectionRefusal, Listener, Service, SESSION_STACK_SIZE};
use crate::shared::connections::{ConnectionLimit, ConnectionPermit};
use crate::shared::stats::{Limit, ListenerKind};
use crate::shared::Shared;
use slots::MgmtSlots;

/// Admins logged in at once. Administration is rare and each connection
/// costs a thread; a handful is plenty.
pub const MAX_ADMIN_SESSIONS: usize = 4;

/// Connections not yet logged in, on slots of their own: a real admin logs
/// in within milliseconds, so a few are plenty, and a newcomer takes the
/// place of the oldest (see [`slots`]).
pub const MAX_WAITING_LOGINS: usize = 4;

/// Every MGMT connection, logged in or not, and so every MGMT thread: the
/// two kinds of slot, and room for displaced connections still closing.
/// Those close within milliseconds, or at the next displacement a second
/// later when stuck (see [`slots::STUCK_AFTER`]), so this is reached only
/// in a flood of connections to the MGMT port, and bounds what one costs.
pub const MAX_MGMT_CONNECTIONS: usize = 32;

/// How long a connection has, from connect, to log in (TLS handshake
/// included), however many lines it sends meanwhile: as long as a POP3
/// client's, far below the idle timeout.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The refusal while every admin slot is taken, after `-ERR [SYS/TEMP]`.
pub const TOO_MANY_ADMINS: &str = "TOO MANY ADMIN SESSIONS";

/// How long a failed MGMT login waits before its `-ERR`, to slow down
/// password guessing (RFC 1939 §13 suggests the same for POP3).
pub const LOGIN_FAILURE_DELAY: Duration = Duration::from_secs(1);

/// What every admin session needs, shared by all of them.
#[derive(Debug)]
pub struct Context {
    /// The state MGMT reports on and changes.
    pub shared: Arc<Shared>,
    /// Where user changes are saved at once; `None` keeps users in memory.
    /// Shared, so that a reload on request can call [`UsersFile::reload`]
    /// under the same lock as MGMT's changes.
    pub users_file: Option<Arc<UsersFile>>,
    /// How long a failed login waits; tests of the session logic use zero.
    pub login_delay: Duration,
    /// With `--mgmt-tls`, every admin connection starts with a TLS
    /// handshake (implicit TLS, as POP3S does) and nothing, not even the
    /// greeting, is sent in clear; `None` keeps MGMT in clear.
    pub tls: Option<Arc<TlsSlot>>,
    /// How long a connection has to log in; [`LOGIN_TIMEOUT`] unless the
    /// tests shorten it.
    pub login_timeout: Duration,
    /// The slots of logged-in admins and of connections logging in.
    pub slots: MgmtSlots,
}

/// The MGMT side of a server, bound but not yet accepting.
pub struct MgmtServer {
    listener: Listener,
    admins: AdminThreads,
}

impl MgmtServer {
    /// Binds `addr`; with `tls`, admins must speak TLS from the first byte;
    /// each connection has `login_timeout` to log in.
    ///
    /// # Errors
    /// The address cannot be bound (in use, not local, no rights).
    pub fn bind(
        addr: SocketAddr,
        shared: Arc<Shared>,
        users_file: Option<Arc<UsersFile>>,
        tls: Option<Arc<TlsSlot>>,
        login_timeout: Duration,
    ) -> io::Result<Self> {
        let listener = Listener::bind(addr, tls.is_some())
            .map_err(|error| io::Error::new(error.kind(), format!("cannot listen on {addr} for MGMT: {error}")))?;
        let context = Arc::new(Context {
            shared,
            users_file,
            login_delay: LOGIN_FAILURE_DELAY,
            tls,
            login_timeout,
            slots: MgmtSlots::default(),
        });
        let connections = Arc::new(ConnectionLimit::new(MAX_MGMT_CONNECTIONS, MAX_MGMT_CONNECTIONS, None));
        Ok(Self { listener, admins: AdminThreads { context, connections } })
    }

    /// The address actually bound (port 0 becomes the chosen port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// True if admins must connect with TLS.
    pub fn is_tls(&self) -> bool {
        self.listener.implicit_tls()
    }

    /// Starts the accept thread.
    pub fn spawn(self) -> io::Result<RunningMgmt> {
        let shared = Arc::clone(&self.admins.context.shared);
        let accept = self.listener.spawn("mgmt-accept", shared, self.admins)?;
        Ok(RunningMgmt { accept })
    }
}

/// Where admitted admins are served: a thread each, apart from the POP3
/// pool, so that MGMT answers while POP3 is paused or full.
struct AdminThreads {
    context: Arc<Context>,
    /// One permit per open connection, whatever its slot: the bound on
    /// MGMT threads, [`MAX_MGMT_CONNECTIONS`].
    connections: Arc<ConnectionLimit>,
}

impl Service for AdminThreads {
    const LOG_PREFIX: &'static str = "MGMT ";

    fn listener_kind(&self) -> ListenerKind {
        ListenerKind::Mgmt
    }

    fn admit(&mut self, peer: SocketAddr) -> Result<ConnectionPermit, ConnectionRefusal> {
        // Nobody could log in now, so a newcomer is refused at once rather
        // than given a login slot.
        if self.context.slots.admins_full() {
            return Err(ConnectionRefusal { reply: TOO_MANY_ADMINS, limit: Limit::AdminSessions });
        }
        self.connections
            .try_acquire(peer.ip())
            .map_err(|_| ConnectionRefusal { reply: TOO_MANY_ADMINS, limit: Limit::Connections })
    }

    fn serve(&mut self, stream: TcpStream, permit: ConnectionPermit) {
        let context = Arc::clone(&self.context);
        let spawned = thread::Builder::new()
            .name("mgmt-session".to_owned())
            .stack_size(SESSION_STACK_SIZE)
            .spawn(move || connection::serve(stream, &context, permit));
        if let Err(error) = spawned {
            log::error!("cannot start an MGMT session thread: {error}");
        }
    }
}

/// The MGMT side of a server, accepting admins.
pub struct RunningMgmt {
    accept: AcceptThread,
}

impl RunningMgmt {
    pub fn addr(&self) -> SocketAddr {
        self.accept.addr()
    }

    /// Stops accepting admins (the shutdown flag must be set already).
    /// Admin sessions still open end with the process.
    pub fn stop(self) {
        self.accept.stop();
    }
}
