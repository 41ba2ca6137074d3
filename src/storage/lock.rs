//! The exclusive maildrop lock (RFC 1939 §8: a maildrop is locked from a
//! successful PASS until the session ends).
//!
//! The lock is a file, `pop3d.lock`, created exclusively in the user's
//! Maildir and removed when the session ends. It holds the owner's process
//! id, process start time and host name (`<pid> <start> <host>`; earlier
//! versions wrote `<pid> <start>` alone, which still reads as a lock of
//! this host), and its modification time is the owner's heartbeat.
//! Creating it with `O_EXCL` works across threads, across server processes
//! sharing one mail root, and across hosts sharing it over NFS (v3 or
//! later) or CephFS; unlike an `flock` on an open file it costs no file
//! descriptor while held: ten thousand logged-in sessions must fit in the
//! process's descriptor limit.
//!
//! The heartbeat: one timer thread for the whole process refreshes the
//! modification time of every lock the process holds (a registry of their
//! paths, no open file each), every third of `--lock-stale-seconds`.
//!
//! A server killed with `kill -9` leaves its lock files behind. A lock is
//! therefore stale, and is broken, when its owner process no longer exists
//! (or exists with another start time, after pid reuse), as `/proc` shows
//! for a lock of this host; when its heartbeat is older than
//! `--lock-stale-seconds`, for a lock of another host, whose processes
//! cannot be seen from here; or when it names no owner at all (empty,
//! garbage, unreadable, not even a regular file) and has been left
//! untouched for a few seconds: whatever a hostile or broken disk leaves at
//! the lock's name, the user is not locked out for ever. Breaking renames
//! the lock aside and judges again what it moved (a rename keeps the
//! modification time), so that two processes or hosts breaking the same
//! stale lock at once cannot remove each other's fresh one.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use rustix::fs::{AtFlags, Timespec, Timestamps, CWD, UTIME_NOW, UTIME_OMIT};

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

/// The most of a lock file ever read. A token is at most some 100 octets
/// (a host name is at most 64); a longer file is not one, and reading it
/// whole would let a huge lock file cost memory at every login.
const MAX_LOCK_CONTENT: u64 = 128;

/// Dovecot's POP3 session lock timeout; `--lock-stale-seconds` changes it.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(300);

/// The heartbeat of another host's lock may be this old before the lock
/// is broken, in milliseconds; set once at start-up.
static STALE_AFTER_MS: AtomicU64 = AtomicU64::new(DEFAULT_STALE_AFTER.as_millis() as u64);

/// Sets how old another host's heartbeat may be (`--lock-stale-seconds`).
/// Called once at start-up, before the first login.
pub fn set_stale_after(after: Duration) {
    STALE_AFTER_MS.store(u64::try_from(after.as_millis()).unwrap_or(u64::MAX).max(1), Ordering::Relaxed);
}

fn stale_after() -> Duration {
    Duration::from_millis(STALE_AFTER_MS.load(Ordering::Relaxed))
}

/// How often held locks are touched: three heartbeats fit in the stale
/// time, so a late or lost one is no danger, and at most once a minute.
fn heartbeat_interval() -> Duration {
    (stale_after() / 3).clamp(Duration::from_millis(100), Duration::from_secs(60))
}

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
                    heartbeats().hold(&path, token);
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
        heartbeats().release(&self.path);
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
    // The host too: processes of two hosts may have one pid.
    let aside = path.with_extension(format!("stale.{}.{}.{attempt}", own_host(), std::process::id()));
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

/// Whether the lock at `path` is abandoned: the process of this host it
/// names is gone (or is another one, after pid reuse), the host it names
/// is another and its heartbeat is older than [`stale_after`], or it names
/// no owner we can read and has not been touched for
/// [`OWNERLESS_LOCK_GRACE`].
fn is_stale(path: &Path) -> io::Result<bool> {
    // lstat: the lock's own time, even if it is a symbolic link.
    let modified = fs::symlink_metadata(path)?.modified()?;
    let content = read_lock(path).unwrap_or_default();
    Ok(match owner(&content) {
        Some(owner) if owner.host.is_none_or(|host| host == own_host()) => {
            process_start_time(owner.pid).is_none_or(|now| now != owner.started)
        }
        Some(_) => untouched_for(modified) > stale_after(),
        None => untouched_for(modified) > OWNERLESS_LOCK_GRACE,
    })
}

/// Who a lock's content says holds it.
#[derive(Debug, PartialEq, Eq)]
struct LockOwner<'a> {
    pid: u32,
    started: &'a str,
    /// `None` in a lock of an earlier version, which wrote no host: it
    /// could only be shared by processes of one host.
    host: Option<&'a str>,
}

/// The `<pid> <start time> [<host>]` a lock's content names, if it names one.
fn owner(content: &[u8]) -> Option<LockOwner<'_>> {
    let mut fields = std::str::from_utf8(content).ok()?.split_whitespace();
    let pid = parse_decimal(fields.next()?).and_then(|pid| u32::try_from(pid).ok())?;
    let started = fields.next()?;
    Some(LockOwner { pid, started, host: fields.next() })
}

/// This host's name, read once: what locks it takes record, and how a
/// lock of another host is told from one of its own.
fn own_host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        // One field of the token and part of a file name: no white space,
        // no slash, never empty.
        let allowed = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        let name: String = name.trim().chars().filter(allowed).take(64).collect();
        if name.is_empty() {
            "localhost".to_owned()
        } else {
            name
        }
    })
}

/// How long ago `modified` was, either way: a time in the future (a clock
/// stepped back, or a file dated ahead on purpose) counts as long ago too,
/// or such a lock would never become stale.
fn untouched_for(modified: SystemTime) -> Duration {
    SystemTime::now().duration_since(modified).unwrap_or_else(|ahead| ahead.duration())
}

/// `<pid> <start time> <host>` of this process, computed once.
fn own_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let pid = std::process::id();
        let started = process_start_time(pid).unwrap_or_else(|| "0".to_owned());
        format!("{pid} {started} {}\n", own_host())
    })
}

/// The locks this process holds, whose heartbeat the timer thread keeps.
struct Heartbeats {
    /// Each held lock's path and the token it was written with.
    held: Mutex<HashMap<PathBuf, &'static str>>,
}

/// The process's one registry, its timer thread started with it.
fn heartbeats() -> &'static Heartbeats {
    static HEARTBEATS: OnceLock<Heartbeats> = OnceLock::new();
    HEARTBEATS.get_or_init(|| {
        let spawned = thread::Builder::new().name("lock-heartbeat".to_owned()).spawn(|| loop {
            thread::sleep(heartbeat_interval());
            heartbeats().beat();
        });
        if let Err(error) = spawned {
            log::error!("cannot start the lock heartbeat: {error}; other hosts may break held locks");
        }
        Heartbeats { held: Mutex::new(HashMap::new()) }
    })
}

impl Heartbeats {
    fn hold(&self, path: &Path, token: &'static str) {
        self.held.lock().insert(path.to_owned(), token);
    }

    fn release(&self, path: &Path) {
        self.held.lock().remove(path);
    }

    /// Touches every held lock. The list is copied first so that no login
    /// or logout waits on the disk behind the registry's mutex.
    fn beat(&self) {
        let held: Vec<(PathBuf, &'static str)> =
            self.held.lock().iter().map(|(path, token)| (path.clone(), *token)).collect();
        for (path, token) in held {
            if let Err(error) = touch_own_lock(&path, token) {
                // Gone for a moment (being judged by another host) or
                // replaced: the next round tries again until release.
                log::debug!("lock heartbeat for {}: {error}", path.display());
            }
        }
    }
}

/// Sets the modification time of the lock at `path` to now, if it is
/// still the one written with `token`: a lock that replaced ours must not
/// be kept alive by us. The time is set on the path, not through an open
/// file, without following a symbolic link; on NFS, "now" is the server's
/// clock, the one every host's breaker compares against.
fn touch_own_lock(path: &Path, token: &str) -> io::Result<()> {
    if read_lock(path)? != token.as_bytes() {
        return Err(io::Error::other("the lock is no longer ours"));
    }
    let times = Timestamps {
        last_access: Timespec { tv_sec: 0, tv_nsec: UTIME_OMIT },
        last_modification: Timespec { tv_sec: 0, tv_nsec: UTIME_NOW },
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
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
    fn a_lock_of_an_earlier_version_is_judged_as_this_hosts() {
        let dir = scratch("old-format");
        let own = own_token().rsplit_once(' ').unwrap().0;
        fs::write(dir.join(LOCK_FILE_NAME), format!("{own}\n")).unwrap();
        assert!(matches!(MaildropLock::acquire(&dir), Err(OpenError::Busy)), "our own live process");
        fs::write(dir.join(LOCK_FILE_NAME), "4294967295 1\n").unwrap();
        drop(MaildropLock::acquire(&dir).unwrap());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_lock_of_another_host_is_broken_only_once_its_heartbeat_is_old() {
        let dir = scratch("other-host");
        // A pid that cannot exist here: /proc must not decide for another host.
        fs::write(dir.join(LOCK_FILE_NAME), "4294967295 1 elsewhere.example\n").unwrap();
        assert!(matches!(MaildropLock::acquire(&dir), Err(OpenError::Busy)), "fresh heartbeat");
        touch(&dir, SystemTime::now() - DEFAULT_STALE_AFTER / 2);
        assert!(matches!(MaildropLock::acquire(&dir), Err(OpenError::Busy)), "heartbeat within the stale time");
        touch(&dir, SystemTime::now() - DEFAULT_STALE_AFTER - Duration::from_secs(5));
        let lock = MaildropLock::acquire(&dir).unwrap();
        assert_eq!(fs::read_to_string(dir.join(LOCK_FILE_NAME)).unwrap(), own_token());
        drop(lock);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn owners_are_read_in_both_formats() {
        assert_eq!(owner(b"12 345\n"), Some(LockOwner { pid: 12, started: "345", host: None }));
        assert_eq!(owner(b"12 345 mx1\n"), Some(LockOwner { pid: 12, started: "345", host: Some("mx1") }));
        assert_eq!(owner(b"12\n"), None);
        assert!(own_token().ends_with(&format!(" {}\n", own_host())));
    }

    #[test]
    fn the_heartbeat_refreshes_only_our_own_lock() {
        let dir = scratch("heartbeat");
        let lock = MaildropLock::acquire(&dir).unwrap();
        let path = dir.join(LOCK_FILE_NAME);
        let old = SystemTime::now() - Duration::from_secs(1000);
        touch(&dir, old);
        heartbeats().beat();
        assert!(untouched_for(fs::metadata(&path).unwrap().modified().unwrap()) < Duration::from_secs(100));
        fs::write(&path, "4294967295 1 elsewhere.example\n").unwrap();
        touch(&dir, old);
        heartbeats().beat();
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), old, "someone else's lock is left alone");
        drop(lock);
        assert!(path.exists(), "and not removed");
        assert!(!heartbeats().held.lock().contains_key(&path));
        fs::remove_dir_all(dir).unwrap();
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
