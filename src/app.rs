//! Start-up: from a validated [`Config`] to listening, running servers.
//!
//! Builds the shared state, raises the open-file limit, binds every socket
//! before serving anything (so a bad address fails fast, with one line), and
//! reports the bound addresses, which tests and operators read from the log.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::Config;
use crate::server::{fd_limit, Pop3Server};
use crate::state::connections::ConnectionLimit;
use crate::state::users::UserTable;
use crate::state::Shared;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    TooManyConnections { requested: usize, allowed: usize },
    Bind(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::TooManyConnections { requested, allowed } => write!(
                f,
                "--max-connections {requested} exceeds {allowed}, what the open-file limit (ulimit -n) allows"
            ),
            StartError::Bind(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

/// A started server: its shared state, bound addresses and threads.
pub struct Running {
    pub shared: Arc<Shared>,
    pub pop3_addrs: Vec<SocketAddr>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// Blocks until every accept thread ends (which is never, for now).
    pub fn wait(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Binds and starts everything `config` asks for.
pub fn start(config: &Config) -> Result<Running, StartError> {
    let open_files = fd_limit::raise_open_file_limit();
    let allowed = fd_limit::max_connections_for(open_files);
    if config.max_connections > allowed {
        return Err(StartError::TooManyConnections { requested: config.max_connections, allowed });
    }
    let users = UserTable::new(config.admin.clone(), config.users.iter().cloned(), config.max_users);
    let shared = Arc::new(Shared::new(
        config.mail_root.clone(),
        users,
        ConnectionLimit::new(config.max_connections, allowed),
        config.idle_timeout,
        config.retr_buffer,
    ));
    let pop3 = Pop3Server::bind(&config.pop3_addrs, Arc::clone(&shared)).map_err(StartError::Bind)?;
    let pop3_addrs = pop3.local_addrs().map_err(StartError::Bind)?;
    for addr in &pop3_addrs {
        log::info!("POP3 listening on {addr}");
    }
    let threads = pop3.spawn().map_err(StartError::Bind)?;
    log::info!("pop3d ready");
    Ok(Running { shared, pop3_addrs, threads })
}
