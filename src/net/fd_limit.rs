//! The open-file limit, which bounds how many connections can be served.
//!
//! Each idle session holds one descriptor (its socket); a RETR in progress
//! holds a second (the message file). At start the process raises its soft
//! limit to the hard limit where the system allows, and the connection cap
//! may never exceed what the resulting limit can carry.

/// Descriptors kept for listeners, logs, users-file writes and MGMT.
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// The soft open-file limit after trying to raise it to the hard limit.
pub fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        log::warn!("cannot read the open-file limit; assuming 1024");
        return 1024;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            log::info!("open-file limit raised from {} to {}", limit.rlim_cur, limit.rlim_max);
            return raised.rlim_cur;
        }
        log::warn!("cannot raise the open-file limit above {}", limit.rlim_cur);
    }
    limit.rlim_cur
}

/// The highest connection cap a descriptor limit can carry.
pub fn max_connections_for(open_file_limit: u64) -> usize {
    open_file_limit.saturating_sub(RESERVED_DESCRIPTORS).max(1).min(u32::MAX as u64) as usize
}
