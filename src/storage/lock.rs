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
//! (or exists with another start time, after pid reuse), or when it names
//! no owner at all (empty, garbage, unreadable, not even a regular file)
//! and has been left untouched for a few seconds: whatever a hostile or
//! broken disk leaves at the lock's name, the user is not locked out for
//! ever. Breaking renames the lock aside and judges again what it moved, so
//! that two processes breaking the same stale lock at once cannot remove
//! each other's fresh one.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use super::maildrop::OpenError;
use super::regular_file;
use crate::wire::number::parse_decimal;

pub const LOCK_FILE_NAME: &str = "pop3d.lock";

/// A lock that names no owner we can read (empty, garbage, unreadable, not
/// a regular file) may be one being written right now; only after this
/// long untouched is it treated as abandoned. No writer takes seconds to
/// write a few octets, and a lock of garbage must not lock its user out
/// for ever.
const OWNERLESS_LOCK_GRACE: Duration = Duration::from_secs(10);

/// The most of a lock file ever read. A token is some 30 octets; a longer
/// file is not one, and reading it whole would let a huge lock file cost
/// memory at every login.
const MAX_LOCK_CONTENT: u64 = 64;

/// A held maildrop lock; dropping it releases the lock.
#[derive(Debug)]
pub struct MaildropLock {
    path: PathBuf,
    token: &'static str,
}

impl MaildropLock {
    /// Takes the lock on the Maildir at `maildir`, breaking a stale one.
    ///
    /// # Errors
    ///
    /// [`OpenError::Busy`] while another live session holds it.
    pub fn acquire(maildir: &Path) -> Result<Self, OpenError> {
        let path = maildir.join(LOCK_FILE_NAME);
        let token = own_token();
        // Two rounds: the second follows the breaking of a stale lock.
        for _ in 0..2 {
            // O_EXCL: fails on anything already there, a symbolic link too.
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
        if read_lock(&self.path).is_ok_and(|content| content == self.token.as_bytes()) {
            if let Err(error) = fs::remove_file(&self.path) {
                log::warn!("cannot remove lock {}: {error}", self.path.display());
            }
        }
    }
}

/// The first [`MAX_LOCK_CONTENT`] octets of the lock at `path`, opened like
/// a message file: a FIFO put there must not hang the login.
fn read_lock(path: &Path) -> io::Result<Vec<u8>> {
    let mut content = Vec::new();
    regular_file::open(path)?.take(MAX_LOCK_CONTENT).read_to_end(&mut content)?;
    Ok(content)
}

/// Removes the lock at `path` if it is stale; true if it is gone now.
fn break_if_stale(path: &Path) -> io::Result<bool> {
    match is_stale(path) {
        Ok(true) => {}
        Ok(false) => return Ok(false),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(error) => return Err(error),
    }
    // Move it aside under a name only we use, then judge what we moved: if
    // another session broke the lock and took a fresh one in between, we
    // moved that fresh one, which is not stale and must go back.
    static BREAKS: AtomicU64 = AtomicU64::new(0);
    let attempt = BREAKS.fetch_add(1, Ordering::Relaxed);
    let aside = path.with_extension(format!("stale.{}.{attempt}", std::process::id()));
    match fs::rename(path, &aside) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(error) => return Err(error),
    }
    if !is_stale(&aside).unwrap_or(false) {
        // Put it back unless yet another lock exists.
        let _ = fs::hard_link(&aside, path);
        let _ = fs::remove_file(&aside);
        return Ok(false);
    }
    let content = read_lock(&aside).unwrap_or_default();
    fs::remove_file(&aside)?;
    // Escaped: a lock's content is anyone's bytes, and a line end in it
    // must not forge a log line.
    log::warn!("removed stale lock {} ({})", path.display(), content.trim_ascii().escape_ascii());
    Ok(true)
}

/// Whether the lock at `path` is abandoned: the process it names is gone
/// (or is another one, after pid reuse), or it names none we can read and
/// has not been touched for [`OWNERLESS_LOCK_GRACE`].
fn is_stale(path: &Path) -> io::Result<bool> {
    // lstat: the lock's own time, even if it is a symbolic link.
    let modified = fs::symlink_metadata(path)?.modified()?;
    let content = read_lock(path).unwrap_or_default();
    Ok(match owner(&content) {
        Some((pid, started)) => process_start_time(pid).is_none_or(|now| now != started),
        None => untouched_for(modified) > OWNERLESS_LOCK_GRACE,
    })
}

/// The `<pid> <start time>` a lock's content names, if it names one.
fn owner(content: &[u8]) -> Option<(u32, &str)> {
    let mut fields = std::str::from_utf8(content).ok()?.split_whitespace();
    let pid = parse_decimal(fields.next()?).and_then(|pid| u32::try_from(pid).ok())?;
    Some((pid, fields.next()?))
}

/// How long ago `modified` was, either way: a time in the future (a clock
/// stepped back, or a file dated ahead on purpose) counts as long ago too,
/// or such a lock would never become stale.
fn untouched_for(modified: SystemTime) -> Duration {
    SystemTime::now().duration_since(modified).unwrap_or_else(|ahead| ahead.duration())
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

    /// Dates the lock in `dir` (a file or a FIFO) at `when`.
    fn touch(dir: &Path, when: SystemTime) {
        use std::os::unix::fs::OpenOptionsExt;
        let lock = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(dir.join(LOCK_FILE_NAME));
        lock.unwrap().set_modified(when).unwrap();
    }

    #[test]
    fn a_fresh_unwritten_lock_is_respected() {
        let dir = scratch("unwritten");
        fs::write(dir.join(LOCK_FILE_NAME), "").unwrap();
        assert!(matches!(MaildropLock::acquire(&dir), Err(OpenError::Busy)));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_lock_naming_no_owner_is_broken_only_once_old() {
        let dir = scratch("garbage");
        let huge = vec![b'9'; 1 << 16];
        for garbage in [&b""[..], b"\xff\xfe\x00\x80", b"12345", b"pid start", &huge] {
            fs::write(dir.join(LOCK_FILE_NAME), garbage).unwrap();
            assert!(matches!(MaildropLock::acquire(&dir), Err(OpenError::Busy)), "fresh {garbage:?}");
            touch(&dir, SystemTime::now() - OWNERLESS_LOCK_GRACE * 2);
            drop(MaildropLock::acquire(&dir).unwrap());
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_lock_dated_in_the_future_is_broken() {
        let dir = scratch("future");
        fs::write(dir.join(LOCK_FILE_NAME), b"\xff").unwrap();
        touch(&dir, SystemTime::now() + Duration::from_secs(3600));
        drop(MaildropLock::acquire(&dir).unwrap());
        fs::remove_dir_all(dir).unwrap();
    }

    /// A FIFO at the lock's name is never read (the login would wait for a
    /// writer for ever): it counts as a lock naming no owner.
    #[test]
    fn a_fifo_lock_is_judged_without_reading_it() {
        let dir = scratch("fifo");
        let mode = rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR;
        rustix::fs::mkfifoat(rustix::fs::CWD, dir.join(LOCK_FILE_NAME), mode).unwrap();
        assert!(matches!(MaildropLock::acquire(&dir), Err(OpenError::Busy)), "fresh");
        touch(&dir, SystemTime::now() - OWNERLESS_LOCK_GRACE * 2);
        drop(MaildropLock::acquire(&dir).unwrap());
        fs::remove_dir_all(dir).unwrap();
    }
}
