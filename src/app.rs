//! Start-up: from a validated [`Config`] to listening, running servers.
//!
//! Builds the shared state, raises the open-file limit, binds every socket
//! before serving anything (so a bad address fails fast, with one line), and
//! reports the bound addresses, which tests and operators read from the log.
//!
//! It also settles who the users are: the users file (`-f`) first, then
//! `-u` on top (`-u` wins), and the admin from `-a`, or from the file when
//! `-a` is not given (so a password changed over MGMT survives a restart).
//! The default admin:admin is refused on a non-loopback MGMT address.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::{Config, DEFAULT_ADMIN};
use crate::mgmt::MgmtServer;
use crate::server::{fd_limit, Pop3Server};
use crate::state::connections::ConnectionLimit;
use crate::state::users::{Credentials, UserTable};
use crate::state::users_file::{LoadError, UsersFile};
use crate::state::Shared;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    TooManyConnections { requested: usize, allowed: usize },
    Bind(io::Error),
    UsersFile(LoadError),
    /// admin:admin would be reachable from other hosts.
    DefaultAdminNotLoopback(SocketAddr),
}

impl StartError {
    /// The process exit status: 2 when the configuration itself is at
    /// fault (fix the file or the flags), 1 when the system refused
    /// (address in use, descriptor limit).
    pub fn exit_status(&self) -> u8 {
        match self {
            StartError::UsersFile(_) | StartError::DefaultAdminNotLoopback(_) => 2,
            StartError::TooManyConnections { .. } | StartError::Bind(_) => 1,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::TooManyConnections { requested, allowed } => write!(
                f,
                "--max-connections {requested} exceeds {allowed}, what the open-file limit (ulimit -n) allows"
            ),
            StartError::Bind(error) => error.fmt(f),
            StartError::UsersFile(error) => error.fmt(f),
            StartError::DefaultAdminNotLoopback(addr) => write!(
                f,
                "refusing MGMT on {addr} with the default admin:admin; set -a USER:PASS or use a loopback --mgmt-addr"
            ),
        }
    }
}

impl std::error::Error for StartError {}

/// A started server: its shared state, bound addresses and threads.
pub struct Running {
    pub shared: Arc<Shared>,
    pub pop3_addrs: Vec<SocketAddr>,
    pub mgmt_addr: SocketAddr,
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
    let (users_file, stored) = match &config.users_file {
        Some(path) => {
            let (file, stored) = UsersFile::load(path).map_err(StartError::UsersFile)?;
            (Some(file), stored)
        }
        None => (None, Vec::new()),
    };
    let (admin, users) = merge_users(config, stored);
    let default_admin = Credentials::parse(DEFAULT_ADMIN).is_ok_and(|default| default == admin);
    if default_admin {
        if !config.mgmt_addr.ip().is_loopback() {
            return Err(StartError::DefaultAdminNotLoopback(config.mgmt_addr));
        }
        log::warn!("MGMT uses the default admin:admin; set -a USER:PASS (or CHANGE_PASSWORD) before exposing it");
    }
    let users = UserTable::new(admin, users, config.max_users);
    let shared = Arc::new(Shared::new(
        config.mail_root.clone(),
        users,
        ConnectionLimit::new(config.max_connections, allowed),
        config.idle_timeout,
        config.retr_buffer,
    ));
    let pop3 = Pop3Server::bind(&config.pop3_addrs, Arc::clone(&shared)).map_err(StartError::Bind)?;
    let pop3_addrs = pop3.local_addrs().map_err(StartError::Bind)?;
    let mgmt = MgmtServer::bind(config.mgmt_addr, Arc::clone(&shared), users_file).map_err(StartError::Bind)?;
    let mgmt_addr = mgmt.local_addr().map_err(StartError::Bind)?;
    for addr in &pop3_addrs {
        log::info!("POP3 listening on {addr}");
    }
    log::info!("MGMT listening on {mgmt_addr}");
    let mut threads = pop3.spawn().map_err(StartError::Bind)?;
    threads.push(mgmt.spawn().map_err(StartError::Bind)?);
    log::info!("pop3d ready");
    Ok(Running { shared, pop3_addrs, mgmt_addr, threads })
}

/// The admin and the other users, from the users file and the command line.
///
/// `-u` entries replace file entries of the same name. The admin comes from
/// `-a` when given; otherwise the file's entry for the default admin name,
/// if any, keeps its password (it may have been changed over MGMT).
fn merge_users(config: &Config, stored: Vec<Credentials>) -> (Credentials, Vec<Credentials>) {
    let mut admin = config.admin.clone();
    let mut users: Vec<Credentials> = Vec::with_capacity(stored.len() + config.users.len());
    for user in stored {
        if user.name == admin.name {
            if config.admin_is_default {
                admin = user;
            }
        } else if !config.users.iter().any(|given| given.name == user.name) {
            users.push(user);
        }
    }
    users.extend(config.users.iter().cloned());
    (admin, users)
}
