//! Passwords at rest, in Dovecot's scheme syntax, and checking a login
//! against them.
//!
//! An account's password is kept either as given (`-u` on the command
//! line, and the plain-text schemes of a users file) or as a field in one
//! of Dovecot's hashing schemes, read by [`super::schemes`]. Passwords set
//! over MGMT are stored in a [`PasswordScheme`] (`--password-scheme`), by
//! default SHA512-CRYPT (`{SHA512-CRYPT}$6$...`, what Dovecot's
//! `doveadm pw -s SHA512-CRYPT` writes). A field no login could
//! match (an unknown scheme, a malformed value) is kept too, so that the
//! account and its line survive, but it never matches.
//!
//! The crypt family, PBKDF2 and Argon2 are deliberately slow, so
//! [`VerifiedCache`] remembers, per account, a keyed digest of the last
//! password that passed, and a client logging in again and again costs one
//! fast digest instead of the full hash. The digest key is random per
//! process, so the cache holds nothing an attacker could use offline. The
//! slow checks that do run are bounded by [`SlowCheckGate`], so a burst of
//! logins cannot take every core or gigabytes of Argon2 memory.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use parking_lot::{Condvar, Mutex};
use sha2::{Digest, Sha256};
use sha_crypt::{PasswordHasher, ShaCrypt};

use super::crypt::CryptHash;
use super::schemes::{self, SchemeError, Verifier};
use super::users::{AccountId, Password};

/// How a password is kept.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredPassword {
    Plain(Password),
    /// A users-file field in a hashing scheme, as written (`{SSHA}...`), and
    /// the check read from it. Equal fields are equal passwords.
    Hashed {
        field: String,
        verifier: Verifier,
    },
    /// A users-file field that no password matches, as written.
    Unusable {
        field: String,
    },
}

/// The scheme new passwords are stored in.
pub const SHA512_CRYPT_SCHEME: &str = "SHA512-CRYPT";

impl StoredPassword {
    /// Hashes `password` with SHA512-CRYPT and a fresh random salt.
    pub fn hash(password: &str) -> Self {
        Self::from_crypt(&sha512_crypt(password)).expect("sha-crypt writes valid SHA512-crypt strings")
    }

    /// Reads a crypt(3) string (`$6$...`, `$2y$...`), as found after
    /// `{SHA512-CRYPT}` or `{CRYPT}`.
    pub fn from_crypt(crypt: &str) -> Option<Self> {
        let verifier = Verifier::Crypt(CryptHash::parse(crypt).ok()?);
        let scheme = if crypt.starts_with("$6$") { SHA512_CRYPT_SCHEME } else { "CRYPT" };
        Some(Self::Hashed { field: format!("{{{scheme}}}{crypt}"), verifier })
    }

    /// Reads a users-file password field, `{SCHEME}value` or a bare CRYPT
    /// value, as Dovecot does.
    ///
    /// # Errors
    /// Names the scheme and what is wrong with the value (never the value).
    pub fn from_field(field: &str) -> Result<Self, SchemeError> {
        schemes::read_field(field)
    }

    /// True if `guess` is this password. Every comparison takes time that
    /// does not depend on how much of the guess is right.
    pub fn matches(&self, guess: &str) -> bool {
        match self {
            StoredPassword::Plain(password) => password.matches(guess),
            StoredPassword::Hashed { verifier, .. } => verifier.matches(guess.as_bytes()),
            StoredPassword::Unusable { .. } => false,
        }
    }

    /// True for schemes that are slow to check (worth caching).
    fn is_slow(&self) -> bool {
        matches!(self, StoredPassword::Hashed { verifier, .. } if verifier.is_slow())
    }
}

/// The `$6$rounds=5000$salt$hash` crypt string of `password`, with a fresh
/// random salt.
pub fn sha512_crypt(password: &str) -> String {
    let salt = random_bytes::<12>();
    let hash = ShaCrypt::SHA512
        .hash_password_with_salt(password.as_bytes(), &salt)
        .expect("a 12-byte salt and default rounds are valid SHA512-CRYPT parameters");
    hash.as_str().to_owned()
}

/// A scheme pop3d can store a new password in (`--password-scheme`, used
/// by MGMT and `--hash-password`), each written as `doveadm pw -s SCHEME`
/// writes it, so that Dovecot verifies it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordScheme {
    #[default]
    Sha512Crypt,
    Sha256Crypt,
    /// bcrypt, `$2y$`.
    BlfCrypt,
    /// Argon2id with Dovecot's default cost (64 MiB, 3 passes).
    Argon2id,
    /// Salted SHA-512, base64.
    Ssha512,
    /// The password itself (`{PLAIN}`, or `{PLAIN.HEX}` when it holds a
    /// `:` or a control character).
    Plain,
}

/// A `--password-scheme` that is not one pop3d can write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScheme;

impl fmt::Display for UnknownScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("new passwords can be stored as ")?;
        f.write_str(&PasswordScheme::ALL.map(PasswordScheme::name).join(", "))
    }
}

impl std::error::Error for UnknownScheme {}

impl PasswordScheme {
    pub const ALL: [PasswordScheme; 6] = [
        PasswordScheme::Sha512Crypt,
        PasswordScheme::Sha256Crypt,
        PasswordScheme::BlfCrypt,
        PasswordScheme::Argon2id,
        PasswordScheme::Ssha512,
        PasswordScheme::Plain,
    ];

    /// bcrypt's cost (2^10 rounds) when pop3d writes `$2y$`.
    const BCRYPT_COST: u32 = 10;
    /// Argon2id's memory (KiB) and passes, as `doveadm pw -s ARGON2ID`.
    const ARGON2_MEMORY_KIB: u32 = 65_536;
    const ARGON2_PASSES: u32 = 3;

    /// Dovecot's name of the scheme, as written between `{}`.
    pub fn name(self) -> &'static str {
        match self {
            PasswordScheme::Sha512Crypt => SHA512_CRYPT_SCHEME,
            PasswordScheme::Sha256Crypt => "SHA256-CRYPT",
            PasswordScheme::BlfCrypt => "BLF-CRYPT",
            PasswordScheme::Argon2id => "ARGON2ID",
            PasswordScheme::Ssha512 => "SSHA512",
            PasswordScheme::Plain => "PLAIN",
        }
    }

    /// Reads a scheme name, in any case.
    pub fn parse(name: &str) -> Result<Self, UnknownScheme> {
        Self::ALL.into_iter().find(|scheme| scheme.name().eq_ignore_ascii_case(name)).ok_or(UnknownScheme)
    }

    /// `password` in this scheme with a fresh random salt, as a users-file
    /// field (`{SCHEME}value`).
    pub fn field(self, password: &str) -> String {
        let value = match self {
            PasswordScheme::Sha512Crypt => sha512_crypt(password),
            PasswordScheme::Sha256Crypt => ShaCrypt::SHA256
                .hash_password_with_salt(password.as_bytes(), &random_bytes::<12>())
                .expect("a 12-byte salt and default rounds are valid SHA256-CRYPT parameters")
                .as_str()
                .to_owned(),
            PasswordScheme::BlfCrypt => bcrypt::hash_with_salt(password, Self::BCRYPT_COST, random_bytes::<16>())
                .expect("cost 10 is a valid bcrypt cost")
                .format_for_version(bcrypt::Version::TwoY),
            PasswordScheme::Argon2id => {
                use argon2::PasswordHasher as _;
                let params = argon2::Params::new(Self::ARGON2_MEMORY_KIB, Self::ARGON2_PASSES, 1, None)
                    .expect("64 MiB, 3 passes, 1 lane are valid Argon2 parameters");
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                    .hash_password_with_salt(password.as_bytes(), &random_bytes::<16>())
                    .expect("a 16-byte salt is a valid Argon2 salt")
                    .to_string()
            }
            PasswordScheme::Ssha512 => {
                use base64::Engine as _;
                let salt = random_bytes::<16>();
                let digest = sha2::Sha512::new().chain_update(password.as_bytes()).chain_update(salt).finalize();
                base64::engine::general_purpose::STANDARD.encode([digest.as_slice(), &salt].concat())
            }
            PasswordScheme::Plain => return plain_field(password),
        };
        format!("{{{}}}{value}", self.name())
    }

    /// `password` stored in this scheme, ready to check logins against.
    pub fn store(self, password: &str) -> StoredPassword {
        StoredPassword::from_field(&self.field(password)).expect("pop3d reads every field it writes")
    }
}

/// A plain password as a users-file field that reads back as it was:
/// `{PLAIN.HEX}` when a `:` would end the field or a control character
/// would end the line, else `{PLAIN}`.
pub fn plain_field(password: &str) -> String {
    if password.contains(':') || password.chars().any(char::is_control) {
        let hex: String = password.bytes().map(|byte| format!("{byte:02x}")).collect();
        format!("{{PLAIN.HEX}}{hex}")
    } else {
        format!("{{PLAIN}}{password}")
    }
}

/// A crypt string as a users-file password field: `{SHA512-CRYPT}$6$...`.
pub fn sha512_crypt_field(crypt: &str) -> String {
    format!("{{{SHA512_CRYPT_SCHEME}}}{crypt}")
}

impl fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoredPassword::Plain(_) => "StoredPassword::Plain(***)",
            StoredPassword::Hashed { .. } => "StoredPassword::Hashed(***)",
            StoredPassword::Unusable { .. } => "StoredPassword::Unusable(***)",
        })
    }
}

/// Per-account digests of the last password that passed a slow check,
/// and the bound on slow checks running at once.
#[derive(Debug)]
pub struct VerifiedCache {
    key: [u8; 32],
    digests: Mutex<HashMap<AccountId, [u8; 32]>>,
    slow_checks: SlowCheckGate,
}

impl Default for VerifiedCache {
    fn default() -> Self {
        Self {
            key: random_bytes(),
            digests: Mutex::new(HashMap::new()),
            slow_checks: SlowCheckGate::for_this_machine(),
        }
    }
}

/// Lets at most `limit` slow hash checks run at once; the others wait
/// their turn. One Argon2 check of a Dovecot hash takes 64 MiB (a file may
/// ask for up to 1 GiB) and a crypt or PBKDF2
/// check a core for tens of milliseconds, so without it a burst of logins
/// (hundreds of pool threads at once) could take gigabytes and every core:
/// with it, memory is bounded by `limit` checks, and checks beyond the
/// cores would only have shared them anyway. A waiting login holds no
/// lock but this gate's own.
#[derive(Debug)]
pub struct SlowCheckGate {
    running: Mutex<usize>,
    freed: Condvar,
    limit: usize,
}

impl SlowCheckGate {
    /// At most this many slow checks at once, whatever the cores.
    pub const MAX_LIMIT: usize = 8;

    pub fn new(limit: usize) -> Self {
        Self { running: Mutex::new(0), freed: Condvar::new(), limit: limit.max(1) }
    }

    /// One check per core, from 2 to [`SlowCheckGate::MAX_LIMIT`].
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::new(cores.clamp(2, Self::MAX_LIMIT))
    }

    /// Runs `check` once fewer than `limit` others are running.
    pub fn run<T>(&self, check: impl FnOnce() -> T) -> T {
        {
            let mut running = self.running.lock();
            while *running >= self.limit {
                self.freed.wait(&mut running);
            }
            *running += 1;
        }
        // Released even if `check` panics, so one bad hash cannot shrink
        // the gate for good.
        struct Release<'a>(&'a SlowCheckGate);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                *self.0.running.lock() -= 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        check()
    }
}

impl VerifiedCache {
    /// Checks `guess` against `stored` for account `id`, consulting and
    /// updating the cache for hashed passwords.
    pub fn check(&self, id: AccountId, stored: &StoredPassword, guess: &str) -> bool {
        if !stored.is_slow() {
            return stored.matches(guess);
        }
        let digest = self.digest(guess);
        let cached = self.digests.lock().get(&id).copied();
        if cached.is_some_and(|cached| constant_time_eq(&cached, &digest)) {
            return true;
        }
        let matches = self.slow_checks.run(|| stored.matches(guess));
        if matches {
            self.digests.lock().insert(id, digest);
        }
        matches
    }

    /// Forgets account `id` (its password changed or it was deleted).
    pub fn forget(&self, id: AccountId) {
        self.digests.lock().remove(&id);
    }

    fn digest(&self, guess: &str) -> [u8; 32] {
        Sha256::new().chain_update(self.key).chain_update(guess.as_bytes()).finalize().into()
    }
}

/// True if `a` and `b` are equal, in time that depends only on their
/// lengths (which are no secret: a digest's length is its scheme's).
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |difference, (x, y)| difference | (x ^ y)) == 0
}

/// Bytes from the kernel's random source.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut urandom| urandom.read_exact(&mut bytes))
        .expect("/dev/urandom is readable");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let first = StoredPassword::hash("s3cret");
        let second = StoredPassword::hash("s3cret");
        assert!(first.matches("s3cret"));
        assert!(!first.matches("s3cre"));
        assert!(!first.matches(""));
        assert_ne!(first, second, "a fresh salt each time");
    }

    #[test]
    fn dovecot_sha512_crypt_hashes_verify() {
        // `doveadm pw -s SHA512-CRYPT -p pass` style output (glibc crypt(3)).
        let crypt =
            "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";
        let stored = StoredPassword::from_crypt(crypt).unwrap();
        assert!(stored.matches("password"));
        assert!(!stored.matches("Password"));
        assert!(StoredPassword::from_crypt("$1$md5$x").is_none());
        assert_eq!(StoredPassword::from_field(&sha512_crypt_field(crypt)), Ok(stored));
    }

    #[test]
    fn the_cache_never_accepts_a_wrong_password() {
        let cache = VerifiedCache::default();
        let stored = StoredPassword::hash("right");
        assert!(!cache.check(1, &stored, "wrong"));
        assert!(cache.check(1, &stored, "right"));
        assert!(cache.check(1, &stored, "right"), "from the cache");
        assert!(!cache.check(1, &stored, "wrong"));
        cache.forget(1);
        assert!(!cache.check(1, &StoredPassword::hash("new"), "right"), "a forgotten entry is not used");
    }

    /// Every scheme pop3d writes reads back and checks; Dovecot's own
    /// verdict on them is tests/dovecot_users_file.rs's business.
    #[test]
    fn every_new_password_scheme_reads_back() {
        for scheme in PasswordScheme::ALL {
            let field = scheme.field("pa:ss word");
            assert!(field.starts_with(&format!("{{{}", scheme.name())), "{field}");
            let stored = StoredPassword::from_field(&field).unwrap();
            assert!(stored.matches("pa:ss word"), "{field}");
            assert!(!stored.matches("pa:ss wore"), "{field}");
            assert_eq!(PasswordScheme::parse(&scheme.name().to_lowercase()), Ok(scheme));
        }
        assert!(PasswordScheme::field(PasswordScheme::BlfCrypt, "x").starts_with("{BLF-CRYPT}$2y$10$"));
        assert!(PasswordScheme::field(PasswordScheme::Argon2id, "x")
            .starts_with("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$"));
        assert_eq!(PasswordScheme::Plain.field("a:b"), "{PLAIN.HEX}613a62");
        assert_eq!(PasswordScheme::parse("MD5"), Err(UnknownScheme));
        assert_eq!(PasswordScheme::default().name(), "SHA512-CRYPT");
    }

    /// With more checks wanting to run than the limit, exactly `limit` run
    /// at once, and every one of them finishes.
    #[test]
    fn slow_checks_are_bounded() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        const LIMIT: usize = 2;
        const CHECKS: usize = 6;
        let gate = SlowCheckGate::new(LIMIT);
        let (running, most, done) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..CHECKS {
                scope.spawn(|| {
                    gate.run(|| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        // Stay until the gate is full (or nobody else is
                        // left to fill it), bounded in case it never is.
                        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                        while running.load(Ordering::SeqCst) < LIMIT
                            && done.load(Ordering::SeqCst) + LIMIT <= CHECKS
                            && std::time::Instant::now() < deadline
                        {
                            std::thread::yield_now();
                        }
                        running.fetch_sub(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                });
            }
        });
        assert_eq!(done.load(Ordering::SeqCst), CHECKS);
        assert_eq!(most.load(Ordering::SeqCst), LIMIT, "never more than the limit, and the limit is reached");
        assert!((2..=SlowCheckGate::MAX_LIMIT).contains(&SlowCheckGate::for_this_machine().limit));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let text = format!("{:?} {:?}", StoredPassword::hash("x"), StoredPassword::Plain(Password::new("hunter2")));
        assert!(!text.contains("hunter2") && !text.contains("$6$"), "{text}");
    }
}
