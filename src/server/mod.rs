//! Listening sockets, accept threads and the session pool.
//!
//! One accept thread per POP3 listening address takes connections and hands
//! each `TcpStream` to a bounded pool of session threads. The bound is a
//! [`ConnectionPermit`](crate::state::connections::ConnectionPermit) taken
//! before the hand-over: over the cap, the client gets
//! `-ERR [SYS/TEMP] too many connections` at once and is closed. The pool
//! has one thread per allowed connection and follows the cap when MGMT
//! changes it, so an admitted session never waits in a queue.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use threadpool::ThreadPool;

pub mod fd_limit;

use crate::protocol::response::{Failure, ResponseCode};
use crate::session;
use crate::state::Shared;

/// Session threads need little stack: no recursion, buffers on the heap.
/// Only touched pages cost memory, so this is a ceiling, not a cost.
const SESSION_STACK_SIZE: usize = 256 * 1024;

/// Connections the kernel queues until the accept thread takes them. The
/// standard library listens with 128, which 200 clients connecting at once
/// overflowed: the dropped ones waited a full SYN retransmission (1 s).
/// The kernel caps this at net.core.somaxconn.
const LISTEN_BACKLOG: libc::c_int = 4096;

/// Pause after an accept error such as "too many open files", so a full
/// descriptor table does not turn the accept loop into a busy loop.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// The POP3 side of a running server.
pub struct Pop3Server {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    pool: ThreadPool,
}

impl Pop3Server {
    /// Binds every address in `addrs`.
    ///
    /// # Errors
    /// The first address that cannot be bound (in use, not local, no rights).
    pub fn bind(addrs: &[SocketAddr], shared: Arc<Shared>) -> io::Result<Self> {
        let listeners = addrs
            .iter()
            .map(|addr| {
                listen(addr).map_err(|error| io::Error::new(error.kind(), format!("cannot listen on {addr}: {error}")))
            })
            .collect::<io::Result<Vec<_>>>()?;
        let pool = threadpool::Builder::new()
            .num_threads(shared.connections.max())
            .thread_name("pop3-session".to_owned())
            .thread_stack_size(SESSION_STACK_SIZE)
            .build();
        Ok(Self { listeners, shared, pool })
    }

    /// The addresses actually bound (port 0 becomes the chosen port).
    pub fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.listeners.iter().map(TcpListener::local_addr).collect()
    }

    /// Starts one accept thread per listener.
    pub fn spawn(self) -> io::Result<Vec<JoinHandle<()>>> {
        self.listeners
            .into_iter()
            .map(|listener| {
                let shared = Arc::clone(&self.shared);
                let pool = self.pool.clone();
                thread::Builder::new().name("pop3-accept".to_owned()).spawn(move || accept_loop(&listener, &shared, pool))
            })
            .collect()
    }
}

fn listen(addr: &SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    // SAFETY: listen on a socket we own; on a socket already listening it
    // only changes the backlog.
    if unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, mut pool: ThreadPool) {
    for connection in listener.incoming() {
        match connection {
            Ok(stream) => admit(stream, shared, &mut pool),
            Err(error) => {
                log::warn!("accept failed: {error}");
                thread::sleep(ACCEPT_ERROR_BACKOFF);
            }
        }
    }
}

/// Hands `stream` to the pool if a connection slot is free, else refuses it.
fn admit(stream: TcpStream, shared: &Arc<Shared>, pool: &mut ThreadPool) {
    let Some(permit) = shared.connections.try_acquire() else {
        refuse(stream);
        return;
    };
    shared.stats.connection_accepted();
    // MGMT may have changed the cap since the last connection.
    let cap = shared.connections.max();
    if pool.max_count() != cap {
        pool.set_num_threads(cap);
    }
    let shared = Arc::clone(shared);
    pool.execute(move || session::serve(stream, &shared, permit));
}

/// RFC 3206 §4: a temporary condition; the client may try again later.
fn refuse(mut stream: TcpStream) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    log::warn!("refused {peer}: too many connections");
    // One small write into an empty socket buffer; never wait on the client.
    let _ = stream.set_nonblocking(true);
    let mut line = Vec::new();
    let _ = Failure::with_code(ResponseCode::SysTemp, "too many connections, try again later").write_to(&mut line);
    let _ = stream.write_all(&line);
}
