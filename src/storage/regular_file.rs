//! The one way storage opens a file it reads (message files, the locks,
//! Dovecot's `dovecot-uidlist`) or appends to, and the one way it creates a
//! file in a Maildir that other mail programs read too.
//!
//! Whoever can write into a Maildir (the user with a shell account, a
//! delivery agent, another mail client) can put anything at a message's
//! name, even after LIST has listed it. [`open`] returns only a regular file,
//! and never waits:
//! - a symbolic link is refused (`O_NOFOLLOW`): a link to `/etc/shadow` or
//!   to another user's mail, swapped in between LIST and RETR, would
//!   otherwise be sent as the message, with all the server's rights;
//! - a FIFO or a device is opened without waiting (`O_NONBLOCK`), then
//!   refused by the check on the opened file (`fstat`): opening a FIFO for
//!   reading otherwise waits for a writer, forever, and holds the session
//!   and the server's shutdown with it.
//!
//! The check is on the opened file, not on the name, so nothing can be
//! swapped in between the check and the read. `O_NONBLOCK` stays set on the
//! file returned: it has no effect on reading a regular file.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `path` for reading if it is a regular file, without following a
/// symbolic link and without blocking.
///
/// # Errors
///
/// Any error of `open(2)` or `fstat(2)` (`NotFound` when nothing is
/// there; a socket fails there too), or [`NotRegularFile`] for a symbolic
/// link, FIFO, device or directory.
pub fn open(path: &Path) -> io::Result<File> {
    open_with(OpenOptions::new().read(true), path)
}

/// Opens `path` for appending, on the same terms as [`open`]: a symbolic
/// link planted at the name must not make the server write elsewhere.
pub fn open_to_append(path: &Path) -> io::Result<File> {
    open_with(OpenOptions::new().append(true), path)
}

fn open_with(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    let file = options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).map_err(|error| {
        match error.raw_os_error() {
            // What O_NOFOLLOW answers for a symbolic link.
            Some(libc::ELOOP) => NotRegularFile.into(),
            _ => error,
        }
    })?;
    if !file.metadata()?.is_file() {
        return Err(NotRegularFile.into());
    }
    Ok(file)
}

/// Creates the file `path`, which must not exist (`O_EXCL`, which never
/// follows a symbolic link), for writing, as a file of the Maildir whose
/// root's metadata is `maildir`: its mode is the root's without the execute
/// bits (Dovecot's rule for the files it creates), and a server running as
/// root gives it the root's owner and group, so that the user's other mail
/// programs (Dovecot runs as the mail user) can read and replace it.
pub fn create_in_maildir(path: &Path, maildir: &std::fs::Metadata) -> io::Result<File> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = maildir.permissions().mode() & 0o666;
    let file = OpenOptions::new().write(true).create_new(true).mode(mode).custom_flags(libc::O_NOFOLLOW).open(path)?;
    // Exactly that mode, whatever the umask.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::fchown(&file, Some(maildir.uid()), Some(maildir.gid()))?;
    }
    Ok(file)
}

/// A path that names something other than a regular file.
#[derive(Debug)]
pub struct NotRegularFile;

impl fmt::Display for NotRegularFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a regular file (a symbolic link, FIFO, device or directory)")
    }
}

impl std::error::Error for NotRegularFile {}

impl From<NotRegularFile> for io::Error {
    fn from(error: NotRegularFile) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixListener;

    fn is_refused(result: io::Result<File>) -> bool {
        result.is_err_and(|error| error.get_ref().is_some_and(|inner| inner.is::<NotRegularFile>()))
    }

    #[test]
    fn only_a_regular_file_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let regular = dir.path().join("regular");
        std::fs::write(&regular, b"mail").unwrap();
        let mut content = String::new();
        open(&regular).unwrap().read_to_string(&mut content).unwrap();
        assert_eq!(content, "mail");

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&regular, &link).unwrap();
        assert!(is_refused(open(&link)), "a symbolic link");
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::RUSR).unwrap();
        assert!(is_refused(open(&fifo)), "a FIFO, at once");
        let _socket = UnixListener::bind(dir.path().join("socket")).unwrap();
        // open(2) itself refuses a socket (ENXIO).
        assert!(open(&dir.path().join("socket")).is_err(), "a socket");
        assert!(is_refused(open(dir.path())), "a directory");
        assert!(is_refused(open(Path::new("/dev/null"))), "a device");
        let missing = open(&dir.path().join("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
