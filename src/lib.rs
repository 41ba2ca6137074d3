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
//! - [`app`]: start-up and shutdown; binds the listeners, starts the threads.
//! - [`net`]: sockets for both protocols: listeners and accept threads, the
//!   open-file limit, TLS settings, and the clear-or-TLS [`net::transport`].
//! - [`wire`]: the text shapes POP3 and MGMT share: line framing, `+OK`/`-ERR`
//!   replies and data lines, decimal numbers. Pure.
//! - [`pop3`]: one POP3 connection: the command parser, the message encoder
//!   and SASL PLAIN (pure), the RFC 1939 session and its handlers, and the
//!   connection loop, the only POP3 code that touches the socket.
//! - [`mgmt`]: the management protocol: its parser, its per-admin sessions,
//!   and the `admin_monitor` client.
//! - [`storage`]: Maildir on disk: file names and UIDLs, sizes, the maildrop
//!   lock, the numbered, locked maildrop and its commit.
//! - [`accounts`]: users and passwords, and the users file (`-f`).
//! - [`shared`]: what threads share: counters, the connection cap, the MGMT
//!   pause and the shutdown list, each behind its own lock or atomics.
//!
//! Read RFC 1939 before changing `pop3` or `wire`; the comments there cite the
//! sections they implement.

#![forbid(unsafe_code)]

pub mod accounts;
pub mod app;
pub mod config;
pub mod mgmt;
pub mod net;
pub mod pop3;
pub mod shared;
pub mod storage;
pub mod wire;
