//! The exclusive maildrop lock (RFC 1939 §8: a maildrop is locked from a
//! successful PASS until the session ends).
//!
//! The lock is a file, `pop3d.lock`, created exclusively in the user's
//! Maildir and removed when the session ends. It holds the owner's process
//! id and process start time. Creating it with `O_EXCL` works across
//! threads and across server processes sharing one mail root, and unlike an
//! `flock` on an open file it costs no file descriptor while held: ten
//! thousand logged-in sessions must fit in the process's descriptor limit.
//!
//! A server killed with `kill -9` leaves its lock files behind. A lock is
//! therefore stale, and is broken, when its owner process no longer exists
//! (or exists with another start time, after pid reuse). Breaking goes
//! through a rename so that two processes breaking the same stale lock at
//! once cannot remove each other's fresh one.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use super::maildrop::OpenError;

pub const LOCK_FILE_NAME: &str = "pop3d.lock";

/// A lock whose content cannot be read yet may be one being written right
/// now; only after this long without content is it treated as abandoned.
const UNWRITTEN_LOCK_GRACE: Duration = Duration::from_secs(10);

/// A held maildrop lock; dropping it releases the lock.
#[derive(Debug)]
pub struct MaildropLock {
    path: PathBuf,
    token: String,
}

impl MaildropLock {
    /// Takes the lock on the Maildir at `maildir`, breaking a stale one.
    ///
    /// # Errors
    ///
    /// [`OpenError::Busy`] while another live session holds it.
    pub fn acquire(maildir: &Path) -> Result<Self, OpenError> {
        let path = maildir.join(LOCK_FILE_NAME);
        let token = own_token().to_owned();
        // Two rounds: the second follows the breaking of a stale lock.
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(token.as_bytes())?;
                    return Ok(Self { path, token });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    if !break_if_stale(&path)? {
                        return Err(OpenError::Busy);
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(OpenError::Busy)
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        // Remove only our own lock, never one that replaced it.
        if fs::read_to_string(&self.path).is_ok_and(|content| content == self.token) {
            if let Err(error) = fs::remove_file(&self.path) {
                log::warn!("cannot remove lock {}: {error}", self.path.display());
            }
        }
    }
}

/// Removes the lock at `path` if its owner is gone; true if it is gone now.
fn break_if_stale(path: &Path) -> io::Result<bool> {
    let content = match fs::read_to_string(path) {
        Ok(content) => content,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(error) => return Err(error),
    };
    if !is_stale(path, &content) {
        return Ok(false);
    }
    // Move it aside under a name only we use, then check we moved the lock
    // we judged and not a fresh one created in between.
    static BREAKS: AtomicU64 = AtomicU64::new(0);
    let attempt = BREAKS.fetch_add(1, Ordering::Relaxed);
    let aside = path.with_extension(format!("stale.{}.{attempt}", std::process::id()));
    match fs::rename(path, &aside) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(error) => return Err(error),
    }
    let moved = fs::read_to_string(&aside).unwrap_or_default();
    if moved != content {
        // Someone else's fresh lock: put it back unless yet another exists.
        let _ = fs::hard_link(&aside, path);
        let _ = fs::remove_file(&aside);
        return Ok(false);
    }
    fs::remove_file(&aside)?;
    log::warn!("removed stale lock {} ({})", path.display(), content.trim());
    Ok(true)
}

fn is_stale(path: &Path, content: &str) -> bool {
    let mut fields = content.split_whitespace();
    let owner = fields.next().and_then(|pid| pid.parse::<u32>().ok());
    let started = fields.next().map(str::to_owned);
    match (owner, started) {
        (Some(pid), Some(started)) => process_start_time(pid).is_none_or(|now| now != started),
        _ => {
            let age = fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| SystemTime::now().duration_since(modified).ok());
            age.is_some_and(|age| age > UNWRITTEN_LOCK_GRACE)
        }
    }
}

/// `<pid> <start time>` of this process, computed once.
fn own_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let pid = std::process::id();
        let started = process_start_time(pid).unwrap_or_else(|| "0".to_owned());
        format!("{pid} {started}\n")
    })
}

/// The start time of process `pid` in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), or `None` when no such process exists.
fn process_start_time(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; the fields
    // after its closing parenthesis start at field 3.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(22 - 3).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pop3d-lock-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_held_lock_is_busy_until_dropped() {
        let dir = scratch("held");
        let lock = MaildropLock::acquire(&dir).unwrap();
        assert!(matches!(MaildropLock::acquire(&dir), Err(OpenError::Busy)));
        drop(lock);
        assert!(!dir.join(LOCK_FILE_NAME).exists());
        MaildropLock::acquire(&dir).unwrap();
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_lock_of_a_dead_process_is_broken() {
        let dir = scratch("stale");
        // pid_max is at most 2^22, so this pid cannot exist.
        fs::write(dir.join(LOCK_FILE_NAME), "4294967295 1\n").unwrap();
        let lock = MaildropLock::acquire(&dir).unwrap();
        assert_eq!(fs::read_to_string(dir.join(LOCK_FILE_NAME)).unwrap(), own_token());
        drop(lock);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_lock_of_a_reused_pid_is_broken() {
        let dir = scratch("reused");
        fs::write(dir.join(LOCK_FILE_NAME), format!("{} 1\n", std::process::id())).unwrap();
        assert!(MaildropLock::acquire(&dir).is_ok());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_fresh_unwritten_lock_is_respected() {
        let dir = scratch("unwritten");
        fs::write(dir.join(LOCK_FILE_NAME), "").unwrap();
        assert!(matches!(MaildropLock::acquire(&dir), Err(OpenError::Busy)));
        fs::remove_dir_all(dir).unwrap();
    }
}
