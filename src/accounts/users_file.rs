//! The users file (`-f FILE`): its format, and saving it so that a crash
//! at any moment leaves either the old file or the new one, never a mix.
//!
//! # Format
//!
//! A subset of Dovecot's passwd-file, so an existing file can be reused:
//! `user:password:uid:gid:(gecos):home:(shell):extra_fields`, of which only
//! the first two fields are read. Blank lines and lines starting with `#`
//! are ignored; a trailing CR is dropped. User names follow
//! [`UserName`]'s rules (`user@domain` included) and, unless names are
//! case-sensitive, are lower-cased as Dovecot's `%Lu` does.
//!
//! The password field is read as Dovecot reads it (see
//! [`super::schemes`]): `{SCHEME}value` in any scheme `doveadm pw` writes,
//! or a bare value, which Dovecot reads as CRYPT (never as plain text:
//! that would make a hash itself the password). Passwords set over MGMT
//! are stored as `{SHA512-CRYPT}$6$...`, as `./run --hash-password` prints.
//!
//! A line whose password cannot be checked (a scheme pop3d does not know,
//! a malformed value) does not stop start-up: its user is kept but cannot
//! log in, and [`UsersFile::load`] logs one warning naming the file, the
//! line and the scheme. Only lines that say nothing usable about a user (no
//! `:`, a name that breaks the rules, a name listed twice) stop start-up.
//!
//! Fields are separated by `:`, so the password ends at the next `:`. That
//! is why a plain password containing `:` (or a control character) is
//! written as `{PLAIN.HEX}`; every other one as `{PLAIN}password`. A field
//! in any other scheme is written back as it was read.
//! Extra fields are ignored when reading and not kept when rewriting, nor
//! are comments: the file is rewritten whole after every MGMT change.
//!
//! Nothing here decides who wins when the file and the command line
//! disagree; start-up does (see [`crate::app`]).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use super::password::StoredPassword;
use super::schemes::SchemeError;
use super::users::{Credentials, InvalidUserName, UserName, UserNameCase, UserTable};

/// The file holds passwords: only its owner may read it.
const FILE_MODE: u32 = 0o600;

/// Written at the top of every saved file, so whoever opens it knows that
/// hand edits made while the server runs will be overwritten.
const HEADER: &str = "# pop3d users, Dovecot passwd-file format (user:{PLAIN}password).\n\
                      # Rewritten whole by pop3d on every MGMT change.\n";

/// Why one line of a users file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    MissingColon,
    BadName,
    Duplicate(String),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::MissingColon => f.write_str("expected user:{SCHEME}password"),
            LineError::BadName => write!(f, "bad user name: {InvalidUserName}"),
            LineError::Duplicate(name) => write!(f, "user '{name}' is listed twice"),
        }
    }
}

/// A line that could not be read, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub error: LineError,
}

/// Why the users file could not be loaded at start-up.
#[derive(Debug)]
pub enum LoadError {
    Read { path: PathBuf, error: io::Error },
    Parse { path: PathBuf, error: ParseError },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, error } => {
                write!(f, "cannot read users file {}: {error}", path.display())
            }
            LoadError::Parse { path, error } => {
                write!(f, "users file {} line {}: {}", path.display(), error.line, error.error)
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// A line whose user is kept but cannot log in, because its password field
/// cannot be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableLine {
    /// 1-based.
    pub line: usize,
    pub name: UserName,
    pub error: SchemeError,
}

impl fmt::Display for UnusableLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: user '{}' cannot log in: {}", self.line, self.name, self.error)
    }
}

/// What a users file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub users: Vec<Credentials>,
    /// The users among them whose password no login can match.
    pub unusable: Vec<UnusableLine>,
}

/// Parses a whole users file, with names in `case`.
pub fn parse(text: &str, case: UserNameCase) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed { users: Vec::new(), unusable: Vec::new() };
    for (index, line) in text.lines().enumerate() {
        let fail = |error| ParseError { line: index + 1, error };
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (name, rest) = line.split_once(':').ok_or_else(|| fail(LineError::MissingColon))?;
        let name = case.parse(name).map_err(|_| fail(LineError::BadName))?;
        if parsed.users.iter().any(|user| user.name == name) {
            return Err(fail(LineError::Duplicate(name.to_string())));
        }
        // user:password:uid:gid:gecos:home:shell:extra; of the passwd-file
        // data after the password only the home is used (`%h`).
        let mut fields = rest.split(':');
        let field = fields.next().unwrap_or_default();
        let home = fields.nth(3).filter(|home| !home.is_empty()).map(PathBuf::from);
        let password = StoredPassword::from_field(field).unwrap_or_else(|error| {
            parsed.unusable.push(UnusableLine { line: index + 1, name: name.clone(), error });
            StoredPassword::Unusable { field: field.to_owned() }
        });
        parsed.users.push(Credentials { name, password, home });
    }
    Ok(parsed)
}

/// Renders `users` as a file that [`parse`] reads back unchanged.
pub fn render(users: &[Credentials]) -> String {
    let mut text = String::from(HEADER);
    for user in users {
        let password = match &user.password {
            StoredPassword::Hashed { field, .. } | StoredPassword::Unusable { field } => {
                text.push_str(&format!("{}:{field}\n", user.name));
                continue;
            }
            StoredPassword::Plain(password) => password.expose(),
        };
        if password.contains(':') || password.chars().any(char::is_control) {
            text.push_str(&format!("{}:{{PLAIN.HEX}}{}\n", user.name, encode_hex(password)));
        } else {
            text.push_str(&format!("{}:{{PLAIN}}{password}\n", user.name));
        }
    }
    text
}

fn encode_hex(text: &str) -> String {
    text.bytes().map(|byte| format!("{byte:02x}")).collect()
}

/// The users file of a running server.
#[derive(Debug)]
pub struct UsersFile {
    path: PathBuf,
    /// Serialises saves: each one snapshots the table while holding it, so
    /// the last save to finish always carries the newest table.
    saving: Mutex<()>,
}

impl UsersFile {
    /// Reads and parses `path`, with names in `case`; the file must exist
    /// (an empty file is fine). Logs one warning for each user who cannot
    /// log in, naming the file, the line and the scheme.
    ///
    /// # Errors
    /// A one-line [`LoadError`] naming the file (and the line, if a line is
    /// at fault). Nothing is written.
    pub fn load(path: &Path, case: UserNameCase) -> Result<(Self, Vec<Credentials>), LoadError> {
        let read_error = |error| LoadError::Read { path: path.to_owned(), error };
        let bytes = fs::read(path).map_err(read_error)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| read_error(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text")))?;
        let parsed = parse(&text, case).map_err(|error| LoadError::Parse { path: path.to_owned(), error })?;
        for unusable in &parsed.unusable {
            log::warn!("users file {} {unusable}", path.display());
        }
        Ok((Self { path: path.to_owned(), saving: Mutex::new(()) }, parsed.users))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the whole table to the file, atomically: a temporary file in
    /// the same directory is written, synced and renamed over the old one,
    /// then the directory is synced so the rename itself survives a crash.
    ///
    /// # Errors
    /// Any I/O error; the old file is then left as it was.
    pub fn save(&self, users: &UserTable) -> io::Result<()> {
        let _saving = self.saving.lock();
        let text = render(&users.snapshot());
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file_name =
            self.path.file_name().ok_or_else(|| io::Error::other("the users file path has no file name"))?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(".tmp");
        let temp = dir.join(temp_name);
        let result = write_synced(&temp, text.as_bytes()).and_then(|()| fs::rename(&temp, &self.path));
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result?;
        File::open(dir)?.sync_all()
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    // A leftover temporary file keeps its old mode; make sure of ours.
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::users::Password;

    fn names(users: &[Credentials]) -> Vec<&str> {
        users.iter().map(|user| user.name.as_str()).collect()
    }

    fn parse_users(text: &str) -> Result<Vec<Credentials>, ParseError> {
        parse(text, UserNameCase::Insensitive).map(|parsed| parsed.users)
    }

    #[test]
    fn dovecot_lines_are_read() {
        let text = "# comment\n\n  \nalice:{PLAIN}alice-pw\r\nbob:{plain}b:1000:1000::/home/bob::userdb_x=y\n\
                    carol:{CLEAR.HEX}613a62\n  # indented comment\ndave:{CLEARTEXT}{braces}\n\
                    Erin@Example.ORG:{SSHA256}rz8RhKfjMeObSPYItNaQ9A5Yc5kmz+E6lTSbQ8Om966vsUsy:::::\n";
        let parsed = parse(text, UserNameCase::Insensitive).unwrap();
        assert_eq!(parsed.unusable, []);
        let users = parsed.users;
        assert_eq!(names(&users), ["alice", "bob", "carol", "dave", "erin@example.org"]);
        assert!(users[0].password.matches("alice-pw"));
        assert!(users[1].password.matches("b"), "the uid field is not part of the password");
        assert_eq!(users[1].home.as_deref(), Some(Path::new("/home/bob")));
        assert_eq!(users[0].home, None);
        assert_eq!(users[4].home, None, "an empty home field is none");
        assert!(users[2].password.matches("a:b"));
        assert!(users[3].password.matches("{braces}"));
        assert!(users[4].password.matches("pass word"));
        let exact = parse(text, UserNameCase::Sensitive).unwrap().users;
        assert_eq!(exact[4].name.as_str(), "Erin@Example.ORG");
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let cases = [
            ("alice\n", LineError::MissingColon),
            ("../x:{PLAIN}p\n", LineError::BadName),
            ("a@../b:{PLAIN}p\n", LineError::BadName),
            ("a@b/../c:{PLAIN}p\n", LineError::BadName),
            ("a/b:{PLAIN}p\n", LineError::BadName),
            ("alice:{PLAIN}a\nalice:{PLAIN}b\n", LineError::Duplicate("alice".into())),
            ("alice:{PLAIN}a\nALICE:{PLAIN}b\n", LineError::Duplicate("alice".into())),
        ];
        for (text, error) in cases {
            let line = text.lines().count();
            let parsed = parse(&format!("# header\n{text}"), UserNameCase::Insensitive);
            assert_eq!(parsed, Err(ParseError { line: line + 1, error }), "{text:?}");
        }
        let exact = parse("alice:{PLAIN}a\nALICE:{PLAIN}b\n", UserNameCase::Sensitive).unwrap();
        assert_eq!(names(&exact.users), ["alice", "ALICE"]);
    }

    /// A password that cannot be checked costs its user the login, never
    /// the other users or the start-up; the reason names the scheme, never
    /// the value.
    #[test]
    fn users_whose_password_cannot_be_checked_are_kept_and_named() {
        let lines = [
            ("alice", "secret", "CRYPT"),
            ("bob", "{SHA512-CRYPT}$6$x", "SHA512-CRYPT"),
            ("carol", "{ARGON2ID}$argon2id$v=19$m=65536", "ARGON2ID"),
            ("dave", "{PLAIN.HEX}6", "PLAIN.HEX"),
            ("erin", "{PLAIN.HEX}zz", "PLAIN.HEX"),
            ("frank", "{PLAIN.HEX}ff", "PLAIN.HEX"),
            ("grace", "{PLAIN}", "PLAIN"),
            ("heidi", "{PLAIN}:1000", "PLAIN"),
            ("ivan", "{FOO-BAR}whatever", "FOO-BAR"),
            ("judy", "xOAFZqRz5RduI", "CRYPT"),
        ];
        let mut text = String::new();
        for (i, (name, field, _)) in lines.iter().enumerate() {
            text.push_str(&format!("{name}:{field}\nok{i}:{{PLAIN}}ok\n"));
        }
        let parsed = parse(&text, UserNameCase::Insensitive).unwrap();
        assert_eq!(parsed.users.len(), 2 * lines.len(), "every user is kept");
        assert_eq!(parsed.unusable.len(), lines.len());
        for (i, ((name, field, scheme), unusable)) in lines.iter().zip(&parsed.unusable).enumerate() {
            assert_eq!(
                (unusable.line, unusable.name.as_str(), unusable.error.scheme.as_str()),
                (2 * i + 1, *name, *scheme)
            );
            assert!(matches!(parsed.users[2 * i].password, StoredPassword::Unusable { .. }), "{field}");
            assert!(parsed.users[2 * i + 1].password.matches("ok"));
            let message = unusable.to_string();
            assert!(
                message.starts_with(&format!(
                    "line {}: user '{name}' cannot log in: password scheme {{{scheme}}}",
                    2 * i + 1
                )),
                "{message}"
            );
            let value = field.rsplit('}').next().unwrap().split(':').next().unwrap();
            assert!(value.len() < 3 || !message.contains(value), "{message} shows the value");
        }
        assert_eq!(render(&parsed.users).lines().nth(2), Some("alice:secret"), "written back as read");
    }

    #[test]
    fn rendering_reads_back_whatever_the_password() {
        let passwords = ["plain", "with:colon", "line\nbreak", "{PLAIN}x", " spaced ", "ñandú", "#hash", "a\r"];
        let users: Vec<Credentials> = passwords
            .iter()
            .enumerate()
            .map(|(i, p)| Credentials {
                name: UserName::parse(&format!("u{i}")).unwrap(),
                password: StoredPassword::Plain(Password::new(*p)),
                home: None,
            })
            .chain([Credentials::parse("hashed:pw").unwrap().hashed()])
            .collect();
        let text = render(&users);
        assert_eq!(parse_users(&text).unwrap(), users, "{text}");
        assert!(text.contains("hashed:{SHA512-CRYPT}$6$"), "{text}");
        assert!(text.contains("u0:{PLAIN}plain\n"), "{text}");
        assert!(text.contains("u1:{PLAIN.HEX}776974683a636f6c6f6e\n"), "{text}");
    }

    #[test]
    fn saving_replaces_the_file_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        fs::write(&path, "old:{PLAIN}x\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let (file, loaded) = UsersFile::load(&path, UserNameCase::Insensitive).unwrap();
        assert_eq!(names(&loaded), ["old"]);
        let admin = Credentials::parse("admin:admin").unwrap();
        let table = UserTable::new(admin, loaded, 10);
        table.add(Credentials::parse("new:p:w").unwrap().hashed()).unwrap();
        file.save(&table).unwrap();
        let (_, saved) = UsersFile::load(&path, UserNameCase::Insensitive).unwrap();
        assert_eq!(names(&saved), ["admin", "new", "old"]);
        assert!(saved[1].password.matches("p:w"));
        let saved_hashed = matches!(&saved[1].password, StoredPassword::Hashed { field, .. } if field.starts_with("{SHA512-CRYPT}$6$"));
        assert!(saved_hashed, "saved hashed");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("users")]);
    }

    #[test]
    fn missing_and_malformed_files_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let error = UsersFile::load(&missing, UserNameCase::Insensitive).unwrap_err().to_string();
        assert!(error.starts_with("cannot read users file ") && error.contains("nope"), "{error}");
        let bad = dir.path().join("bad");
        fs::write(&bad, "alice:{PLAIN}a\nbob/x:topsecret\n").unwrap();
        let error = UsersFile::load(&bad, UserNameCase::Insensitive).unwrap_err().to_string();
        assert!(error.contains("bad line 2: bad user name: user names are"), "{error}");
        assert!(!error.contains("topsecret"), "{error}");
        assert_eq!(fs::read_to_string(&bad).unwrap(), "alice:{PLAIN}a\nbob/x:topsecret\n", "nothing overwritten");
    }
}
