//! Per-connection limits against abuse, fixed at start-up.
//!
//! They keep one client from holding a pool slot for long without logging
//! in, from guessing passwords quickly, and from hammering the parser. The
//! defaults follow Dovecot's (auth_failure_delay = 2 s, three login
//! attempts) and RFC 1939 §3 (ten minutes of idleness before autologout).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLimits {
    /// Time from connecting to a successful login (`--login-timeout`),
    /// however busy the client keeps itself meanwhile. It does not depend
    /// on `idle_timeout`.
    pub login_timeout: Duration,
    /// Idle time allowed between commands after login (`-t`, the RFC 1939
    /// §3 autologout timer), and the time one write of a reply may stay
    /// blocked on a client that does not read, before login too.
    pub idle_timeout: Duration,
    /// Wait before answering a failed PASS, the same for every cause.
    pub auth_failure_delay: Duration,
    /// Failed logins allowed on one connection before it is closed.
    pub max_auth_failures: u32,
    /// Bad commands (unknown, malformed, wrong state, over-long) allowed
    /// before login, then after login, before the connection is closed.
    pub max_bad_commands_before_login: u32,
    pub max_bad_commands_after_login: u32,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
            auth_failure_delay: Duration::from_secs(2),
            max_auth_failures: 3,
            max_bad_commands_before_login: 3,
            max_bad_commands_after_login: 20,
        }
    }
}
