//! MGMT, the management protocol: its listener, its sessions and handlers,
//! its wire format, and the `admin_monitor` client.
//!
//! The listener has its own accept thread and gives each admin connection
//! its own thread, apart from the POP3 pool: a pause of POP3 or a delayed
//! failed login blocks only the admin who caused it, and MGMT keeps
//! answering while POP3 is paused. Only a few admins may be connected at
//! once; one more gets `-ERR [SYS/TEMP]` and is closed.
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
pub mod verbs;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rustls::ServerConfig;

use crate::accounts::users_file::UsersFile;
use crate::net::listener::{AcceptThread, ConnectionRefusal, Listener, Service, SESSION_STACK_SIZE};
use crate::shared::connections::{ConnectionLimit, ConnectionPermit};
use crate::shared::Shared;

/// Admin connections served at once. Administration is rare and each
/// connection costs a thread; a handful is plenty and bounds the damage a
/// flood of connections to the MGMT port can do.
pub const MAX_ADMIN_SESSIONS: usize = 4;

/// How long a failed MGMT login waits before its `-ERR`, to slow down
/// password guessing (RFC 1939 §13 suggests the same for POP3).
pub const LOGIN_FAILURE_DELAY: Duration = Duration::from_secs(1);

/// What every admin session needs, shared by all of them.
#[derive(Debug)]
pub struct Context {
    /// The state MGMT reports on and changes.
    pub shared: Arc<Shared>,
    /// Where user changes are saved at once; `None` keeps users in memory.
    pub users_file: Option<UsersFile>,
    /// How long a failed login waits; tests of the session logic use zero.
    pub login_delay: Duration,
    /// With `--mgmt-tls`, every admin connection starts with a TLS
    /// handshake (implicit TLS, as POP3S does) and nothing, not even the
    /// greeting, is sent in clear; `None` keeps MGMT in clear.
    pub tls: Option<Arc<ServerConfig>>,
}

/// The MGMT side of a server, bound but not yet accepting.
pub struct MgmtServer {
    listener: Listener,
    admins: AdminThreads,
}

impl MgmtServer {
    /// Binds `addr`; with `tls`, admins must speak TLS from the first byte.
    ///
    /// # Errors
    /// The address cannot be bound (in use, not local, no rights).
    pub fn bind(
        addr: SocketAddr,
        shared: Arc<Shared>,
        users_file: Option<UsersFile>,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<Self> {
        let listener = Listener::bind(addr, tls.is_some())
            .map_err(|error| io::Error::new(error.kind(), format!("cannot listen on {addr} for MGMT: {error}")))?;
        let context = Arc::new(Context { shared, users_file, login_delay: LOGIN_FAILURE_DELAY, tls });
        let sessions = Arc::new(ConnectionLimit::new(MAX_ADMIN_SESSIONS, MAX_ADMIN_SESSIONS, None));
        Ok(Self { listener, admins: AdminThreads { context, sessions } })
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
    /// Admin session slots; a permit is held for each open connection.
    sessions: Arc<ConnectionLimit>,
}

impl Service for AdminThreads {
    const LOG_PREFIX: &'static str = "MGMT ";

    fn admit(&mut self, peer: SocketAddr) -> Result<ConnectionPermit, ConnectionRefusal> {
        self.sessions.try_acquire(peer.ip()).map_err(|_| ConnectionRefusal {
            reply: "TOO MANY ADMIN SESSIONS",
            reason: format!("{MAX_ADMIN_SESSIONS} admin sessions already open"),
        })
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
