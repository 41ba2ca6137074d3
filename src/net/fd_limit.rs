//! The open-file limit, which bounds how many connections can be served.
//!
//! Each idle session holds one descriptor (its socket); a RETR in progress
//! holds a second (the message file). At start the process raises its soft
//! limit to the hard limit where the system allows, and the connection cap
//! may never exceed what the resulting limit can carry.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors kept for listeners, logs, users-file writes and MGMT.
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// The soft open-file limit after trying to raise it to the hard limit.
pub fn raise_open_file_limit() -> u64 {
    let limit = getrlimit(Resource::Nofile);
    // `None` means no limit (RLIM_INFINITY): larger than any count.
    let (current, maximum) = (limit.current.unwrap_or(u64::MAX), limit.maximum.unwrap_or(u64::MAX));
    if current < maximum {
        if setrlimit(Resource::Nofile, Rlimit { current: limit.maximum, maximum: limit.maximum }).is_ok() {
            log::info!("open-file limit raised from {current} to {maximum}");
            return maximum;
        }
        log::warn!("cannot raise the open-file limit above {current}");
    }
    current
}

/// The highest connection cap a descriptor limit can carry.
pub fn max_connections_for(open_file_limit: u64) -> usize {
    open_file_limit.saturating_sub(RESERVED_DESCRIPTORS).max(1).min(u32::MAX as u64) as usize
}
