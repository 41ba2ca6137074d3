//! The POP3 side of a server: its listeners (POP3 and POP3S) and the pool
//! of session threads they feed.
//!
//! Each listener runs the shared accept loop of [`crate::net::listener`], which
//! hands the pool only connections holding a
//! [`ConnectionPermit`]: over the cap, the client gets
//! `-ERR [SYS/TEMP] too many connections` at once and is closed. A
//! connection from a trusted load balancer (`--haproxy-trusted-networks`)
//! takes only a server-wide slot there; its session reads the PROXY header
//! first and then counts the client it names against the per-address cap,
//! so a slow header never holds up the accept thread. The pool
//! has one thread per allowed connection and follows the cap when MGMT
//! changes it, so an admitted session never waits in a queue.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use threadpool::ThreadPool;

use super::serve;
use crate::net::listener::{AcceptThread, ConnectionRefusal, Listener, Service, SESSION_STACK_SIZE};
use crate::net::proxy;
use crate::shared::connections::{ConnectionPermit, Refused};
use crate::shared::stats::{Limit, ListenerKind};
use crate::shared::Shared;

/// How long sessions have to end once shutdown has closed their sockets:
/// time to see the error, log the connection and release the maildrop
/// lock. A session still running after that is blocked on something else.
const AFTER_FORCE: Duration = Duration::from_secs(2);

/// The POP3 side of a server, bound but not yet accepting.
pub struct Pop3Server {
    listeners: Vec<Listener>,
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
                Listener::bind(*addr, tls)
                    .map_err(|error| io::Error::new(error.kind(), format!("cannot listen on {addr}: {error}")))
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
        self.listeners.iter().map(|listener| Ok((listener.local_addr()?, listener.implicit_tls()))).collect()
    }

    /// Starts one accept thread per listener.
    pub fn spawn(self) -> io::Result<RunningPop3> {
        let accept_threads = self
            .listeners
            .into_iter()
            .map(|listener| {
                let service = Pop3Pool {
                    shared: Arc::clone(&self.shared),
                    pool: self.pool.clone(),
                    implicit_tls: listener.implicit_tls(),
                };
                listener.spawn("pop3-accept", Arc::clone(&self.shared), service)
            })
            .collect::<io::Result<Vec<_>>>()?;
        let addrs = accept_threads.iter().map(AcceptThread::addr).collect();
        Ok(RunningPop3 { addrs, accept_threads, pool: self.pool })
    }
}

/// The pool as one listener's accept loop sees it.
struct Pop3Pool {
    shared: Arc<Shared>,
    pool: ThreadPool,
    /// Whether this listener is POP3S; its sessions start with a handshake.
    implicit_tls: bool,
}

impl Service for Pop3Pool {
    const LOG_PREFIX: &'static str = "";

    fn listener_kind(&self) -> ListenerKind {
        ListenerKind::pop3(self.implicit_tls)
    }

    fn admit(&mut self, peer: SocketAddr) -> Result<ConnectionPermit, ConnectionRefusal> {
        let connections = &self.shared.connections;
        // A balancer's connection names its client only in the PROXY header,
        // which the session reads on its own thread and then counts that
        // client against the per-address cap.
        let permit = if proxy::is_trusted(&self.shared.haproxy_trusted_networks, peer) {
            connections.try_acquire_before_address()
        } else {
            connections.try_acquire(peer.ip())
        };
        permit.map_err(refusal)
    }

    fn serve(&mut self, stream: TcpStream, permit: ConnectionPermit) {
        // MGMT may have changed the cap since the last connection.
        let cap = self.shared.connections.max();
        if self.pool.max_count() != cap {
            self.pool.set_num_threads(cap);
        }
        let (shared, implicit_tls) = (Arc::clone(&self.shared), self.implicit_tls);
        self.pool.execute(move || serve(stream, implicit_tls, &shared, permit));
    }
}

/// What a client over a connection cap is told, and the log.
pub(super) fn refusal(refused: Refused) -> ConnectionRefusal {
    let (reply, limit) = match refused {
        Refused::ServerFull => ("too many connections, try again later", Limit::Connections),
        Refused::AddressFull => ("too many connections from your address, try again later", Limit::PerAddress),
    };
    ConnectionRefusal { reply, limit }
}

/// The POP3 side of a server, accepting connections.
pub struct RunningPop3 {
    addrs: Vec<SocketAddr>,
    accept_threads: Vec<AcceptThread>,
    pool: ThreadPool,
}

impl RunningPop3 {
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops accepting and waits for every session to end: idle ones at
    /// once (woken by [`Shutdown::begin`](crate::shared::shutdown::Shutdown),
    /// which the caller has run), busy ones when their command finishes, or
    /// when `grace` runs out, whichever is first. Then every socket still
    /// open is closed, and sessions get `AFTER_FORCE` more to notice.
    ///
    /// Returns within `grace + AFTER_FORCE` whatever a session is blocked
    /// on. A session stuck in something closing its socket cannot wake (a
    /// read from a hung disk, a long sleep) is abandoned and ends with the
    /// process, as under `kill -9`: no mail is deleted that a QUIT did not
    /// ask to delete, and its maildrop lock, whose owner is then gone, is
    /// broken as stale by the next login.
    pub fn shut_down(self, shared: &Shared, grace: Duration) {
        for accept_thread in self.accept_threads {
            accept_thread.stop();
        }
        let (done, finished) = crossbeam_channel::bounded(1);
        let pool = self.pool;
        // Never joined: if a session never ends, neither does this thread,
        // and the process must not wait for it.
        thread::spawn(move || {
            pool.join();
            let _ = done.send(());
        });
        if finished.recv_timeout(grace).is_ok() {
            return;
        }
        log::warn!("{} sessions still busy after {grace:?}; closing them", shared.shutdown.live_sessions());
        shared.shutdown.force();
        if finished.recv_timeout(AFTER_FORCE).is_err() {
            log::warn!(
                "abandoning {} sessions that did not end {AFTER_FORCE:?} after their sockets were closed",
                shared.shutdown.live_sessions()
            );
        }
    }
}
