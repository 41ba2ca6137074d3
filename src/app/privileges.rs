//! `--run-as USER` (and `--run-as-group GROUP`): giving up root for good
//! once the ports are bound and the TLS key is read, before any client is
//! served, so that sessions, the Maildirs and lock files they create, and
//! every later reload run as that account.
//!
//! The order is the one that cannot be undone half-way: the supplementary
//! groups (initgroups), then the group, then the user (setgid before
//! setuid, since after setuid the group can no longer be changed). glibc
//! applies each call to every thread of the process. The drop is then
//! checked: the ids must be the target's and going back to root must fail.
//! Started as the target user already (systemd's `User=` with
//! `CAP_NET_BIND_SERVICE`), there is nothing to drop and nothing fails.

use std::ffi::CString;
use std::fmt;

use nix::unistd::{self, Gid, Group, Uid, User};

/// Why the process could not become the `--run-as` account.
#[derive(Debug)]
pub enum DropError {
    NoSuchUser(String),
    NoSuchGroup(String),
    Lookup {
        name: String,
        error: nix::Error,
    },
    /// Not root, and not that user either.
    NotRoot {
        user: String,
    },
    Call {
        step: &'static str,
        error: nix::Error,
    },
    /// The ids are not the target's, or root could be regained.
    NotDropped {
        user: String,
    },
}

impl fmt::Display for DropError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropError::NoSuchUser(name) => write!(f, "--run-as: no user '{name}'"),
            DropError::NoSuchGroup(name) => write!(f, "--run-as-group: no group '{name}'"),
            DropError::Lookup { name, error } => write!(f, "--run-as: cannot look up '{name}': {error}"),
            DropError::NotRoot { user } => {
                write!(f, "--run-as {user}: started neither as root nor as {user}, so cannot switch to it")
            }
            DropError::Call { step, error } => write!(f, "--run-as: {step} failed: {error}"),
            DropError::NotDropped { user } => write!(f, "--run-as {user}: root privileges could not be given up"),
        }
    }
}

impl std::error::Error for DropError {}

/// What [`drop_to`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Was root, is now the user for good.
    FromRoot { uid: u32, gid: u32 },
    /// Was started as the user already.
    AlreadyThatUser,
}

/// Becomes `user_name` (with `group_name` in place of its own group, if
/// given) for the rest of the process's life.
///
/// # Errors
/// An unknown user or group, a failed call, or a drop that did not hold:
/// the caller must not serve anyone then.
pub fn drop_to(user_name: &str, group_name: Option<&str>) -> Result<Dropped, DropError> {
    let lookup_error = |error| DropError::Lookup { name: user_name.to_owned(), error };
    let user =
        User::from_name(user_name).map_err(lookup_error)?.ok_or_else(|| DropError::NoSuchUser(user_name.into()))?;
    let gid = match group_name {
        None => user.gid,
        Some(name) => {
            let group = Group::from_name(name).map_err(|error| DropError::Lookup { name: name.to_owned(), error })?;
            group.ok_or_else(|| DropError::NoSuchGroup(name.to_owned()))?.gid
        }
    };
    if !unistd::geteuid().is_root() {
        let already = unistd::getuid() == user.uid && unistd::geteuid() == user.uid && unistd::getegid() == gid;
        return if already {
            Ok(Dropped::AlreadyThatUser)
        } else {
            Err(DropError::NotRoot { user: user_name.to_owned() })
        };
    }
    let c_name = CString::new(user_name).map_err(|_| DropError::NoSuchUser(user_name.to_owned()))?;
    let call = |step| move |error| DropError::Call { step, error };
    unistd::initgroups(&c_name, gid).map_err(call("initgroups"))?;
    unistd::setgid(gid).map_err(call("setgid"))?;
    unistd::setuid(user.uid).map_err(call("setuid"))?;
    if !dropped_for_good(user.uid, gid) {
        return Err(DropError::NotDropped { user: user_name.to_owned() });
    }
    Ok(Dropped::FromRoot { uid: user.uid.as_raw(), gid: gid.as_raw() })
}

/// True if every id is the target's and neither root's user nor group can
/// be taken back.
fn dropped_for_good(uid: Uid, gid: Gid) -> bool {
    let ids_match = unistd::getuid() == uid
        && unistd::geteuid() == uid
        && unistd::getgid() == gid
        && unistd::getegid() == gid
        && unistd::getresuid().is_ok_and(|ids| ids.saved == uid)
        && unistd::getresgid().is_ok_and(|ids| ids.saved == gid);
    // The target could be root itself (`--run-as root`): nothing to regain.
    if uid.is_root() {
        return ids_match;
    }
    ids_match && unistd::setuid(Uid::from_raw(0)).is_err() && unistd::seteuid(Uid::from_raw(0)).is_err()
}
