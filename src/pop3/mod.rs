//! POP3 (RFC 1939, with CAPA, UIDL, TOP, STLS and AUTH PLAIN): one client
//! connection, from greeting to close, on one pool thread.
//!
//! - `connection`: the connection loop ([`serve`]) and `Pop3Connection`,
//!   the only POP3 code that touches the socket: framing, buffering, the
//!   outbox, the read deadline, corking and the TLS upgrade.
//! - [`command`]: the command grammar. Pure.
//! - [`session`]: the RFC 1939 state machine; `login`: its AUTHORIZATION
//!   commands; [`transfer`]: RETR and TOP streaming.
//! - [`encode`]: message bytes into a multi-line body, chunk by chunk. Pure.
//! - [`sasl`]: SASL PLAIN decoding. Pure.
//!
//! Nothing under this module uses `unsafe`; socket options go through
//! `rustix`.
#![forbid(unsafe_code)]

pub mod command;
mod connection;
pub mod encode;
mod login;
pub mod sasl;
pub mod session;
pub mod transfer;

pub use connection::serve;
