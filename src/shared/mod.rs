//! The state shared by the accept threads, every POP3 session and MGMT:
//! [`Shared`], and the pieces of it that have no other home. Those are the
//! connection cap ([`connections`]), the per-connection abuse limits
//! ([`limits`]), MGMT's POP3 pause ([`pause`]), graceful shutdown
//! ([`shutdown`]), the list of live POP3 sessions MGMT's WHO and KICK
//! read ([`sessions`]), the counters ([`stats`]) and the log lines a ban
//! tool reads ([`audit`]). The user table it
//! holds belongs to [`crate::accounts`], with passwords and the users file.
//!
//! Each piece guards itself (atomics or parking_lot locks), so holders of an
//! `Arc<Shared>` never take a lock that spans two pieces and no lock is ever
//! held across network I/O.

pub mod audit;
pub mod connections;
pub mod limits;
pub mod pause;
pub mod sessions;
pub mod shutdown;
pub mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::accounts::password::PasswordScheme;
use parking_lot::RwLock;

use crate::accounts::users::{UserName, UserTable};
use crate::net::cidr::Cidr;
use crate::net::tls::PlaintextAuth;
use crate::net::tls_slot::TlsSlot;
use crate::storage::mail_location::{ExpandError, MailLocation};
use crate::storage::uidl_format::UidlFormat;
use connections::ConnectionLimit;
use limits::SessionLimits;
use pause::PauseGate;
use shutdown::Shutdown;
use stats::Stats;

/// Everything a session or an admin may read or change while the server runs.
#[derive(Debug)]
pub struct Shared {
    /// Where each user's Maildir lives (`-d DIR` is `DIR/%u`).
    pub mail_location: MailLocation,
    /// Who may log in; MGMT adds and removes users while POP3 sessions
    /// authenticate against it.
    pub users: UserTable,
    /// Counters MGMT reports; sessions add to them as bytes move.
    pub stats: Stats,
    /// The POP3 connection cap, taken by the accept loop and changed by
    /// MGMT. An `Arc` because each permit keeps its limit alive.
    pub connections: Arc<ConnectionLimit>,
    /// MGMT's `TIMEOUT`, which POP3 sessions wait on.
    pub pause: PauseGate,
    /// The flag accept loops and sessions check, and the sockets to wake.
    pub shutdown: Shutdown,
    /// The per-connection abuse limits from the configuration; a reload
    /// may change them, so each connection reads them through
    /// [`Shared::limits`].
    limits: RwLock<SessionLimits>,
    /// Bytes read from a message file per RETR/TOP step.
    pub retr_buffer: usize,
    /// The TLS settings, when a certificate was given; a reload may swap
    /// them for a renewed certificate.
    pub tls: Option<Arc<TlsSlot>>,
    /// Where cleartext logins are allowed.
    pub plaintext_auth: PlaintextAuth,
    /// How each message's UIDL is made (`--uidl-format`); every maildrop
    /// is opened with it.
    pub uidl_format: UidlFormat,
    /// The scheme MGMT stores new passwords in (`--password-scheme`).
    pub password_scheme: PasswordScheme,
    /// Peers whose connections start with a PROXY protocol header naming
    /// the client (`--haproxy-trusted-networks`); empty: none.
    pub haproxy_trusted_networks: Vec<Cidr>,
}

impl Shared {
    pub fn new(
        mail_root: PathBuf,
        users: UserTable,
        connections: ConnectionLimit,
        limits: SessionLimits,
        retr_buffer: usize,
        tls: Option<Arc<rustls::ServerConfig>>,
        plaintext_auth: PlaintextAuth,
    ) -> Self {
        Self {
            mail_location: MailLocation::under(&mail_root),
            users,
            stats: Stats::default(),
            connections: Arc::new(connections),
            pause: PauseGate::default(),
            shutdown: Shutdown::default(),
            limits: RwLock::new(limits),
            retr_buffer,
            tls: tls.map(|config| Arc::new(TlsSlot::new(config))),
            plaintext_auth,
            uidl_format: UidlFormat::default(),
            password_scheme: PasswordScheme::default(),
            haproxy_trusted_networks: Vec::new(),
        }
    }

    /// The same, with messages identified by `format` instead of `%f`.
    pub fn with_uidl_format(self, format: UidlFormat) -> Self {
        Self { uidl_format: format, ..self }
    }

    /// The same, with Maildirs placed by `location` instead of `<root>/%u`.
    pub fn with_mail_location(self, location: MailLocation) -> Self {
        Self { mail_location: location, ..self }
    }

    /// The same, with MGMT storing new passwords in `scheme`.
    pub fn with_password_scheme(self, scheme: PasswordScheme) -> Self {
        Self { password_scheme: scheme, ..self }
    }

    /// The same, believing PROXY headers from `trusted` peers.
    pub fn with_haproxy_trusted_networks(self, trusted: Vec<Cidr>) -> Self {
        Self { haproxy_trusted_networks: trusted, ..self }
    }

    /// Inactivity allowed after login before autologout (RFC 1939 §3).
    pub fn idle_timeout(&self) -> Duration {
        self.limits.read().idle_timeout
    }

    /// The abuse limits in force now; a session reads them as it needs
    /// them, so a reload applies to the next check.
    pub fn limits(&self) -> SessionLimits {
        self.limits.read().clone()
    }

    /// Replaces the abuse limits (on reload).
    pub fn set_limits(&self, limits: SessionLimits) {
        *self.limits.write() = limits;
    }

    /// The TLS settings for one new handshake, if TLS is on.
    pub fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.as_ref().map(|slot| slot.current())
    }

    /// Where `user`'s Maildir lives, by the mail location and the home
    /// the users file gives. Never outside the location's root: see
    /// [`MailLocation::expand`].
    ///
    /// # Errors
    /// The user's location cannot be expanded (no domain for `%d`, no home
    /// for `%h`): that user cannot log in.
    pub fn maildir_of(&self, user: &UserName) -> Result<PathBuf, ExpandError> {
        self.mail_location.expand(user, self.users.home(user).as_deref())
    }
}
