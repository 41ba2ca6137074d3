//! The server's current TLS settings, which a reload (SIGHUP) may swap for
//! a renewed certificate while connections run.
//!
//! Each new handshake takes the settings once, as an `Arc`, so a swap never
//! touches a connection already started: it finishes with what it began.

use std::sync::Arc;

use parking_lot::RwLock;
use rustls::ServerConfig;

/// The TLS settings new connections use; replaced whole on reload.
#[derive(Debug)]
pub struct TlsSlot {
    current: RwLock<Arc<ServerConfig>>,
}

impl TlsSlot {
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self { current: RwLock::new(config) }
    }

    /// The settings for one new handshake.
    pub fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current.read())
    }

    /// Makes `config` the settings of every later handshake.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        *self.current.write() = config;
    }
}
