//! Start-up and shutdown: from a validated [`Config`] to listening, running
//! servers, and back to a clean exit.
//!
//! Builds the shared state, raises the open-file limit, binds every socket
//! before serving anything (so a bad address fails fast, with one line), and
//! reports the bound addresses, which tests and operators read from the log.
//!
//! It also settles who the users are: the users file (`-f`) first, then
//! `-u` on top (`-u` wins), and the admin from `-a`, or from the file when
//! `-a` is not given (so a password changed over MGMT survives a restart).
//! The default admin:admin is refused on a non-loopback MGMT address, and
//! a non-loopback MGMT address without `--mgmt-tls` is warned about.
//!
//! Between binding and serving, `privileges` gives up root for
//! `--run-as`; while serving, SIGHUP runs `reload`. A mail root that is
//! missing or not a directory at start is warned about (one line naming
//! it): a missing one is created with the first Maildir, as Dovecot does,
//! so a typo in `-d` would otherwise serve empty mailboxes without a word.

mod privileges;
mod reload;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::accounts::users::{Credentials, UserTable};
use crate::accounts::users_file::{LoadError, UsersFile};
use crate::config::{Config, DEFAULT_ADMIN};
use crate::metrics::MetricsServer;
use crate::mgmt::{MgmtServer, RunningMgmt};
use crate::net::fd_limit;
use crate::net::tls::{self, PlaintextAuth, TlsError};
use crate::pop3::server::{Pop3Server, RunningPop3};
use crate::shared::connections::{ConnectionLimit, PerAddressLimit};
use crate::shared::Shared;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    TooManyConnections {
        requested: usize,
        allowed: usize,
    },
    Bind(io::Error),
    Signals(io::Error),
    Tls(TlsError),
    UsersFile(LoadError),
    /// admin:admin would be reachable from other hosts.
    DefaultAdminNotLoopback(SocketAddr),
    /// `--run-as` could not be carried out.
    Privileges(privileges::DropError),
}

impl StartError {
    /// The process exit status: 2 when the configuration itself is at
    /// fault (fix the file or the flags), 1 when the system refused
    /// (address in use, descriptor limit, unreadable certificate).
    pub fn exit_status(&self) -> u8 {
        match self {
            StartError::UsersFile(_) | StartError::DefaultAdminNotLoopback(_) => 2,
            StartError::TooManyConnections { .. }
            | StartError::Bind(_)
            | StartError::Signals(_)
            | StartError::Tls(_)
            | StartError::Privileges(_) => 1,
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
            StartError::Signals(error) => write!(f, "cannot handle SIGTERM/SIGINT/SIGHUP: {error}"),
            StartError::Privileges(error) => error.fmt(f),
            StartError::Tls(error) => write!(f, "TLS: {error}"),
            StartError::UsersFile(error) => error.fmt(f),
            StartError::DefaultAdminNotLoopback(addr) => write!(
                f,
                "refusing MGMT on {addr} with the default admin:admin; set -a USER:PASS or use a loopback --mgmt-addr"
            ),
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
    mgmt: RunningMgmt,
    signals: Signals,
    /// The configuration in force, which SIGHUP reloads.
    config: Config,
    /// The users file (`-f`), shared with MGMT, which SIGHUP reads again.
    users_file: Option<Arc<UsersFile>>,
}

impl Running {
    pub fn pop3_addrs(&self) -> &[SocketAddr] {
        self.pop3.addrs()
    }

    pub fn mgmt_addr(&self) -> SocketAddr {
        self.mgmt.addr()
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully;
    /// SIGHUP reloads and serving goes on.
    pub fn run_until_signal(mut self) {
        let shared = Arc::clone(&self.shared);
        for signal in self.signals.forever() {
            if signal == SIGHUP {
                reload::reload(&mut self.config, &shared, self.users_file.as_deref());
                continue;
            }
            log::info!("received signal {signal}, shutting down");
            break;
        }
        self.shut_down();
    }

    /// Stops accepting, tells idle sessions, lets commands in flight finish
    /// (up to a grace period), closes what is left, and returns: once every
    /// POP3 session has ended, or a moment after the grace period at the
    /// latest, whatever a session is blocked on (see
    /// [`RunningPop3::shut_down`]). Sessions that did not QUIT delete
    /// nothing; every maildrop lock is released as its session ends.
    ///
    /// MGMT sessions are not waited for: each runs on a thread of its own
    /// that nothing joins, so an admin in the middle of `TIMEOUT 3600`, or
    /// one who simply stays connected, ends with the process.
    pub fn shut_down(self) {
        self.shared.shutdown.begin();
        self.shared.pause.resume_now();
        self.mgmt.stop();
        self.pop3.shut_down(&self.shared, SHUTDOWN_GRACE);
        log::info!("pop3d stopped");
    }
}

/// Binds and starts everything `config` asks for.
pub fn start(config: &Config) -> Result<Running, StartError> {
    let open_files = fd_limit::raise_open_file_limit();
    let allowed = fd_limit::max_connections_for(open_files);
    if config.max_connections > allowed {
        return Err(StartError::TooManyConnections { requested: config.max_connections, allowed });
    }
    // Registered before serving, so a signal at any later moment is caught.
    let signals = Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(StartError::Signals)?;
    let (users_file, stored) = match &config.users_file {
        Some(path) => {
            let (file, stored) = UsersFile::load(path, config.user_name_case).map_err(StartError::UsersFile)?;
            (Some(Arc::new(file)), stored)
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
    let tls = match &config.tls {
        Some(files) => Some(tls::server_config(&files.cert, &files.key).map_err(StartError::Tls)?),
        None => None,
    };
    warn_about_cleartext(config);
    crate::storage::lock::set_stale_after(config.lock_stale_after);
    // Always there, with 0 for no cap, so that a reload can set one.
    let per_address = Some(PerAddressLimit::new(config.max_per_address, !config.limit_loopback));
    let shared = Arc::new(
        Shared::new(
            config.mail_root.clone(),
            UserTable::with_name_case(config.user_name_case, admin, users, config.max_users)
                .with_command_line_users(config.users.iter().map(|user| user.name.clone())),
            ConnectionLimit::new(config.max_connections, allowed, per_address),
            config.limits.clone(),
            config.retr_buffer,
            tls,
            config.plaintext_auth,
        )
        .with_uidl_format(config.uidl_format.clone())
        .with_mail_location(config.mail_location.clone())
        .with_password_scheme(config.password_scheme)
        .with_haproxy_trusted_networks(config.haproxy_trusted_networks.clone()),
    );
    let pop3 =
        Pop3Server::bind(&config.pop3_addrs, &config.pop3s_addrs, Arc::clone(&shared)).map_err(StartError::Bind)?;
    let mgmt_tls = if config.mgmt_tls { shared.tls.clone() } else { None };
    let mgmt = MgmtServer::bind(
        config.mgmt_addr,
        Arc::clone(&shared),
        users_file.clone(),
        mgmt_tls,
        config.mgmt_login_timeout,
    )
    .map_err(StartError::Bind)?;
    for (addr, implicit_tls) in pop3.local_addrs().map_err(StartError::Bind)? {
        let kind = if implicit_tls { "POP3S" } else { "POP3" };
        log::info!("{kind} listening on {addr}");
    }
    let mgmt_kind = if mgmt.is_tls() { " (TLS)" } else { "" };
    log::info!("MGMT listening on {}{mgmt_kind}", mgmt.local_addr().map_err(StartError::Bind)?);
    let metrics = config.metrics_addr.map(MetricsServer::bind).transpose().map_err(StartError::Bind)?;
    if let Some(metrics) = &metrics {
        log::info!("metrics listening on {}", metrics.local_addr().map_err(StartError::Bind)?);
    }
    // Bound and the TLS key read: root is no longer needed.
    if let Some(user) = &config.run_as {
        match privileges::drop_to(user, config.run_as_group.as_deref()).map_err(StartError::Privileges)? {
            privileges::Dropped::FromRoot { uid, gid } => {
                log::info!("running as {user} (uid {uid}, gid {gid})");
                reload::warn_about_files_out_of_reach(config, user);
            }
            privileges::Dropped::AlreadyThatUser => log::info!("running as {user}"),
        }
    }
    if let Some(root) = config.mail_location.root() {
        warn_about_mail_root(&root);
    }
    let pop3 = pop3.spawn().map_err(StartError::Bind)?;
    let mgmt = mgmt.spawn().map_err(StartError::Bind)?;
    if let Some(metrics) = metrics {
        metrics.spawn(Arc::clone(&shared)).map_err(StartError::Bind)?;
    }
    log::info!("pop3d ready");
    Ok(Running { shared, pop3, mgmt, signals, config: config.clone(), users_file })
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

/// One warning when the mail root is missing or not a directory, as seen
/// by the user the server now runs as.
fn warn_about_mail_root(mail_root: &Path) {
    let root = mail_root.display();
    match std::fs::metadata(mail_root) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => log::warn!("mail root {root} is not a directory: no mailbox can be opened"),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            log::warn!("mail root {root} does not exist: it is created at the first login, and every mailbox is empty")
        }
        Err(error) => log::warn!("mail root {root} cannot be reached ({error}): no mailbox can be opened"),
    }
}

/// Says so at start when remote clients could never log in, or would send
/// passwords in the clear (POP3 users or, over MGMT, the admin).
fn warn_about_cleartext(config: &Config) {
    for warning in cleartext_warnings(config) {
        log::warn!("{warning}");
    }
}

fn cleartext_warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    let remote = config.pop3_addrs.iter().any(|addr| !addr.ip().is_loopback());
    match config.plaintext_auth {
        PlaintextAuth::LoopbackOnly if remote && config.tls.is_none() => warnings.push(
            "no TLS certificate: clients from other hosts cannot log in (use --tls-cert/--tls-key, \
             or --allow-plaintext-auth to accept cleartext passwords)"
                .to_owned(),
        ),
        PlaintextAuth::Always if remote => warnings
            .push("--allow-plaintext-auth: passwords from other hosts may cross the network in clear".to_owned()),
        _ => {}
    }
    if !config.mgmt_addr.ip().is_loopback() && !config.mgmt_tls {
        warnings.push(format!(
            "MGMT on {} without --mgmt-tls: admin passwords would cross the network in clear",
            config.mgmt_addr
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, ServerInvocation};

    fn warnings(args: &[&str]) -> Vec<String> {
        match config::parse(args) {
            Ok(ServerInvocation::Run(config)) => cleartext_warnings(&config),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn remote_mgmt_in_clear_is_warned_about() {
        let remote = warnings(&["127.0.0.1", "110", "--mgmt-addr", "192.0.2.1", "-a", "root:s3cret"]);
        assert_eq!(
            remote,
            ["MGMT on 192.0.2.1:6000 without --mgmt-tls: admin passwords would cross the network in clear"]
        );
        let tls = ["--tls-cert", "c.pem", "--tls-key", "k.pem"];
        let secured = [&["127.0.0.1", "110", "--mgmt-addr", "192.0.2.1", "--mgmt-tls"][..], &tls].concat();
        assert!(warnings(&secured).is_empty());
        assert!(warnings(&["127.0.0.1", "110"]).is_empty());
    }
}
