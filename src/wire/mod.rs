//! The text shapes POP3 and MGMT share, as pure functions.
//!
//! Nothing here owns a socket or a file: framing reads from any `BufRead`,
//! replies go to any `Write`, numbers come from `&str`. That keeps every
//! rule testable in isolation, split at every byte boundary.

pub mod line;
pub mod number;
pub mod proxy_header;
pub mod reply;
