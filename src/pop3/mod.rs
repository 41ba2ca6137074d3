//! POP3 (RFC 1939, with CAPA, UIDL, TOP, STLS and AUTH PLAIN): one client
//! connection, from greeting to close, on one pool thread.
//!
//! A command line travels down this list and its reply back up:
//!
//! - `connection`: the connection loop ([`serve`]) and `Pop3Connection`,
//!   the only POP3 code that touches the socket: framing, buffering, the
//!   outbox, the read deadline, corking and the TLS upgrade.
//! - [`command`]: the command grammar, a line in, a
//!   [`Pop3Command`](command::Pop3Command) out. Pure.
//! - [`session`]: the RFC 1939 state, refusals and their limits, and the
//!   one dispatch from a command to its handler.
//! - `handlers`: the commands, one file per family: `login` (USER, PASS,
//!   AUTH, STLS), `listing` (STAT, LIST, UIDL), `fetching` (RETR, TOP),
//!   `deleting` (DELE, RSET, QUIT), and CAPA in `handlers/mod.rs`. They
//!   write to any `Write` and never see a socket.
//! - [`encode`]: message bytes into a multi-line body, chunk by chunk. Pure.
//! - [`sasl`]: SASL PLAIN decoding. Pure.
//! - [`server`]: the POP3 and POP3S listeners and the pool of session
//!   threads they feed, one thread per allowed connection.

pub mod command;
mod connection;
pub mod encode;
mod handlers;
pub mod sasl;
pub mod server;
pub mod session;

pub use connection::serve;
