//! A POP3 server (RFC 1939, with CAPA, UIDL, TOP and RFC 3206 response
//! codes) over Maildir, with a live management protocol (MGMT).
//!
//! It is a classic blocking server: an accept thread hands each connection
//! to a bounded thread pool, and a session thread reads commands line by
//! line and streams messages through a 4 KiB buffer.
//!
//! # Layout
//!
//! - [`config`]: the command line, parsed and validated into a `Config`.
//! - [`app`]: start-up; binds the listeners and starts the threads.
//! - [`server`]: accept threads, the session pool, the connection cap and
//!   the open-file limit.
//! - [`session`]: one POP3 connection: socket I/O in `session`, the RFC 1939
//!   state machine in `session::state`, message streaming in
//!   `session::transfer`.
//! - [`protocol`]: pure wire formats: line framing, the command parser, the
//!   CRLF/byte-stuffing encoder and size rules, and the `+OK`/`-ERR` reply
//!   writer shared by POP3 and MGMT.
//! - [`storage`]: Maildir on disk: file names and UIDLs, the maildrop lock,
//!   the numbered, locked maildrop and its commit.
//! - [`state`]: what threads share: users, counters, the connection cap and
//!   the MGMT pause, each behind its own lock or atomics; and the users
//!   file (`-f`) those users are loaded from and saved to.
//! - [`transport`]: one byte stream in clear or under TLS (server or
//!   client side), shared by POP3, MGMT and `admin_monitor`.
//! - [`tls`]: the rustls settings: the server's certificate, the client's
//!   trusted roots, and where cleartext logins are allowed.
//! - [`mgmt`]: the management protocol: its listener, its per-admin
//!   sessions, its command parser, and the `admin_monitor` client.
//!
//! Read RFC 1939 before changing `session::state` or `protocol`; the
//! comments there cite the sections they implement.

pub mod app;
pub mod config;
pub mod mgmt;
pub mod protocol;
pub mod server;
pub mod session;
pub mod state;
pub mod storage;
pub mod tls;
pub mod transport;
