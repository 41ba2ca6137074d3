//! The accept loop, written once for every listening socket: POP3, POP3S
//! and MGMT.
//!
//! A [`Listener`] is a bound socket with a deep backlog. Its accept thread
//! asks the protocol's [`Service`] for a slot for each connection, then
//! either hands the stream over or refuses it with one `-ERR [SYS/TEMP]`
//! line and closes it, logging one `limit hit:` line. The thread never reads from a client and never
//! waits on one, so a slow or silent client cannot hold up the next.
//!
//! Nothing here knows POP3 or MGMT: each protocol's [`Service`] says how
//! many sessions it admits, what its refusal says, and where its sessions
//! run (the POP3 pool, or one thread per admin).

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::shared::audit;
use crate::shared::connections::ConnectionPermit;
use crate::shared::stats::{Limit, ListenerKind};
use crate::shared::Shared;
use crate::wire::reply::{Failure, ResponseCode};

/// Session threads need little stack: no recursion, buffers on the heap.
/// Only touched pages cost memory, so this is a ceiling, not a cost.
pub const SESSION_STACK_SIZE: usize = 256 * 1024;

/// Connections the kernel queues before `accept`. The standard library's
/// 128 overflows when a few hundred clients connect at once, and a dropped
/// SYN waits a whole second before the client retries.
const LISTEN_BACKLOG: i32 = 4096;

/// Pause after an accept error such as "too many open files", so a full
/// descriptor table does not turn the accept loop into a busy loop.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// What a protocol tells the accept loop: who gets in, and where an
/// admitted connection is served.
pub trait Service: Send + 'static {
    /// Starts this protocol's accept-loop log lines: `"MGMT "`, or nothing
    /// for POP3, whose lines operators already grep as they are.
    const LOG_PREFIX: &'static str;

    /// Which listener this is, for the log lines and counters.
    fn listener_kind(&self) -> ListenerKind;

    /// A session slot for a connection from `peer`, or why there is none.
    fn admit(&mut self, peer: SocketAddr) -> Result<ConnectionPermit, ConnectionRefusal>;

    /// Hands `stream` to another thread to be served and returns at once,
    /// so the accept loop goes straight back to accepting. The session
    /// keeps `permit` until it ends.
    fn serve(&mut self, stream: TcpStream, permit: ConnectionPermit);
}

/// Why a connection is turned away, for the client and for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRefusal {
    /// Sent as `-ERR [SYS/TEMP] {reply}`. RFC 3206 §4: a temporary
    /// condition, so the client may try again later.
    pub reply: &'static str,
    /// The limit reached, logged as a `limit hit:` line
    /// ([`crate::shared::audit`]) and counted.
    pub limit: Limit,
}

/// A bound listening socket, not yet accepting.
#[derive(Debug)]
pub struct Listener {
    socket: TcpListener,
    /// Its clients start with a TLS handshake (POP3S, MGMT under
    /// `--mgmt-tls`). A cleartext refusal would only garble their
    /// handshake, so they are refused by closing alone.
    implicit_tls: bool,
}

impl Listener {
    /// Binds `addr` and listens with a queue of [`LISTEN_BACKLOG`].
    ///
    /// # Errors
    /// The address cannot be bound (in use, not local, no rights).
    pub fn bind(addr: SocketAddr, implicit_tls: bool) -> io::Result<Self> {
        let socket = TcpListener::bind(addr)?;
        // std has already listened with its own backlog; listening again on
        // a listening socket only changes the backlog.
        rustix::net::listen(&socket, LISTEN_BACKLOG)?;
        Ok(Self { socket, implicit_tls })
    }

    /// The address actually bound (port 0 becomes the chosen port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// True if clients of this socket speak TLS from the first byte.
    pub fn implicit_tls(&self) -> bool {
        self.implicit_tls
    }

    /// Starts the accept thread, named `thread_name`, which hands
    /// connections to `service` until `shared.shutdown` is requested.
    pub fn spawn<S: Service>(self, thread_name: &str, shared: Arc<Shared>, service: S) -> io::Result<AcceptThread> {
        let addr = self.local_addr()?;
        let thread =
            thread::Builder::new().name(thread_name.to_owned()).spawn(move || self.accept_loop(&shared, service))?;
        Ok(AcceptThread { addr, thread })
    }

    fn accept_loop<S: Service>(self, shared: &Shared, mut service: S) {
        for connection in self.socket.incoming() {
            // Checked after each accept: the wake-up connection of
            // `AcceptThread::stop` lands here once the flag is set.
            if shared.shutdown.is_requested() {
                return;
            }
            match connection {
                Ok(stream) => self.admit(stream, shared, &mut service),
                Err(error) => {
                    log::warn!("{}accept failed: {error}", S::LOG_PREFIX);
                    thread::sleep(ACCEPT_ERROR_BACKOFF);
                }
            }
        }
    }

    /// Hands `stream` to `service` if it has a slot, else refuses it.
    fn admit<S: Service>(&self, stream: TcpStream, shared: &Shared, service: &mut S) {
        let Ok(peer) = stream.peer_addr() else { return }; // already gone
        match service.admit(peer) {
            Ok(permit) => service.serve(stream, permit),
            Err(refusal) => {
                audit::limit_hit(&shared.stats, service.listener_kind(), Some(peer.ip()), refusal.limit, None);
                if !self.implicit_tls {
                    refuse(&stream, refusal.reply);
                }
            }
        }
    }
}

/// Sends `-ERR [SYS/TEMP] {reply}`; dropping `stream` then closes it.
pub fn refuse(mut stream: &TcpStream, reply: &str) {
    // One small write into an empty socket buffer; never wait on the client.
    let _ = stream.set_nonblocking(true);
    let mut line = Vec::new();
    let _ = Failure::with_code(ResponseCode::SysTemp, reply).write_to(&mut line);
    let _ = stream.write_all(&line);
}

/// A listener's running accept thread.
#[derive(Debug)]
pub struct AcceptThread {
    addr: SocketAddr,
    thread: JoinHandle<()>,
}

impl AcceptThread {
    /// The address it accepts on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the thread to end. The shutdown flag
    /// must be set already: the thread is blocked in `accept`, and only
    /// sees the flag once a connection arrives, so this makes one.
    pub fn stop(self) {
        wake_accept(self.addr);
        let _ = self.thread.join();
    }
}

/// Connects to `addr`, so the accept thread blocked on it returns.
fn wake_accept(addr: SocketAddr) {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let _ = TcpStream::connect_timeout(&target, Duration::from_secs(1));
}
