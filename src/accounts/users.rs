//! The user table: who may log in, with which password, and who is admin.
//!
//! Shared by every POP3 session (to authenticate, and to notice an account
//! deleted while its session is open) and by MGMT (to add, delete and reset
//! accounts live). User names are validated here once, so no name that could
//! escape the mail root (`..`, `/`, a leading `.`) ever reaches the storage,
//! and matched here as Dovecot matches them: case-insensitively by default
//! (see [`UserNameCase`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::RwLock;

use super::password::{StoredPassword, VerifiedCache};

/// A user name that is safe to use as a directory name under the mail root,
/// in the characters Dovecot's default `auth_username_chars` allows plus
/// `+`: see [`InvalidUserName`] for the rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserName(String);

/// Why a user name was refused: it breaks one of the rules its `Display`
/// states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUserName;

impl fmt::Display for InvalidUserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "user names are 1-255 of A-Z a-z 0-9 . _ - + @, with at most one @ and text on both sides of it, \
             no '..', and neither the name nor its domain starts with '.'",
        )
    }
}

impl std::error::Error for InvalidUserName {}

impl UserName {
    /// The longest name: a whole name is one directory name (`DIR/%u`), and
    /// a directory name is at most 255 bytes (NAME_MAX).
    pub const MAX_LEN: usize = 255;

    pub fn parse(name: &str) -> Result<Self, InvalidUserName> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'@');
        // Each part may become a path component of its own (`%n`, `%d`):
        // none may be empty, `.`, `..` or hidden, and `..` is refused
        // anywhere so that no later template can put two dots together.
        let component = |part: &str| !part.is_empty() && !part.starts_with('.');
        let parts_safe = match name.split_once('@') {
            Some((local, domain)) => component(local) && component(domain) && !domain.contains('@'),
            None => component(name),
        };
        let valid = name.len() <= Self::MAX_LEN && name.bytes().all(allowed) && !name.contains("..") && parts_safe;
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidUserName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How names are matched with accounts.
///
/// Dovecot's default `auth_username_format = %Lu` lower-cases the name a
/// client logs in with; pop3d lower-cases every name wherever it enters
/// (users file, command line, MGMT, login), so `Alice`, `ALICE` and `alice`
/// are one account whose Maildir is `DIR/alice`. `--case-sensitive-users`
/// keeps names exactly as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserNameCase {
    #[default]
    Insensitive,
    Sensitive,
}

impl UserNameCase {
    /// The form of `name` the accounts are kept under.
    pub fn apply(self, name: UserName) -> UserName {
        match self {
            UserNameCase::Insensitive => UserName(name.0.to_ascii_lowercase()),
            UserNameCase::Sensitive => name,
        }
    }

    /// `name` parsed and put in that form.
    pub fn parse(self, name: &str) -> Result<UserName, InvalidUserName> {
        UserName::parse(name).map(|name| self.apply(name))
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password. Its `Debug` never shows it, so it cannot leak into a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares without an early exit, so the time taken does not tell how
    /// many leading characters of a guess were right.
    pub fn matches(&self, guess: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), guess.as_bytes());
        let mut difference = a.len() ^ b.len();
        for (i, &byte) in a.iter().enumerate() {
            difference |= usize::from(byte ^ b.get(i).copied().unwrap_or(!byte));
        }
        difference == 0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A `user:password` pair as given on the command line or in a users file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub name: UserName,
    pub password: StoredPassword,
    /// The home field of a users-file line (its 6th field), for `%h` in
    /// `--mail-location`; none on the command line or over MGMT.
    pub home: Option<PathBuf>,
}

/// Why a `user:password` pair was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsError {
    MissingColon,
    EmptyPassword,
    BadName(InvalidUserName),
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsError::MissingColon => f.write_str("expected user:password"),
            CredentialsError::EmptyPassword => f.write_str("the password is empty"),
            CredentialsError::BadName(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for CredentialsError {}

impl Credentials {
    /// Parses `user:password`; the password may itself contain `:`.
    pub fn parse(text: &str) -> Result<Self, CredentialsError> {
        let (name, password) = text.split_once(':').ok_or(CredentialsError::MissingColon)?;
        let name = UserName::parse(name).map_err(CredentialsError::BadName)?;
        if password.is_empty() {
            return Err(CredentialsError::EmptyPassword);
        }
        Ok(Self { name, password: StoredPassword::Plain(Password::new(password)), home: None })
    }

    /// The same account with its password stored as a hash.
    pub fn hashed(self) -> Self {
        match &self.password {
            StoredPassword::Plain(password) => Self { password: StoredPassword::hash(password.expose()), ..self },
            StoredPassword::Hashed { .. } | StoredPassword::Unusable { .. } => self,
        }
    }
}

/// Identifies one incarnation of an account: deleting a user and adding it
/// again yields a new id, so a session of the old account can tell.
pub type AccountId = u64;

#[derive(Debug, Clone)]
struct Account {
    password: StoredPassword,
    id: AccountId,
    home: Option<PathBuf>,
}

/// Why a change to the table was refused (MGMT turns these into `-ERR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserTableError {
    AlreadyExists,
    MaxUsersReached,
    NotFound,
    AdminCannotBeDeleted,
    BelowCurrentCount,
}

impl fmt::Display for UserTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UserTableError::AlreadyExists => "a user with that name already exists",
            UserTableError::MaxUsersReached => "the table already holds the maximum number of users",
            UserTableError::NotFound => "no user has that name",
            UserTableError::AdminCannotBeDeleted => "the admin account cannot be deleted",
            UserTableError::BelowCurrentCount => "the maximum number of users cannot be below the number there are",
        })
    }
}

impl std::error::Error for UserTableError {}

/// One change MGMT makes to the accounts, applied to the table by
/// [`UserTable::apply`] and to the users file's lines by
/// [`super::users_file::UsersFile::apply`].
#[derive(Debug, Clone)]
pub enum UserChange {
    Add(Credentials),
    /// The name as the admin gave it (matched in the table's case).
    Delete(String),
    SetPassword(String, StoredPassword),
}

/// What a re-read of the users file changed in the table: see
/// [`UserTable::refresh_from_file`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileRefresh {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

/// The live table of accounts.
#[derive(Debug)]
pub struct UserTable {
    accounts: RwLock<BTreeMap<UserName, Account>>,
    /// The account that may log in to MGMT; it is also a POP3 user.
    admin: UserName,
    /// How names given to any method below are matched with the accounts.
    case: UserNameCase,
    max_users: AtomicUsize,
    next_id: AtomicU64,
    /// Spares repeated logins the slow hash check.
    verified: VerifiedCache,
    /// Users given on the command line (`-u`), which win over the users
    /// file: a re-read of the file ([`UserTable::refresh_from_file`])
    /// leaves them alone.
    command_line: Vec<UserName>,
}

impl UserTable {
    /// Builds the table with Dovecot's default case-insensitive names; see
    /// [`UserTable::with_name_case`].
    pub fn new(admin: Credentials, users: impl IntoIterator<Item = Credentials>, max_users: usize) -> Self {
        Self::with_name_case(UserNameCase::default(), admin, users, max_users)
    }

    /// Builds the table; `admin` is added to (or overrides) `users`, and a
    /// later entry overrides an earlier one of the same name (in `case`).
    /// `max_users` is raised to the number of accounts if lower.
    pub fn with_name_case(
        case: UserNameCase,
        admin: Credentials,
        users: impl IntoIterator<Item = Credentials>,
        max_users: usize,
    ) -> Self {
        let table = Self {
            accounts: RwLock::new(BTreeMap::new()),
            admin: case.apply(admin.name.clone()),
            case,
            max_users: AtomicUsize::new(usize::MAX),
            next_id: AtomicU64::new(1),
            verified: VerifiedCache::default(),
            command_line: Vec::new(),
        };
        {
            let mut accounts = table.accounts.write();
            for credentials in users.into_iter().chain([admin]) {
                let id = table.new_id();
                let account = Account { password: credentials.password, id, home: credentials.home };
                accounts.insert(case.apply(credentials.name), account);
            }
            table.max_users.store(max_users.max(accounts.len()), Ordering::Relaxed);
        }
        table
    }

    fn new_id(&self) -> AccountId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The account id and the name it is kept under (which names its
    /// Maildir), if `name` exists and `password` is its password.
    pub fn authenticate(&self, name: &str, password: &str) -> Option<(AccountId, UserName)> {
        let name = self.case.parse(name).ok()?;
        // Copied out so that a slow hash check holds no lock.
        let account = self.accounts.read().get(&name)?.clone();
        self.verified.check(account.id, &account.password, password).then_some((account.id, name))
    }

    /// True if the MGMT admin account has this name and password.
    pub fn authenticate_admin(&self, name: &str, password: &str) -> bool {
        self.is_admin(name) && self.authenticate(name, password).is_some()
    }

    fn is_admin(&self, name: &str) -> bool {
        self.case.parse(name).is_ok_and(|name| name == self.admin)
    }

    /// `name` as this table keeps it (lower-cased unless names are
    /// case-sensitive), if it is a valid user name at all.
    pub fn normalize(&self, name: &str) -> Option<UserName> {
        self.case.parse(name).ok()
    }

    /// True while the account `id` of `name` (as [`UserTable::authenticate`]
    /// gave them) still exists (not deleted).
    pub fn is_current(&self, name: &UserName, id: AccountId) -> bool {
        self.accounts.read().get(name).is_some_and(|account| account.id == id)
    }

    /// The home the users file gives `name` (as [`UserTable::authenticate`]
    /// returned it), if any.
    pub fn home(&self, name: &UserName) -> Option<PathBuf> {
        self.accounts.read().get(name).and_then(|account| account.home.clone())
    }

    pub fn admin(&self) -> &UserName {
        &self.admin
    }

    pub fn len(&self) -> usize {
        self.accounts.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All user names, sorted.
    pub fn names(&self) -> Vec<UserName> {
        self.accounts.read().keys().cloned().collect()
    }

    /// All accounts with their passwords, for writing a users file.
    pub fn snapshot(&self) -> Vec<Credentials> {
        let accounts = self.accounts.read();
        accounts
            .iter()
            .map(|(name, account)| Credentials {
                name: name.clone(),
                password: account.password.clone(),
                home: account.home.clone(),
            })
            .collect()
    }

    pub fn max_users(&self) -> usize {
        self.max_users.load(Ordering::Relaxed)
    }

    pub fn set_max_users(&self, max_users: usize) -> Result<(), UserTableError> {
        let accounts = self.accounts.read();
        if max_users < accounts.len() {
            return Err(UserTableError::BelowCurrentCount);
        }
        self.max_users.store(max_users, Ordering::Relaxed);
        Ok(())
    }

    pub fn add(&self, credentials: Credentials) -> Result<(), UserTableError> {
        let name = self.case.apply(credentials.name);
        let mut accounts = self.accounts.write();
        if accounts.contains_key(&name) {
            return Err(UserTableError::AlreadyExists);
        }
        if accounts.len() >= self.max_users() {
            return Err(UserTableError::MaxUsersReached);
        }
        let id = self.new_id();
        accounts.insert(name, Account { password: credentials.password, id, home: credentials.home });
        Ok(())
    }

    pub fn delete(&self, name: &str) -> Result<(), UserTableError> {
        // Compared in the table's case, so `ADMIN` cannot slip past.
        if self.is_admin(name) {
            return Err(UserTableError::AdminCannotBeDeleted);
        }
        let name = self.case.parse(name).map_err(|_| UserTableError::NotFound)?;
        let account = self.accounts.write().remove(&name).ok_or(UserTableError::NotFound)?;
        self.verified.forget(account.id);
        Ok(())
    }

    /// Applies one MGMT change.
    pub fn apply(&self, change: &UserChange) -> Result<(), UserTableError> {
        match change {
            UserChange::Add(credentials) => self.add(credentials.clone()),
            UserChange::Delete(name) => self.delete(name),
            UserChange::SetPassword(name, password) => self.set_password(name, password.clone()),
        }
    }

    /// The same, with `names` given on the command line (`-u`): the users
    /// file never overrides or removes them.
    pub fn with_command_line_users(self, names: impl IntoIterator<Item = UserName>) -> Self {
        let command_line = names.into_iter().map(|name| self.case.apply(name)).collect();
        Self { command_line, ..self }
    }

    /// Brings the accounts a users file defines from `old` (what the file
    /// said when last read) to `new` (what it says now), as a re-read
    /// after a hand edit needs: users gone from the file are deleted,
    /// users new to it added, users whose line changed take its password
    /// and home, and users whose line did not change are left alone. Users
    /// given with `-u` are never touched, whatever the file says of them,
    /// and neither is the admin:
    /// it stays the one MGMT logs in with until a restart. A changed user
    /// keeps its account id, so its open sessions go on, as after
    /// [`UserTable::set_password`]; a deleted one's sessions notice it.
    /// Names in `old` and `new` are in the table's case, as
    /// [`super::users_file::parse`] gives them. The file may hold more
    /// users than `max_users`, which then grows to fit.
    pub fn refresh_from_file(&self, old: &[Credentials], new: &[Credentials]) -> FileRefresh {
        let mut refresh = FileRefresh::default();
        let mut accounts = self.accounts.write();
        let from_file = |user: &&Credentials| user.name != self.admin && !self.command_line.contains(&user.name);
        for gone in old.iter().filter(from_file).filter(|o| !new.iter().any(|n| n.name == o.name)) {
            if let Some(account) = accounts.remove(&gone.name) {
                self.verified.forget(account.id);
                refresh.removed += 1;
            }
        }
        for user in new.iter().filter(from_file) {
            if old.iter().any(|o| o == user) {
                continue;
            }
            match accounts.get_mut(&user.name) {
                Some(account) => {
                    account.password = user.password.clone();
                    account.home = user.home.clone();
                    self.verified.forget(account.id);
                    refresh.changed += 1;
                }
                None => {
                    let account =
                        Account { password: user.password.clone(), id: self.new_id(), home: user.home.clone() };
                    accounts.insert(user.name.clone(), account);
                    refresh.added += 1;
                }
            }
        }
        self.max_users.fetch_max(accounts.len(), Ordering::Relaxed);
        refresh
    }

    /// Sets a new password; open sessions of the user are not affected.
    pub fn set_password(&self, name: &str, password: StoredPassword) -> Result<(), UserTableError> {
        let name = self.case.parse(name).map_err(|_| UserTableError::NotFound)?;
        let mut accounts = self.accounts.write();
        let account = accounts.get_mut(&name).ok_or(UserTableError::NotFound)?;
        account.password = password;
        self.verified.forget(account.id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(text: &str) -> Credentials {
        Credentials::parse(text).unwrap()
    }

    #[test]
    fn user_names_cannot_escape_the_mail_root() {
        let longest = "x".repeat(UserName::MAX_LEN);
        let good = ["alice", "a.b", "A_1-x", "alice@example.org", "bob+lists@mail.example.org", "a.@b", &longest];
        for good in good {
            assert!(UserName::parse(good).is_ok(), "{good}");
        }
        let too_long = "x".repeat(UserName::MAX_LEN + 1);
        let bad = ["", ".", "..", ".hidden", "a/b", "../etc", "a b", "é", "a\0", "a\\b", &too_long];
        // Each part of user@domain is a path component of its own later on.
        let bad_domains = ["a@../b", "a@b/../c", "../x", "a@..", "a@.b", ".a@b", "a..b@c", "a@b..c", "@b", "a@", "@"];
        for bad in bad.into_iter().chain(bad_domains).chain(["a@b@c", "a%b", "a:b", "a*"]) {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_matched_case_insensitively_unless_asked() {
        let table = UserTable::new(credentials("Admin:admin"), [credentials("Alice@Example.ORG:pw")], 10);
        for login in ["alice@example.org", "ALICE@EXAMPLE.ORG", "Alice@Example.ORG"] {
            let (_, name) = table.authenticate(login, "pw").unwrap();
            assert_eq!(name.as_str(), "alice@example.org", "kept and served lower-cased, as %Lu");
        }
        assert_eq!(table.admin().as_str(), "admin");
        assert!(table.authenticate_admin("ADMIN", "admin"));
        assert_eq!(table.delete("ADMIN"), Err(UserTableError::AdminCannotBeDeleted));
        assert_eq!(table.add(credentials("ALICE@example.org:x")), Err(UserTableError::AlreadyExists));
        table.set_password("ALICE@EXAMPLE.ORG", StoredPassword::hash("new")).unwrap();
        assert!(table.authenticate("alice@example.org", "new").is_some());
        table.delete("Alice@Example.Org").unwrap();
        assert_eq!(table.names(), [UserName::parse("admin").unwrap()]);

        let exact = UserTable::with_name_case(
            UserNameCase::Sensitive,
            credentials("Admin:admin"),
            [credentials("Alice:pw")],
            10,
        );
        assert!(exact.authenticate("Alice", "pw").is_some());
        assert!(exact.authenticate("alice", "pw").is_none());
        assert!(!exact.authenticate_admin("admin", "admin"));
        exact.add(credentials("alice:other")).unwrap();
        assert_eq!(exact.len(), 3, "Alice and alice are two accounts");
    }

    #[test]
    fn a_reread_file_changes_only_what_its_lines_changed() {
        let old = [credentials("alice:a"), credentials("bob:b"), credentials("carol:c"), credentials("admin:x")];
        // -u carol:flag overrode the file's carol.
        let table = UserTable::new(
            credentials("admin:admin"),
            [credentials("alice:a"), credentials("bob:b"), credentials("carol:flag")],
            3,
        );
        let (alice_id, _) = table.authenticate("alice", "a").unwrap();
        let (bob_id, bob) = table.authenticate("bob", "b").unwrap();
        let mut alice_new = credentials("alice:a2");
        alice_new.home = Some("/home/alice".into());
        let new =
            [alice_new, credentials("carol:c"), credentials("dave:d"), credentials("erin:e"), credentials("admin:y")];
        let refresh = table.refresh_from_file(&old, &new);
        assert_eq!(refresh, FileRefresh { added: 2, changed: 1, removed: 1 });
        assert_eq!(table.authenticate("alice", "a2").map(|(id, _)| id), Some(alice_id), "same account");
        assert_eq!(table.home(&UserName::parse("alice").unwrap()), Some("/home/alice".into()));
        assert!(!table.is_current(&bob, bob_id), "bob is gone");
        assert!(table.authenticate("carol", "flag").is_some(), "an unchanged line keeps its -u override");
        assert!(table.authenticate("dave", "d").is_some() && table.authenticate("erin", "e").is_some());
        assert!(table.authenticate_admin("admin", "admin"), "the admin is left alone");
        assert_eq!(table.max_users(), 5, "grown to fit the file");
        assert_eq!(table.refresh_from_file(&new, &new), FileRefresh::default());
    }

    #[test]
    fn a_reread_file_never_touches_command_line_users() {
        let table = UserTable::new(credentials("admin:admin"), [credentials("carol:flag"), credentials("dan:d")], 3)
            .with_command_line_users([UserName::parse("Carol").unwrap(), UserName::parse("dan").unwrap()]);
        // The file gains a carol line, and loses the dan line it had.
        let refresh = table.refresh_from_file(&[credentials("dan:file")], &[credentials("carol:file")]);
        assert_eq!(refresh, FileRefresh::default());
        assert!(table.authenticate("carol", "flag").is_some() && table.authenticate("carol", "file").is_none());
        assert!(table.authenticate("dan", "d").is_some(), "-u dan stays");
    }

    #[test]
    fn credentials_split_at_the_first_colon() {
        let parsed = credentials("bob:pa:ss");
        assert_eq!(parsed.name.as_str(), "bob");
        assert!(parsed.password.matches("pa:ss"));
        assert_eq!(Credentials::parse("bob"), Err(CredentialsError::MissingColon));
        assert_eq!(Credentials::parse("bob:"), Err(CredentialsError::EmptyPassword));
        assert!(matches!(Credentials::parse("../x:y"), Err(CredentialsError::BadName(_))));
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let text = format!("{:?}", credentials("carol:hunter2"));
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn password_comparison_is_exact() {
        let password = Password::new("secret");
        assert!(password.matches("secret"));
        for wrong in ["", "secre", "secret!", "Secret", "secreu"] {
            assert!(!password.matches(wrong), "{wrong}");
        }
    }

    #[test]
    fn accounts_are_added_deleted_and_reincarnated() {
        let table = UserTable::new(credentials("admin:admin"), [credentials("alice:pw")], 3);
        let (first, _) = table.authenticate("alice", "pw").unwrap();
        assert_eq!(table.authenticate("alice", "nope"), None);
        assert_eq!(table.authenticate("nobody", "pw"), None);
        assert!(table.authenticate_admin("admin", "admin"));
        assert!(!table.authenticate_admin("alice", "pw"));
        assert_eq!(table.delete("admin"), Err(UserTableError::AdminCannotBeDeleted));
        assert_eq!(table.delete("ghost"), Err(UserTableError::NotFound));
        table.add(credentials("bob:pw")).unwrap();
        assert_eq!(table.add(credentials("bob:pw")), Err(UserTableError::AlreadyExists));
        assert_eq!(table.add(credentials("carl:pw")), Err(UserTableError::MaxUsersReached));
        assert_eq!(table.set_max_users(2), Err(UserTableError::BelowCurrentCount));
        table.delete("alice").unwrap();
        assert!(!table.is_current(&UserName::parse("alice").unwrap(), first));
        table.add(credentials("alice:pw")).unwrap();
        let (second, _) = table.authenticate("alice", "pw").unwrap();
        assert_ne!(first, second);
        table.set_password("alice", StoredPassword::hash("alice")).unwrap();
        assert!(table.authenticate("alice", "alice").is_some());
    }
}
