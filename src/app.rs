//! Start-up: from a validated [`Config`] to listening, running servers.
//!
//! Builds the shared state, raises the open-file limit, binds every socket
//! before serving anything (so a bad address fails fast, with one line), and
//! reports the bound addresses, which tests and operators read from the log.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::config::Config;
use crate::server::{fd_limit, Pop3Server, RunningPop3};
use crate::state::connections::{ConnectionLimit, PerAddressLimit};
use crate::state::users::UserTable;
use crate::state::Shared;
use crate::tls::{self, PlaintextAuth, TlsError};

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    TooManyConnections { requested: usize, allowed: usize },
    Bind(io::Error),
    Signals(io::Error),
    Tls(TlsError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::TooManyConnections { requested, allowed } => write!(
                f,
                "--max-connections {requested} exceeds {allowed}, what the open-file limit (ulimit -n) allows"
            ),
            StartError::Bind(error) => error.fmt(f),
            StartError::Signals(error) => write!(f, "cannot handle SIGTERM/SIGINT: {error}"),
            StartError::Tls(error) => write!(f, "TLS: {error}"),
        }
    }
}

impl std::error::Error for StartError {}

/// How long commands in flight may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A started server: its shared state and its running listeners.
pub struct Running {
    pub shared: Arc<Shared>,
    pop3: RunningPop3,
    signals: Signals,
}

impl Running {
    pub fn pop3_addrs(&self) -> &[SocketAddr] {
        self.pop3.addrs()
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    pub fn run_until_signal(mut self) {
        if let Some(signal) = self.signals.forever().next() {
            log::info!("received signal {signal}, shutting down");
        }
        self.shut_down();
    }

    /// Stops accepting, tells idle sessions, lets commands in flight finish
    /// (up to a grace period), and returns once every session has ended.
    /// Sessions that did not QUIT delete nothing; every maildrop lock is
    /// released as its session ends.
    pub fn shut_down(self) {
        self.shared.shutdown.begin();
        self.shared.pause.resume_now();
        self.pop3.shut_down(&self.shared, SHUTDOWN_GRACE);
        log::info!("pop3d stopped");
    }
}

/// Binds and starts everything `config` asks for.
pub fn start(config: &Config) -> Result<Running, StartError> {
    let open_files = fd_limit::raise_open_file_limit();
    let allowed = fd_limit::max_connections_for(open_files);
    if config.max_connections > allowed {
        return Err(StartError::TooManyConnections {
            requested: config.max_connections,
            allowed,
        });
    }
    // Registered before serving, so a signal at any later moment is caught.
    let signals = Signals::new([SIGTERM, SIGINT]).map_err(StartError::Signals)?;
    let users = UserTable::new(
        config.admin.clone(),
        config.users.iter().cloned(),
        config.max_users,
    );
    let per_address = (config.max_per_address > 0)
        .then(|| PerAddressLimit::new(config.max_per_address, !config.limit_loopback));
    let tls = match &config.tls {
        Some(files) => Some(tls::server_config(&files.cert, &files.key).map_err(StartError::Tls)?),
        None => None,
    };
    warn_about_cleartext(config);
    let shared = Arc::new(Shared::new(
        config.mail_root.clone(),
        users,
        ConnectionLimit::new(config.max_connections, allowed, per_address),
        config.limits.clone(),
        config.retr_buffer,
        tls,
        config.plaintext_auth,
    ));
    let pop3 = Pop3Server::bind(&config.pop3_addrs, &config.pop3s_addrs, Arc::clone(&shared))
        .map_err(StartError::Bind)?;
    for (addr, implicit_tls) in pop3.local_addrs().map_err(StartError::Bind)? {
        let kind = if implicit_tls { "POP3S" } else { "POP3" };
        log::info!("{kind} listening on {addr}");
    }
    let pop3 = pop3.spawn().map_err(StartError::Bind)?;
    log::info!("pop3d ready");
    Ok(Running {
        shared,
        pop3,
        signals,
    })
}

/// Says so at start when remote clients could never log in, or would send
/// passwords in the clear.
fn warn_about_cleartext(config: &Config) {
    let remote = config
        .pop3_addrs
        .iter()
        .any(|addr| !addr.ip().is_loopback());
    match config.plaintext_auth {
        PlaintextAuth::LoopbackOnly if remote && config.tls.is_none() => log::warn!(
            "no TLS certificate: clients from other hosts cannot log in (use --tls-cert/--tls-key, \
             or --allow-plaintext-auth to accept cleartext passwords)"
        ),
        PlaintextAuth::Always if remote => {
            log::warn!(
                "--allow-plaintext-auth: passwords from other hosts may cross the network in clear"
            )
        }
        _ => {}
    }
}
