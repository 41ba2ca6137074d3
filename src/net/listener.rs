//! Listening sockets, accept threads and the session pool.
//!
//! One accept thread per POP3 listening address takes connections and hands
//! each `TcpStream` to a bounded pool of session threads. The bound is a
//! [`ConnectionPermit`](crate::shared::connections::ConnectionPermit) taken
//! before the hand-over: over the cap, the client gets
//! `-ERR [SYS/TEMP] too many connections` at once and is closed. The pool
//! has one thread per allowed connection and follows the cap when MGMT
//! changes it, so an admitted session never waits in a queue.

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use threadpool::ThreadPool;

use crate::pop3;
use crate::shared::connections::Refused;
use crate::shared::Shared;
use crate::wire::reply::{Failure, ResponseCode};

/// Session threads need little stack: no recursion, buffers on the heap.
/// Only touched pages cost memory, so this is a ceiling, not a cost.
const SESSION_STACK_SIZE: usize = 256 * 1024;

/// Connections the kernel queues before `accept`. The standard library's
/// 128 overflows when a few hundred clients connect at once, and a dropped
/// SYN waits a whole second before the client retries.
const LISTEN_BACKLOG: libc::c_int = 4096;

/// Pause after an accept error such as "too many open files", so a full
/// descriptor table does not turn the accept loop into a busy loop.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// The POP3 side of a server, bound but not yet accepting.
pub struct Pop3Server {
    /// Each listener, and whether it speaks implicit TLS (POP3S).
    listeners: Vec<(TcpListener, bool)>,
    shared: Arc<Shared>,
    pool: ThreadPool,
}

impl Pop3Server {
    /// Binds every address in `plain` (POP3) and `implicit_tls` (POP3S).
    ///
    /// # Errors
    /// The first address that cannot be bound (in use, not local, no rights).
    pub fn bind(plain: &[SocketAddr], implicit_tls: &[SocketAddr], shared: Arc<Shared>) -> io::Result<Self> {
        let tagged = plain.iter().map(|addr| (addr, false)).chain(implicit_tls.iter().map(|addr| (addr, true)));
        let listeners = tagged
            .map(|(addr, tls)| {
                let listener = listen(addr)
                    .map_err(|error| io::Error::new(error.kind(), format!("cannot listen on {addr}: {error}")))?;
                Ok((listener, tls))
            })
            .collect::<io::Result<Vec<_>>>()?;
        let pool = threadpool::Builder::new()
            .num_threads(shared.connections.max())
            .thread_name("pop3-session".to_owned())
            .thread_stack_size(SESSION_STACK_SIZE)
            .build();
        Ok(Self { listeners, shared, pool })
    }

    /// The addresses actually bound (port 0 becomes the chosen port), each
    /// with whether it is a POP3S listener.
    pub fn local_addrs(&self) -> io::Result<Vec<(SocketAddr, bool)>> {
        self.listeners.iter().map(|(listener, tls)| Ok((listener.local_addr()?, *tls))).collect()
    }

    /// Starts one accept thread per listener.
    pub fn spawn(self) -> io::Result<RunningPop3> {
        let addrs = self.local_addrs()?.into_iter().map(|(addr, _)| addr).collect();
        let accept_threads = self
            .listeners
            .into_iter()
            .map(|(listener, implicit_tls)| {
                let shared = Arc::clone(&self.shared);
                let pool = self.pool.clone();
                thread::Builder::new()
                    .name("pop3-accept".to_owned())
                    .spawn(move || accept_loop(&listener, implicit_tls, &shared, pool))
            })
            .collect::<io::Result<_>>()?;
        Ok(RunningPop3 { addrs, accept_threads, pool: self.pool })
    }
}

/// The POP3 side of a server, accepting connections.
pub struct RunningPop3 {
    addrs: Vec<SocketAddr>,
    accept_threads: Vec<JoinHandle<()>>,
    pool: ThreadPool,
}

impl RunningPop3 {
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops accepting and waits for every session to end: idle ones at
    /// once (woken by [`Shutdown::begin`](crate::shared::shutdown::Shutdown),
    /// which the caller has run), busy ones when their command finishes, or
    /// when `grace` runs out, whichever is first.
    pub fn shut_down(self, shared: &Shared, grace: Duration) {
        for addr in &self.addrs {
            wake_accept(*addr);
        }
        for thread in self.accept_threads {
            let _ = thread.join();
        }
        let (done, finished) = crossbeam_channel::bounded(1);
        let pool = self.pool;
        let joiner = thread::spawn(move || {
            pool.join();
            let _ = done.send(());
        });
        if finished.recv_timeout(grace).is_err() {
            log::warn!("{} sessions still busy after {grace:?}; closing them", shared.shutdown.live_sessions());
            shared.shutdown.force();
        }
        let _ = joiner.join();
    }
}

/// Binds `addr` and listens with a queue of [`LISTEN_BACKLOG`].
fn listen(addr: &SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    // SAFETY: listen on a socket we own; on a socket already listening it
    // only changes the backlog.
    if unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

fn accept_loop(listener: &TcpListener, implicit_tls: bool, shared: &Arc<Shared>, mut pool: ThreadPool) {
    for connection in listener.incoming() {
        if shared.shutdown.is_requested() {
            return;
        }
        match connection {
            Ok(stream) => admit(stream, implicit_tls, shared, &mut pool),
            Err(error) => {
                log::warn!("accept failed: {error}");
                thread::sleep(ACCEPT_ERROR_BACKOFF);
            }
        }
    }
}

/// Unblocks an accept thread waiting on `addr` by connecting to it.
pub fn wake_accept(addr: SocketAddr) {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let _ = TcpStream::connect_timeout(&target, Duration::from_secs(1));
}

/// Hands `stream` to the pool if a connection slot is free, else refuses it.
fn admit(stream: TcpStream, implicit_tls: bool, shared: &Arc<Shared>, pool: &mut ThreadPool) {
    let peer = match stream.peer_addr() {
        Ok(peer) => peer,
        Err(_) => return, // already gone
    };
    let permit = match shared.connections.try_acquire(peer.ip()) {
        Ok(permit) => permit,
        Err(refused) => return refuse(stream, peer, refused, implicit_tls),
    };
    shared.stats.connection_accepted();
    // MGMT may have changed the cap since the last connection.
    let cap = shared.connections.max();
    if pool.max_count() != cap {
        pool.set_num_threads(cap);
    }
    let shared = Arc::clone(shared);
    pool.execute(move || pop3::serve(stream, implicit_tls, &shared, permit));
}

/// RFC 3206 §4: a temporary condition; the client may try again later.
/// A POP3S client expects a TLS handshake, not text, so it is just closed.
fn refuse(mut stream: TcpStream, peer: SocketAddr, refused: Refused, implicit_tls: bool) {
    let reason = match refused {
        Refused::ServerFull => "too many connections, try again later",
        Refused::AddressFull => "too many connections from your address, try again later",
    };
    log::warn!("refused {peer}: {reason}");
    if implicit_tls {
        return;
    }
    // One small write into an empty socket buffer; never wait on the client.
    let _ = stream.set_nonblocking(true);
    let mut line = Vec::new();
    let _ = Failure::with_code(ResponseCode::SysTemp, reason).write_to(&mut line);
    let _ = stream.write_all(&line);
}
