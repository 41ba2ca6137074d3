//! TLS settings: the certificate and key from PEM files, turned into the
//! rustls configuration shared by every STLS upgrade and implicit-TLS
//! connection (RFC 2595, RFC 8314, and MGMT with `--mgmt-tls`); and the
//! client side for `admin_monitor --tls`, trusting only a given CA file.
//!
//! Only TLS 1.2 and 1.3 are offered (RFC 8314 §4.1 asks for 1.2 or later).
//! The `ring` provider is used, so no system OpenSSL is needed.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Why the TLS settings could not be loaded; each names the file at fault.
#[derive(Debug)]
pub enum TlsError {
    Read {
        path: PathBuf,
        error: io::Error,
    },
    NoCertificate(PathBuf),
    NoKey(PathBuf),
    Rejected(rustls::Error),
    /// A certificate in a CA file that cannot serve as a root.
    BadRoot {
        path: PathBuf,
        error: rustls::Error,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            TlsError::NoCertificate(path) => {
                write!(f, "{}: no PEM certificate found", path.display())
            }
            TlsError::NoKey(path) => write!(f, "{}: no PEM private key found", path.display()),
            TlsError::Rejected(error) => {
                write!(f, "certificate and key do not work together: {error}")
            }
            TlsError::BadRoot { path, error } => {
                write!(f, "{}: not usable as a trusted certificate: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for TlsError {}

/// Loads a PEM certificate chain and private key into a server config.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certificates(cert_path)?;
    let mut key_pem = BufReader::new(File::open(key_path).map_err(read_error(key_path))?);
    let key = rustls_pemfile::private_key(&mut key_pem)
        .map_err(read_error(key_path))?
        .ok_or_else(|| TlsError::NoKey(key_path.to_owned()))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(TlsError::Rejected)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsError::Rejected)?;
    // Clients that poll every few minutes resume instead of repeating the
    // full handshake: stateless session tickets (TLS 1.3, and RFC 5077 in
    // TLS 1.2), so any number of clients resume without server memory per
    // client. The keys are random, kept in memory only and rotated every
    // 6 hours; a TLS 1.3 resumption still does a fresh (EC)DHE exchange.
    // TLS 1.2 clients without tickets resume by session ID from rustls's
    // default in-memory cache (256 sessions).
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Rejected)?;
    Ok(Arc::new(config))
}

/// A client config that trusts exactly the certificates in the PEM file
/// `ca_path` (a CA, or a server's own self-signed certificate). There are
/// no built-in roots: an operator names what to trust.
pub fn client_config(ca_path: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(ca_path)? {
        roots.add(cert).map_err(|error| TlsError::BadRoot { path: ca_path.to_owned(), error })?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(TlsError::Rejected)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// RFC 8314 §4.1: TLS 1.2 or later.
const VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file; at least one.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut pem = BufReader::new(File::open(path).map_err(read_error(path))?);
    let certs = rustls_pemfile::certs(&mut pem).collect::<Result<Vec<_>, _>>().map_err(read_error(path))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

fn read_error(path: &Path) -> impl FnOnce(io::Error) -> TlsError + '_ {
    move |error| TlsError::Read { path: path.to_owned(), error }
}

/// When USER/PASS and AUTH PLAIN may be used on a connection without TLS
/// (Dovecot's `disable_plaintext_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaintextAuth {
    /// Anywhere (`--allow-plaintext-auth`).
    Always,
    /// Only from loopback peers, where nothing crosses a network (default).
    LoopbackOnly,
    /// Never, not even from loopback (`--require-tls-on-loopback`).
    Never,
}

impl PlaintextAuth {
    /// True if a cleartext login from a peer (loopback or not) is allowed.
    pub fn allows(self, peer_is_loopback: bool) -> bool {
        match self {
            PlaintextAuth::Always => true,
            PlaintextAuth::LoopbackOnly => peer_is_loopback,
            PlaintextAuth::Never => false,
        }
    }
}
