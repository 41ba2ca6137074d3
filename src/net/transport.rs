//! One byte stream, in clear or under TLS, for every connection the crate
//! makes or accepts: POP3 (STLS and implicit TLS), MGMT with `--mgmt-tls`,
//! and the `admin_monitor` client.
//!
//! A TLS stream cannot be split into a read half and a write half, so both
//! directions go through one [`Transport`]; callers buffer reads around it
//! and write replies through it. The handshake is always run to completion
//! here, before the first protocol byte, so a failed handshake or a refused
//! certificate surfaces as an error from the constructor, never as a
//! garbled first line.
//!
//! The type is generic over the socket (a metered POP3 socket, a plain
//! `TcpStream`) and over the TLS side (server or client); it must never
//! know which protocol runs on top.

use std::io::{self, Read, Write};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ConnectionCommon, ServerConfig, ServerConnection, SideData, StreamOwned};

/// The byte stream under a connection. `C` is the TLS side: a server by
/// default, [`ClientConnection`] for the client.
pub enum Transport<S: Read + Write, C = ServerConnection> {
    Plain(S),
    Tls(Box<StreamOwned<C, S>>),
}

impl<S: Read + Write> Transport<S, ServerConnection> {
    /// Runs the server side of a TLS handshake over `self` (implicit TLS
    /// on accept, or STLS) and returns the secured transport.
    ///
    /// # Errors
    /// TLS is already active, or the handshake fails (the client hung up,
    /// spoke something else, or timed out on the socket's read timeout).
    pub fn start_tls(self, config: Arc<ServerConfig>) -> io::Result<Self> {
        let Transport::Plain(socket) = self else {
            return Err(io::Error::other("TLS is already active"));
        };
        handshake(ServerConnection::new(config).map_err(io::Error::other)?, socket)
    }
}

impl<S: Read + Write> Transport<S, ClientConnection> {
    /// Connects as a TLS client over `socket`, checking the server's
    /// certificate for `name` against the roots in `config`.
    ///
    /// # Errors
    /// The handshake fails, including an untrusted certificate or one that
    /// is not valid for `name`.
    pub fn connect_tls(socket: S, config: Arc<ClientConfig>, name: ServerName<'static>) -> io::Result<Self> {
        handshake(ClientConnection::new(config, name).map_err(io::Error::other)?, socket)
    }
}

/// Completes the handshake of `tls` over `socket`.
fn handshake<S, C, D>(mut tls: C, mut socket: S) -> io::Result<Transport<S, C>>
where
    S: Read + Write,
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData,
{
    while tls.is_handshaking() {
        tls.complete_io(&mut socket)?;
    }
    Ok(Transport::Tls(Box::new(StreamOwned::new(tls, socket))))
}

impl<S, C, D> Transport<S, C>
where
    S: Read + Write,
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData,
{
    /// The socket under any TLS layer.
    pub fn socket(&self) -> &S {
        match self {
            Transport::Plain(socket) => socket,
            Transport::Tls(stream) => &stream.sock,
        }
    }

    pub fn socket_mut(&mut self) -> &mut S {
        match self {
            Transport::Plain(socket) => socket,
            Transport::Tls(stream) => &mut stream.sock,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Ends TLS politely (close_notify) where it is active; a no-op in
    /// clear. Errors are ignored: the peer may already be gone.
    pub fn close(&mut self) {
        if let Transport::Tls(stream) = self {
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
    }
}

impl<S, C, D> Read for Transport<S, C>
where
    S: Read + Write,
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => socket.read(buf),
            Transport::Tls(stream) => stream.read(buf),
        }
    }
}

impl<S, C, D> Write for Transport<S, C>
where
    S: Read + Write,
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => socket.write(buf),
            Transport::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(socket) => socket.flush(),
            Transport::Tls(stream) => stream.flush(),
        }
    }
}
