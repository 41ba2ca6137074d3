//! The users file (`-f FILE`): its format, and saving it so that a crash
//! at any moment leaves either the old file or the new one, never a mix.
//!
//! # Format
//!
//! A subset of Dovecot's passwd-file, so an existing file can be reused:
//! `user:password:uid:gid:(gecos):home:(shell):extra_fields`, of which only
//! the first two fields are read. Blank lines and lines starting with `#`
//! are ignored; a trailing CR is dropped.
//!
//! The password field must name its scheme: `{SHA512-CRYPT}$6$...` (a
//! hash, as `doveadm pw -s SHA512-CRYPT` or `./run --hash-password` prints
//! it; passwords set over MGMT are stored this way), or plain text as
//! `{PLAIN}`, `{CLEAR}` or `{CLEARTEXT}`, optionally with Dovecot's `.HEX`
//! suffix (`{PLAIN.HEX}616263` is `abc`). A field without a scheme is
//! refused rather than read as plain text, because Dovecot reads it as a
//! CRYPT hash: serving it would make the hash itself the password.
//!
//! Fields are separated by `:`, so the password ends at the next `:`. That
//! is why a plain password containing `:` (or a control character) is
//! written as `{PLAIN.HEX}`; every other one as `{PLAIN}password`.
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

use super::password::{sha512_crypt_field, StoredPassword, SHA512_CRYPT_SCHEME};
use super::users::{Credentials, Password, UserName, UserTable};

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
    /// The password field has no `{SCHEME}` prefix.
    NoScheme,
    /// A scheme this server cannot check passwords against.
    UnsupportedScheme(String),
    /// `{SHA512-CRYPT}` followed by something that is not a `$6$` hash.
    BadHash,
    BadHex,
    EmptyPassword,
    Duplicate(String),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::MissingColon => f.write_str("expected user:{PLAIN}password"),
            LineError::BadName => f.write_str("bad user name (1-64 of A-Z a-z 0-9 . _ -, not starting with '.')"),
            LineError::NoScheme => f.write_str(
                "the password has no scheme; write user:{PLAIN}password (a bare password is a CRYPT hash in Dovecot)",
            ),
            LineError::UnsupportedScheme(scheme) => {
                write!(f, "password scheme {{{scheme}}} is not supported; use {{SHA512-CRYPT}} or {{PLAIN}}")
            }
            LineError::BadHash => f.write_str("the {SHA512-CRYPT} password is not a $6$ crypt hash"),
            LineError::BadHex => f.write_str("the {PLAIN.HEX} password is not valid hex of UTF-8 text"),
            LineError::EmptyPassword => f.write_str("the password is empty"),
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

/// Parses a whole users file.
pub fn parse(text: &str) -> Result<Vec<Credentials>, ParseError> {
    let mut users: Vec<Credentials> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fail = |error| ParseError { line: index + 1, error };
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let credentials = parse_line(line).map_err(fail)?;
        if users.iter().any(|user| user.name == credentials.name) {
            return Err(fail(LineError::Duplicate(credentials.name.to_string())));
        }
        users.push(credentials);
    }
    Ok(users)
}

fn parse_line(line: &str) -> Result<Credentials, LineError> {
    let (name, rest) = line.split_once(':').ok_or(LineError::MissingColon)?;
    let name = UserName::parse(name).map_err(|_| LineError::BadName)?;
    // Everything after the password field is passwd-file data we do not use.
    let field = rest.split(':').next().unwrap_or_default();
    let (scheme, encoded) = field.strip_prefix('{').and_then(|f| f.split_once('}')).ok_or(LineError::NoScheme)?;
    let scheme_upper = scheme.to_ascii_uppercase();
    if scheme_upper == SHA512_CRYPT_SCHEME {
        let password = StoredPassword::from_crypt(encoded).ok_or(LineError::BadHash)?;
        return Ok(Credentials { name, password });
    }
    let (base, hex) = match scheme_upper.strip_suffix(".HEX") {
        Some(base) => (base, true),
        None => (scheme_upper.as_str(), false),
    };
    if !matches!(base, "PLAIN" | "CLEAR" | "CLEARTEXT") {
        return Err(LineError::UnsupportedScheme(scheme.to_owned()));
    }
    let password = if hex { decode_hex(encoded).ok_or(LineError::BadHex)? } else { encoded.to_owned() };
    if password.is_empty() {
        return Err(LineError::EmptyPassword);
    }
    Ok(Credentials { name, password: StoredPassword::Plain(Password::new(password)) })
}

/// Renders `users` as a file that [`parse`] reads back unchanged.
pub fn render(users: &[Credentials]) -> String {
    let mut text = String::from(HEADER);
    for user in users {
        let password = match &user.password {
            StoredPassword::Sha512Crypt(crypt) => {
                text.push_str(&format!("{}:{}\n", user.name, sha512_crypt_field(crypt)));
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

fn decode_hex(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
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
    /// Reads and parses `path`; the file must exist (an empty file is fine).
    ///
    /// # Errors
    /// A one-line [`LoadError`] naming the file (and the line, if a line is
    /// at fault). Nothing is written.
    pub fn load(path: &Path) -> Result<(Self, Vec<Credentials>), LoadError> {
        let read_error = |error| LoadError::Read { path: path.to_owned(), error };
        let bytes = fs::read(path).map_err(read_error)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| read_error(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text")))?;
        let users = parse(&text).map_err(|error| LoadError::Parse { path: path.to_owned(), error })?;
        Ok((Self { path: path.to_owned(), saving: Mutex::new(()) }, users))
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

    fn names(users: &[Credentials]) -> Vec<&str> {
        users.iter().map(|user| user.name.as_str()).collect()
    }

    #[test]
    fn dovecot_lines_are_read() {
        let text = "# comment\n\n  \nalice:{PLAIN}alice-pw\r\nbob:{plain}b:1000:1000::/home/bob::userdb_x=y\n\
                    carol:{CLEAR.HEX}613a62\n  # indented comment\ndave:{CLEARTEXT}{braces}\n";
        let users = parse(text).unwrap();
        assert_eq!(names(&users), ["alice", "bob", "carol", "dave"]);
        assert!(users[0].password.matches("alice-pw"));
        assert!(users[1].password.matches("b"), "the uid field is not part of the password");
        assert!(users[2].password.matches("a:b"));
        assert!(users[3].password.matches("{braces}"));
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let cases = [
            ("alice\n", LineError::MissingColon),
            ("../x:{PLAIN}p\n", LineError::BadName),
            ("alice:secret\n", LineError::NoScheme),
            ("alice:{SHA512-CRYPT}$6$x\n", LineError::BadHash),
            ("alice:{ARGON2ID}$argon2id$v=19$m=65536\n", LineError::UnsupportedScheme("ARGON2ID".into())),
            ("alice:{PLAIN.HEX}6\n", LineError::BadHex),
            ("alice:{PLAIN.HEX}zz\n", LineError::BadHex),
            ("alice:{PLAIN.HEX}ff\n", LineError::BadHex),
            ("alice:{PLAIN}\n", LineError::EmptyPassword),
            ("alice:{PLAIN}:1000\n", LineError::EmptyPassword),
            ("alice:{PLAIN}a\nalice:{PLAIN}b\n", LineError::Duplicate("alice".into())),
        ];
        for (text, error) in cases {
            let line = text.lines().count();
            assert_eq!(parse(&format!("# header\n{text}")), Err(ParseError { line: line + 1, error }), "{text:?}");
        }
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
            })
            .chain([Credentials::parse("hashed:pw").unwrap().hashed()])
            .collect();
        let text = render(&users);
        assert_eq!(parse(&text).unwrap(), users, "{text}");
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
        let (file, loaded) = UsersFile::load(&path).unwrap();
        assert_eq!(names(&loaded), ["old"]);
        let admin = Credentials::parse("admin:admin").unwrap();
        let table = UserTable::new(admin, loaded, 10);
        table.add(Credentials::parse("new:p:w").unwrap().hashed()).unwrap();
        file.save(&table).unwrap();
        let (_, saved) = UsersFile::load(&path).unwrap();
        assert_eq!(names(&saved), ["admin", "new", "old"]);
        assert!(saved[1].password.matches("p:w"));
        assert!(matches!(saved[1].password, StoredPassword::Sha512Crypt(_)), "saved hashed");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("users")]);
    }

    #[test]
    fn missing_and_malformed_files_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let error = UsersFile::load(&missing).unwrap_err().to_string();
        assert!(error.starts_with("cannot read users file ") && error.contains("nope"), "{error}");
        let bad = dir.path().join("bad");
        fs::write(&bad, "alice:{PLAIN}a\nbob:topsecret\n").unwrap();
        let error = UsersFile::load(&bad).unwrap_err().to_string();
        assert!(error.contains("bad line 2: the password has no scheme"), "{error}");
        assert!(!error.contains("topsecret"), "{error}");
        assert_eq!(fs::read_to_string(&bad).unwrap(), "alice:{PLAIN}a\nbob:topsecret\n", "nothing overwritten");
    }
}
