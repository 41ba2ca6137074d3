//! The MGMT protocol's fixed numbers and texts, shared by the server and
//! the `admin_monitor` client.
//!
//! Both sides must agree on these, so they live apart from either side:
//! the client never imports from the server's session code.

/// The greeting; `MGMT/<major>.<minor>` is what clients check.
pub const GREETING: &str = "Management server ready MGMT/1.0";

/// The protocol version this server speaks, as in [`GREETING`]. A client
/// refuses a server of another major version before it sends a password.
pub const PROTOCOL_VERSION: (u32, u32) = (1, 0);

/// The longest pause of POP3 an admin may ask for, in seconds. The client
/// needs it too: the reply to a pause comes only once it is over.
pub const MAX_PAUSE_SECS: u64 = 3600;
