//! A POP3 server (RFC 1939, with CAPA, UIDL, TOP and RFC 3206 response
//! codes) over Maildir, with a live management protocol (MGMT).
//!
//! It is a classic blocking server: an accept thread hands each connection
//! to a bounded thread pool, and a session thread reads commands line by
//! line and streams messages through a 4 KiB buffer.
//!
//! # Layout
//!
//! - [`config`]: the command line (and the `--config` file, through
//!   [`config::file`]), parsed and validated into a `Config`.
//! - [`app`]: start-up and shutdown; binds the listeners, gives up root
//!   (`--run-as`), starts the threads, and reloads on SIGHUP.
//! - [`net`]: sockets for both protocols: the one accept loop, the
//!   open-file limit, TLS settings, the clear-or-TLS [`net::transport`],
//!   and reading a load balancer's PROXY header ([`net::proxy`]) from the
//!   trusted networks ([`net::cidr`]).
//! - [`wire`]: the text shapes POP3 and MGMT share: line framing, `+OK`/`-ERR`
//!   replies and data lines, decimal numbers; and the PROXY protocol
//!   header. Pure.
//! - [`pop3`]: POP3: the command parser, the message encoder and SASL PLAIN
//!   (pure); the RFC 1939 session and its handlers, one file per command
//!   family; the connection loop, the only POP3 code that touches the
//!   socket; the listeners and the session pool.
//! - [`mgmt`]: the management protocol, laid out as POP3 is: the verb table
//!   and parser, the connection loop, the session and its handlers, the
//!   admin threads; and the `admin_monitor` client.
//! - [`metrics`]: the Prometheus endpoint (`--metrics-addr`): the text
//!   format, the list of metrics, and a small HTTP responder on its own
//!   thread.
//! - [`storage`]: Maildir on disk: where each user's Maildir is
//!   (`--mail-location`), file names and UIDLs, sizes, the maildrop
//!   lock, the numbered, locked maildrop and its commit, its compact
//!   message list and the cache that reuses that list while the Maildir is
//!   unchanged, and the one safe way to open a file there.
//! - [`accounts`]: users and passwords, and the users file (`-f`).
//! - [`shared`]: what threads share: counters, the connection cap, the MGMT
//!   pause and the shutdown list, each behind its own lock or atomics.
//!
//! `ARCHITECTURE.md`, at the top of the repository, follows one RETR and
//! one ADD_USER through every function they pass. Read RFC 1939 before
//! changing `pop3` or `wire`; the comments there cite the sections they
//! implement.
//!
//! # Errors
//!
//! An error that decides what happens next is an enum with one variant per
//! case the caller treats differently (`storage::maildrop::OpenError::Busy`
//! becomes `-ERR [IN-USE]`, `Io` becomes `-ERR [SYS/TEMP]`); every such
//! type implements `std::error::Error`, and its `Display` is plain English
//! for logs. The protocols choose their reply texts themselves (POP3 in its
//! handlers, MGMT in `mgmt::error`), so a lower layer never writes wire
//! text. `io::Error` is passed up unchanged where the only thing to do is
//! to end the connection or report the failure. Nothing panics on client
//! input or disk contents.
//!
//! # Safety
//!
//! The library has no `unsafe` code (`forbid`): socket and process calls
//! that `std` lacks go through `rustix`. The one `unsafe` block, the
//! allocator's options, lives in the `pop3d` binary with its reason.

#![forbid(unsafe_code)]

pub mod accounts;
pub mod app;
pub mod config;
pub mod metrics;
pub mod mgmt;
pub mod net;
pub mod pop3;
pub mod shared;
pub mod storage;
pub mod wire;
