//! The users file (`-f FILE`): its format, and changing it in place so
//! that Dovecot can go on sharing it and a crash at any moment leaves
//! either the old file or the new one, never a mix.
//!
//! # Format
//!
//! Dovecot's passwd-file, so an existing file can be reused:
//! `user:password:uid:gid:(gecos):home:(shell):extra_fields`, of which the
//! name, the password and the home (for `%h` in `--mail-location`) are
//! read. Blank lines and lines starting with `#` are ignored; a trailing CR
//! is dropped. User names follow [`UserName`]'s rules (`user@domain`
//! included) and, unless names are case-sensitive, are lower-cased as
//! Dovecot's `%Lu` does.
//!
//! The password field is read as Dovecot reads it (see
//! [`super::schemes`]): `{SCHEME}value` in any scheme `doveadm pw` writes,
//! or a bare value, which Dovecot reads as CRYPT (never as plain text:
//! that would make a hash itself the password). Passwords set over MGMT
//! are stored in `--password-scheme` (`{SHA512-CRYPT}` by default), as
//! `./run --hash-password` prints them.
//!
//! A line whose password cannot be checked (a scheme pop3d does not know,
//! a malformed value) does not stop start-up: its user is kept but cannot
//! log in, and [`UsersFile::load`] logs one warning naming the file, the
//! line and the scheme. Only lines that say nothing usable about a user (no
//! `:`, a name that breaks the rules, a name listed twice) stop start-up.
//!
//! # Sharing the file
//!
//! An MGMT change rewrites only the line it changes ([`edited`]): every
//! other line, comment, blank line and field stays byte for byte, and the
//! file keeps its owner, group and mode ([`replace_keeping_metadata`]).
//! Before each change the file is read again if it changed on disk since
//! pop3d last read or wrote it, and the user table follows it
//! ([`UsersFile::reload`]), so a hand edit is never lost.
//!
//! Fields are separated by `:`, so the password ends at the next `:`. That
//! is why a plain password containing `:` (or a control character) is
//! written as `{PLAIN.HEX}`.
//!
//! Nothing here decides who wins when the file and the command line
//! disagree; start-up does (see [`crate::app`]).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use super::password::{plain_field, StoredPassword};
use super::schemes::SchemeError;
use super::users::{
    Credentials, FileRefresh, InvalidUserName, UserChange, UserName, UserNameCase, UserTable, UserTableError,
};

/// The empty uid, gid, gecos, home, shell and extra fields of a line pop3d
/// adds. Dovecot's passwd-file userdb refuses a line that ends after the
/// password ("missing userdb info"); empty fields take its global
/// `mail_uid`, `mail_gid` and `mail_location`.
const NO_USERDB_FIELDS: &str = "::::::";

/// A new file's mode until it takes the old one's: it holds passwords.
const TEMP_MODE: u32 = 0o600;

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

/// A password as the field of a users-file line: a hashed one as it was
/// read or made, a plain one as [`plain_field`] writes it.
pub fn field_of(password: &StoredPassword) -> String {
    match password {
        StoredPassword::Hashed { field, .. } | StoredPassword::Unusable { field } => field.clone(),
        StoredPassword::Plain(password) => plain_field(password.expose()),
    }
}

/// `text` with one change made to its lines and nothing else: the line of
/// a deleted user goes; a new password replaces only the password field of
/// its user's line (the name as written, the other fields and the line end
/// stay); a new user, or a password for a user the file does not list
/// (the admin from `-a`, a `-u` user), becomes a line `name:field::::::`
/// at the end. Names are matched in `case`.
pub fn edited(text: &str, case: UserNameCase, change: &UserChange) -> String {
    let name = match change {
        UserChange::Add(credentials) => credentials.name.as_str(),
        UserChange::Delete(name) | UserChange::SetPassword(name, _) => name,
    };
    let wanted = case.parse(name).ok();
    let is_wanted = |line: &str| {
        let content = line.trim_start();
        !content.starts_with('#')
            && line.split_once(':').is_some_and(|(name, _)| wanted.is_some() && case.parse(name).ok() == wanted)
    };
    let mut out = String::with_capacity(text.len() + 128);
    let mut done = false;
    for line in text.split_inclusive('\n') {
        if done || !is_wanted(line) {
            out.push_str(line);
            continue;
        }
        match change {
            UserChange::Delete(_) => {}
            UserChange::SetPassword(_, password) => out.push_str(&with_password_field(line, &field_of(password))),
            UserChange::Add(_) => out.push_str(line),
        }
        done = !matches!(change, UserChange::Delete(_));
    }
    let appended = match change {
        UserChange::Add(credentials) if !done => Some((credentials.name.as_str(), &credentials.password)),
        UserChange::SetPassword(name, password) if !done => Some((name.as_str(), password)),
        _ => None,
    };
    if let Some((name, password)) = appended {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        let name = wanted.as_ref().map_or(name, UserName::as_str);
        out.push_str(&format!("{name}:{}{NO_USERDB_FIELDS}\n", field_of(password)));
    }
    out
}

/// `line` (`name:password[:more]` and its line end) with `field` in place
/// of its password.
fn with_password_field(line: &str, field: &str) -> String {
    let (name, rest) = line.split_once(':').expect("a user line has a ':'");
    let end = rest.find([':', '\r', '\n']).unwrap_or(rest.len());
    format!("{name}:{field}{}", &rest[end..])
}

/// Why an MGMT change through the users file was refused or not saved.
#[derive(Debug)]
pub enum ChangeError {
    /// The table refused it; nothing was written.
    Table(UserTableError),
    /// The file changed on disk and cannot be read now; nothing was
    /// changed, so the hand edit is not lost.
    Reread(LoadError),
    /// The change is live but the file could not be rewritten.
    NotSaved(io::Error),
}

impl fmt::Display for ChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChangeError::Table(error) => error.fmt(f),
            ChangeError::Reread(error) => write!(f, "changed on disk and unreadable: {error}"),
            ChangeError::NotSaved(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ChangeError {}

/// The users file of a running server, which Dovecot may share: pop3d
/// changes only the lines an MGMT command changes, keeps the file's owner,
/// group and mode, and reads the file again whenever it changed on disk.
#[derive(Debug)]
pub struct UsersFile {
    path: PathBuf,
    case: UserNameCase,
    /// The file as pop3d last read or wrote it. Its lock serialises
    /// re-reads and changes, so no two of them interleave.
    last: Mutex<LastRead>,
}

#[derive(Debug)]
struct LastRead {
    text: String,
    users: Vec<Credentials>,
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
        let (text, users) = read(path, case)?;
        let last = LastRead { text, users: users.clone() };
        Ok((Self { path: path.to_owned(), case, last: Mutex::new(last) }, users))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again if it changed on disk since pop3d last read or
    /// wrote it, and brings `table` in line with it (see
    /// [`UserTable::refresh_from_file`]). `None` when nothing changed.
    /// What a reload on request (such as SIGHUP) calls.
    ///
    /// # Errors
    /// The file cannot be read or parsed now; the table is left as it was.
    pub fn reload(&self, table: &UserTable) -> Result<Option<FileRefresh>, LoadError> {
        self.reload_locked(&mut self.last.lock(), table)
    }

    fn reload_locked(&self, last: &mut LastRead, table: &UserTable) -> Result<Option<FileRefresh>, LoadError> {
        let text = read_text(&self.path)?;
        if text == last.text {
            return Ok(None);
        }
        let users = parse_logged(&self.path, &text, self.case)?;
        let refresh = table.refresh_from_file(&last.users, &users);
        log::info!(
            "users file {} changed on disk, read again: {} added, {} changed, {} removed",
            self.path.display(),
            refresh.added,
            refresh.changed,
            refresh.removed
        );
        *last = LastRead { text, users };
        Ok(Some(refresh))
    }

    /// Applies `change` to `table` and to the file: first the file is read
    /// again if it changed on disk (so no hand edit is lost), then the
    /// table takes the change, then only the lines it touches are
    /// rewritten (see [`edited`]), atomically and keeping the file's
    /// owner, group and mode (see [`replace_keeping_metadata`]).
    ///
    /// # Errors
    /// [`ChangeError`]: refused (nothing changed) or not saved (live only).
    pub fn apply(&self, table: &UserTable, change: &UserChange) -> Result<(), ChangeError> {
        let mut last = self.last.lock();
        self.reload_locked(&mut last, table).map_err(ChangeError::Reread)?;
        table.apply(change).map_err(ChangeError::Table)?;
        let text = edited(&last.text, self.case, change);
        if text == last.text {
            return Ok(());
        }
        replace_keeping_metadata(&self.path, text.as_bytes()).map_err(ChangeError::NotSaved)?;
        // Our own edit parses: it only adds well-formed lines.
        let users = parse(&text, self.case).map(|parsed| parsed.users).unwrap_or_default();
        *last = LastRead { text, users };
        Ok(())
    }
}

/// The text of the users file and its users, warning about each user who
/// cannot log in.
fn read(path: &Path, case: UserNameCase) -> Result<(String, Vec<Credentials>), LoadError> {
    let text = read_text(path)?;
    let users = parse_logged(path, &text, case)?;
    Ok((text, users))
}

fn read_text(path: &Path) -> Result<String, LoadError> {
    let read_error = |error| LoadError::Read { path: path.to_owned(), error };
    let bytes = fs::read(path).map_err(read_error)?;
    String::from_utf8(bytes).map_err(|_| read_error(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text")))
}

fn parse_logged(path: &Path, text: &str, case: UserNameCase) -> Result<Vec<Credentials>, LoadError> {
    let parsed = parse(text, case).map_err(|error| LoadError::Parse { path: path.to_owned(), error })?;
    for unusable in &parsed.unusable {
        log::warn!("users file {} {unusable}", path.display());
    }
    Ok(parsed.users)
}

/// Replaces the file at `path` with `bytes`, so that a crash at any moment
/// leaves the old file or the new one: a temporary file in the same
/// directory gets the old file's owner, group and mode (so Dovecot, running
/// as another user, can still read it), is synced and renamed over the old
/// one, and the directory is synced so the rename itself survives.
///
/// # Errors
/// Any I/O error, such as an owner this process may not give a file; the
/// old file is then left as it was.
pub fn replace_keeping_metadata(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let original = fs::metadata(path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let file_name = path.file_name().ok_or_else(|| io::Error::other("the users file path has no file name"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(".tmp");
    let temp = dir.join(temp_name);
    let result = write_synced(&temp, bytes, &original).and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    File::open(dir)?.sync_all()
}

fn write_synced(path: &Path, bytes: &[u8], like: &fs::Metadata) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(TEMP_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    // Private while it is written; a leftover temporary file keeps its old mode.
    file.set_permissions(fs::Permissions::from_mode(TEMP_MODE))?;
    file.write_all(bytes)?;
    let temp = file.metadata()?;
    if (temp.uid(), temp.gid()) != (like.uid(), like.gid()) {
        std::os::unix::fs::fchown(&file, Some(like.uid()), Some(like.gid()))?;
    }
    // After the chown, which may clear set-id bits.
    file.set_permissions(fs::Permissions::from_mode(like.mode() & 0o7777))?;
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
        assert_eq!(field_of(&parsed.users[0].password), "secret", "written back as read");
    }

    #[test]
    fn added_lines_read_back_whatever_the_password() {
        let passwords = ["plain", "with:colon", "line\nbreak", "{PLAIN}x", " spaced ", "ñandú", "#hash", "a\r"];
        let mut text = String::from("# no final newline\nold:{PLAIN}x");
        for (i, password) in passwords.iter().enumerate() {
            let name = UserName::parse(&format!("u{i}")).unwrap();
            let password = StoredPassword::Plain(Password::new(*password));
            text =
                edited(&text, UserNameCase::Insensitive, &UserChange::Add(Credentials { name, password, home: None }));
        }
        let users = parse_users(&text).unwrap();
        assert_eq!(users.len(), passwords.len() + 1, "{text}");
        for (user, password) in users[1..].iter().zip(passwords) {
            assert!(user.password.matches(password), "{password:?} in {text}");
        }
        assert!(text.starts_with("# no final newline\nold:{PLAIN}x\nu0:{PLAIN}plain::::::\n"), "{text}");
        assert!(text.contains("u1:{PLAIN.HEX}776974683a636f6c6f6e::::::\n"), "{text}");
    }

    /// Each change touches its own line only; the name as written, the
    /// other fields, comments, blank lines and CRLF line ends stay.
    #[test]
    fn changes_edit_only_their_own_line() {
        let text = "# Dovecot users\r\n\nAlice:{PLAIN}a:1000:1000:Alice A:/home/alice:/bin/sh:userdb_quota=1G\r\n\
                    #bob:{PLAIN}commented\nbob:{SSHA}old\ncarol:{PLAIN}c::::::\n";
        let case = UserNameCase::Insensitive;
        let new = StoredPassword::from_field("{PLAIN}new").unwrap();
        let changed = edited(text, case, &UserChange::SetPassword("ALICE".into(), new.clone()));
        assert_eq!(changed, text.replace("Alice:{PLAIN}a:", "Alice:{PLAIN}new:"));
        let changed = edited(text, case, &UserChange::SetPassword("bob".into(), new.clone()));
        assert_eq!(changed, text.replace("bob:{SSHA}old\n", "bob:{PLAIN}new\n"), "the comment is no user");
        let deleted = edited(text, case, &UserChange::Delete("Bob".into()));
        assert_eq!(deleted, text.replace("bob:{SSHA}old\n", ""));
        let admin = edited(text, case, &UserChange::SetPassword("Admin".into(), new));
        assert_eq!(admin, format!("{text}admin:{{PLAIN}}new::::::\n"), "a user the file lacks is appended");
        assert_eq!(edited(text, case, &UserChange::Delete("nobody".into())), text);
    }

    #[test]
    fn applying_keeps_owner_and_mode_and_rereads_hand_edits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        let original = "# shared with Dovecot\nold:{PLAIN}x:1000:1000::/home/old::\n";
        fs::write(&path, original).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let (file, loaded) = UsersFile::load(&path, UserNameCase::Insensitive).unwrap();
        assert_eq!(names(&loaded), ["old"]);
        let table = UserTable::new(Credentials::parse("admin:admin").unwrap(), loaded, 10);
        let add = |name: &str| {
            let credentials = Credentials::parse(&format!("{name}:p:w")).unwrap().hashed();
            file.apply(&table, &UserChange::Add(credentials))
        };
        add("new").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(original) && text[original.len()..].starts_with("new:{SHA512-CRYPT}$6$"), "{text}");
        assert!(table.authenticate("new", "p:w").is_some());
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);

        // A hand edit between two changes is read again and kept.
        fs::write(&path, format!("{text}hand:{{PLAIN}}h\n")).unwrap();
        add("later").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\nhand:{PLAIN}h\nlater:{SHA512-CRYPT}"), "{text}");
        assert!(table.authenticate("hand", "h").is_some(), "the table follows the file");
        assert!(matches!(add("later"), Err(ChangeError::Table(UserTableError::AlreadyExists))));

        // An edit that breaks the file stops the change, and writes nothing.
        fs::write(&path, format!("{text}broken\n")).unwrap();
        assert!(matches!(add("third"), Err(ChangeError::Reread(_))));
        assert!(table.authenticate("third", "p:w").is_none());
        assert!(fs::read_to_string(&path).unwrap().ends_with("broken\n"));
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("users")]);

        // Read again on request too (what a reload signal calls).
        fs::write(&path, "hand:{PLAIN}h2\n").unwrap();
        assert_eq!(file.reload(&table).unwrap(), Some(FileRefresh { added: 0, changed: 1, removed: 3 }));
        assert_eq!(file.reload(&table).unwrap(), None);
        assert_eq!(names(&table.snapshot()), ["admin", "hand"]);
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
