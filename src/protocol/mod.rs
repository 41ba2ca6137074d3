//! The wire formats, as pure functions and small state machines.
//!
//! Nothing here owns a socket or a file: framing reads from any `BufRead`,
//! replies go to any `Write`. That keeps every rule of RFC 1939 testable in
//! isolation, split at every byte boundary.

pub mod command;
pub mod encode;
pub mod line;
pub mod response;
pub mod sasl;
