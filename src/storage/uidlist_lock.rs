//! Dovecot's own lock on `dovecot-uidlist`, which pop3d takes before it
//! gives new mail its UIDs, so that pop3d and Dovecot (its POP3 and IMAP
//! servers, its delivery agent, `doveadm`) never hand out one UID twice.
//!
//! The lock is Dovecot's "dotlock" (src/lib/file-dotlock.c): the file
//! `dovecot-uidlist.lock` in the Maildir's root, created with `O_EXCL`,
//! holding `<pid>:<hostname>` of its owner, and removed by it. It is held
//! only while the uidlist is read, extended and written, never for a whole
//! session. A lock left behind by a process that died is overridden as
//! Dovecot overrides it, so each program breaks the other's stale locks:
//! - at once when it is more than [`PID_CHECK_AGE`] old and names a process
//!   of this host that no longer exists;
//! - otherwise once neither it nor the uidlist has changed for
//!   [`STALE_TIMEOUT`] (Dovecot's `MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT`).
//!
//! Dovecot waits up to two minutes for the lock; a login waits at most
//! [`PATIENCE`], then fails with `[IN-USE]` so the client retries later.

use std::fs::{self, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::maildrop::OpenError;
use super::regular_file;
use super::uidlist::UIDLIST_FILE_NAME;
use crate::wire::number::parse_decimal;

pub const UIDLIST_LOCK_NAME: &str = "dovecot-uidlist.lock";

/// Dovecot's `MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT` (maildir-uidlist.h).
pub const STALE_TIMEOUT: Duration = Duration::from_secs(120);

/// Dovecot's `STALE_PID_CHECK_SECS`: a younger lock is taken to belong to a
/// live process without looking (its owner may not have written it yet).
pub const PID_CHECK_AGE: Duration = Duration::from_secs(2);

/// How long a login waits for a lock held by a live process. Dovecot holds
/// it for the length of one synchronisation, well under this.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How often a waiting login looks at the lock again.
const POLL: Duration = Duration::from_millis(100);

/// The most of a lock file ever read (Dovecot reads up to 511 octets).
const MAX_LOCK_CONTENT: u64 = 512;

/// A held `dovecot-uidlist.lock`; dropping it removes the lock.
#[derive(Debug)]
pub struct UidlistLock {
    path: PathBuf,
    /// Device and inode of the lock file created, so that a lock someone
    /// else created after overriding ours is never removed.
    identity: (u64, u64),
}

impl UidlistLock {
    /// Takes the lock of the Maildir at `maildir` (whose root's metadata is
    /// `root`), overriding a stale one.
    ///
    /// # Errors
    ///
    /// [`OpenError::Busy`] when a live process held it for all of
    /// [`PATIENCE`].
    pub fn acquire(maildir: &Path, root: &Metadata) -> Result<Self, OpenError> {
        let path = maildir.join(UIDLIST_LOCK_NAME);
        let uidlist = maildir.join(UIDLIST_FILE_NAME);
        let deadline = Instant::now() + PATIENCE;
        let mut watch = Watch::default();
        loop {
            match regular_file::create_in_maildir(&path, root) {
                Ok(mut file) => {
                    let meta = file.metadata()?;
                    let lock = Self { path, identity: (meta.dev(), meta.ino()) };
                    file.write_all(own_content().as_bytes())?;
                    return Ok(lock);
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error.into()),
            }
            match watch.judge(now_secs(), &path, &uidlist)? {
                Verdict::Gone => continue,
                Verdict::Stale => {
                    override_lock(&path)?;
                    continue;
                }
                Verdict::Held => {}
            }
            if Instant::now() >= deadline {
                return Err(OpenError::Busy);
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for UidlistLock {
    fn drop(&mut self) {
        // The inode of a removed file may be reused at once, so the owner
        // it names is compared too.
        let same_file = fs::symlink_metadata(&self.path).is_ok_and(|meta| (meta.dev(), meta.ino()) == self.identity);
        let ours = same_file && read_lock(&self.path).is_ok_and(|content| content == own_content().as_bytes());
        if !ours {
            log::warn!("{} was overridden while pop3d held it", self.path.display());
            return;
        }
        if let Err(error) = fs::remove_file(&self.path) {
            log::warn!("cannot remove lock {}: {error}", self.path.display());
        }
    }
}

/// What a look at someone else's lock found.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// It is gone: try to create ours at once.
    Gone,
    /// Abandoned: override it.
    Stale,
    /// Someone holds it: wait.
    Held,
}

/// What Dovecot's `check_lock()` remembers between looks: when the lock or
/// the uidlist last changed, in seconds since the epoch.
#[derive(Debug, Default)]
struct Watch {
    lock: Option<FileState>,
    uidlist: Option<FileState>,
    last_change: i64,
}

/// The parts of a file's metadata whose change means someone is at work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileState {
    dev: u64,
    ino: u64,
    ctime: i64,
    mtime: i64,
    size: u64,
}

impl FileState {
    fn of(meta: &Metadata) -> Self {
        Self { dev: meta.dev(), ino: meta.ino(), ctime: meta.ctime(), mtime: meta.mtime(), size: meta.size() }
    }
}

impl Watch {
    /// Looks at the lock at `now` (seconds since the epoch).
    fn judge(&mut self, now: i64, lock: &Path, uidlist: &Path) -> io::Result<Verdict> {
        // lstat: the lock's own times, even if it is a symbolic link.
        let Some(state) = lstat(lock)? else {
            return Ok(Verdict::Gone);
        };
        note_change(&mut self.lock, state, &mut self.last_change, now);
        if state.mtime < now - PID_CHECK_AGE.as_secs() as i64 {
            if let Some(pid) = local_pid(lock) {
                if pid != std::process::id() && process_exists(pid) {
                    return Ok(Verdict::Held);
                }
                // Its owner is gone (or it names this very process, which
                // holds no such lock: pop3d.lock lets one session at a
                // time into a Maildir). Unless it was replaced meanwhile.
                return Ok(match lstat(lock)? {
                    Some(again) if again == state => Verdict::Stale,
                    Some(_) => Verdict::Held,
                    None => Verdict::Gone,
                });
            }
        }
        let timeout = STALE_TIMEOUT.as_secs() as i64;
        if now > self.last_change + timeout {
            // An owner at work on the uidlist counts as alive too.
            if let Some(state) = stat(uidlist)? {
                note_change(&mut self.uidlist, state, &mut self.last_change, now);
            }
        }
        Ok(if now > self.last_change + timeout { Verdict::Stale } else { Verdict::Held })
    }
}

/// Dovecot's `update_change_info()`: the first look dates the change at
/// the file's own time, a later change at `now`.
fn note_change(seen: &mut Option<FileState>, state: FileState, last_change: &mut i64, now: i64) {
    if *seen == Some(state) {
        return;
    }
    let changed_at = match seen {
        None if state.mtime <= now && state.mtime > state.ctime => state.mtime,
        None => state.ctime,
        Some(_) => now,
    };
    *last_change = (*last_change).max(changed_at);
    *seen = Some(state);
}

fn lstat(path: &Path) -> io::Result<Option<FileState>> {
    missing_is_none(fs::symlink_metadata(path))
}

fn stat(path: &Path) -> io::Result<Option<FileState>> {
    missing_is_none(fs::metadata(path))
}

fn missing_is_none(meta: io::Result<Metadata>) -> io::Result<Option<FileState>> {
    match meta {
        Ok(meta) => Ok(Some(FileState::of(&meta))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Removes a stale lock, then pauses as Dovecot's `dotlock_override()`
/// does, so that another process overriding the same lock at this moment
/// does not remove the one this process creates next.
fn override_lock(path: &Path) -> io::Result<()> {
    let content = read_lock(path).unwrap_or_default();
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    // Escaped: a lock's content is anyone's bytes, and a line end in it
    // must not forge a log line.
    log::warn!("overrode stale lock {} ({})", path.display(), content.trim_ascii().escape_ascii());
    std::thread::sleep(Duration::from_millis(100 + u64::from(std::process::id() % 100)));
    Ok(())
}

/// The first [`MAX_LOCK_CONTENT`] octets of the lock at `path`, opened like
/// a message file: a FIFO put there must not hang the login.
fn read_lock(path: &Path) -> io::Result<Vec<u8>> {
    let mut content = Vec::new();
    regular_file::open(path)?.take(MAX_LOCK_CONTENT).read_to_end(&mut content)?;
    Ok(content)
}

/// The pid a lock names, if it names a process of this host: Dovecot's
/// `read_local_pid()`, which wants `<pid>:<hostname>`.
fn local_pid(path: &Path) -> Option<u32> {
    let content = read_lock(path).ok()?;
    let content = content.strip_suffix(b"\n").unwrap_or(&content);
    let (pid, host) = std::str::from_utf8(content).ok()?.split_once(':')?;
    if host != hostname() {
        return None;
    }
    parse_decimal(pid).and_then(|pid| u32::try_from(pid).ok()).filter(|&pid| pid > 0)
}

/// Whether process `pid` exists: `kill(pid, 0)` does not fail with `ESRCH`.
fn process_exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    !matches!(rustix::process::test_kill_process(pid), Err(rustix::io::Errno::SRCH))
}

/// What this process writes into a lock it creates.
fn own_content() -> String {
    format!("{}:{}", std::process::id(), hostname())
}

/// This host's name as `gethostname()` gives it, which Dovecot compares.
fn hostname() -> &'static str {
    static HOSTNAME: OnceLock<String> = OnceLock::new();
    HOSTNAME.get_or_init(|| {
        let name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        name.trim_end_matches('\n').to_owned()
    })
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("pop3d-uidlist-lock-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn lock(&self) -> PathBuf {
            self.0.join(UIDLIST_LOCK_NAME)
        }

        fn acquire(&self) -> Result<UidlistLock, OpenError> {
            UidlistLock::acquire(&self.0, &fs::metadata(&self.0).unwrap())
        }

        /// Writes a lock as another program would, dated `age` ago.
        fn plant(&self, content: &str, age: Duration) {
            fs::write(self.lock(), content).unwrap();
            let file = fs::File::options().write(true).open(self.lock()).unwrap();
            file.set_modified(SystemTime::now() - age).unwrap();
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_lock_names_its_owner_as_dovecot_writes_it_and_goes_away() {
        let dir = Scratch::new("own");
        let lock = dir.acquire().unwrap();
        let content = fs::read_to_string(dir.lock()).unwrap();
        assert_eq!(content, format!("{}:{}", std::process::id(), hostname()));
        assert_eq!(local_pid(&dir.lock()), Some(std::process::id()));
        drop(lock);
        assert!(!dir.lock().exists());
    }

    #[test]
    fn a_lock_of_a_dead_local_process_is_overridden_at_once() {
        let dir = Scratch::new("dead");
        // pid_max is at most 2^22, so this pid cannot exist.
        dir.plant(&format!("4194999:{}", hostname()), PID_CHECK_AGE * 2);
        let started = Instant::now();
        let _lock = dir.acquire().unwrap();
        assert!(started.elapsed() < PATIENCE / 2);
    }

    #[test]
    fn a_lock_of_a_live_process_is_respected() {
        let dir = Scratch::new("live");
        let judge = |watch: &mut Watch, now| watch.judge(now, &dir.lock(), &dir.0.join(UIDLIST_FILE_NAME)).unwrap();
        // pid 1 always exists.
        dir.plant(&format!("1:{}", hostname()), PID_CHECK_AGE * 2);
        assert_eq!(judge(&mut Watch::default(), now_secs()), Verdict::Held);
        // The same pid on another host, or a fresh lock, is not looked up.
        dir.plant("4194999:elsewhere.example", PID_CHECK_AGE * 2);
        assert_eq!(judge(&mut Watch::default(), now_secs()), Verdict::Held);
        dir.plant(&format!("4194999:{}", hostname()), Duration::ZERO);
        assert_eq!(judge(&mut Watch::default(), now_secs()), Verdict::Held);
        fs::remove_file(dir.lock()).unwrap();
        assert_eq!(judge(&mut Watch::default(), now_secs()), Verdict::Gone);
    }

    /// A lock's change time cannot be set back, so these look at it from
    /// the future instead.
    #[test]
    fn a_lock_nobody_touched_for_the_stale_timeout_is_overridden() {
        let dir = Scratch::new("untouched");
        let judge = |watch: &mut Watch, now| watch.judge(now, &dir.lock(), &dir.0.join(UIDLIST_FILE_NAME)).unwrap();
        let timeout = STALE_TIMEOUT.as_secs() as i64;
        for content in ["", "garbage", "12:elsewhere.example"] {
            dir.plant(content, Duration::ZERO);
            assert_eq!(judge(&mut Watch::default(), now_secs() + timeout - 5), Verdict::Held, "{content}");
            assert_eq!(judge(&mut Watch::default(), now_secs() + timeout + 5), Verdict::Stale, "{content}");
        }
        // Watched for a while: a change of the lock, or of the uidlist it
        // guards, means its owner is at work.
        let later = now_secs() + timeout + 5;
        let mut watch = Watch::default();
        fs::write(dir.0.join(UIDLIST_FILE_NAME), "3 V1 N1\n").unwrap();
        assert_eq!(judge(&mut watch, later), Verdict::Stale);
        fs::write(dir.0.join(UIDLIST_FILE_NAME), "3 V1 N22\n").unwrap();
        assert_eq!(judge(&mut watch, later + 1), Verdict::Held);
        assert_eq!(judge(&mut watch, later + timeout + 2), Verdict::Stale);
        fs::write(dir.lock(), "touched").unwrap();
        assert_eq!(judge(&mut watch, later + timeout + 3), Verdict::Held);
    }

    #[test]
    fn a_lock_replaced_after_ours_was_overridden_is_left_alone() {
        let dir = Scratch::new("replaced");
        let lock = dir.acquire().unwrap();
        fs::remove_file(dir.lock()).unwrap();
        fs::write(dir.lock(), "someone else").unwrap();
        drop(lock);
        assert_eq!(fs::read_to_string(dir.lock()).unwrap(), "someone else");
    }
}
