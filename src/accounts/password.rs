//! Passwords at rest, in Dovecot's scheme syntax, and checking a login
//! against them.
//!
//! An account's password is kept either as given (`{PLAIN}`, for
//! compatibility and for `-u` on the command line) or as a SHA512-CRYPT hash
//! (`{SHA512-CRYPT}$6$...`, what Dovecot's `doveadm pw -s SHA512-CRYPT`
//! writes), which is how passwords set over MGMT are stored. SHA512-CRYPT is
//! deliberately slow (5,000 rounds), so [`VerifiedCache`] remembers, per
//! account, a keyed digest of the last password that passed, and a client
//! logging in again and again costs one fast digest instead of the full
//! hash. The digest key is random per process, so the cache holds nothing
//! an attacker could use offline.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use sha_crypt::{PasswordHasher, PasswordVerifier, ShaCrypt};

use super::users::{AccountId, Password};

/// How a password is kept.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredPassword {
    Plain(Password),
    /// A `$6$[rounds=N$]salt$hash` crypt string.
    Sha512Crypt(String),
}

/// The scheme names this server reads and writes.
pub const PLAIN_SCHEME: &str = "PLAIN";
pub const SHA512_CRYPT_SCHEME: &str = "SHA512-CRYPT";

impl StoredPassword {
    /// Hashes `password` with SHA512-CRYPT and a fresh random salt.
    pub fn hash(password: &str) -> Self {
        Self::Sha512Crypt(sha512_crypt(password))
    }

    /// Reads a `$6$...` crypt string, as found after `{SHA512-CRYPT}`.
    pub fn from_crypt(crypt: &str) -> Option<Self> {
        let valid = crypt.starts_with("$6$") && crypt.split('$').count() >= 4 && !crypt.contains([':', '\n']);
        valid.then(|| Self::Sha512Crypt(crypt.to_owned()))
    }

    /// True if `guess` is this password. Both branches take time that does
    /// not depend on how much of the guess is right.
    pub fn matches(&self, guess: &str) -> bool {
        match self {
            StoredPassword::Plain(password) => password.matches(guess),
            StoredPassword::Sha512Crypt(crypt) => {
                ShaCrypt::SHA512.verify_password(guess.as_bytes(), crypt.as_str()).is_ok()
            }
        }
    }

    /// True for schemes that are slow to check (worth caching).
    fn is_hashed(&self) -> bool {
        matches!(self, StoredPassword::Sha512Crypt(_))
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

/// A crypt string as a users-file password field: `{SHA512-CRYPT}$6$...`.
pub fn sha512_crypt_field(crypt: &str) -> String {
    format!("{{{SHA512_CRYPT_SCHEME}}}{crypt}")
}

impl fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredPassword::Plain(_) => f.write_str("StoredPassword::Plain(***)"),
            StoredPassword::Sha512Crypt(_) => f.write_str("StoredPassword::Sha512Crypt(***)"),
        }
    }
}

/// Per-account digests of the last password that passed a slow check.
#[derive(Debug)]
pub struct VerifiedCache {
    key: [u8; 32],
    digests: Mutex<HashMap<AccountId, [u8; 32]>>,
}

impl Default for VerifiedCache {
    fn default() -> Self {
        Self { key: random_bytes(), digests: Mutex::new(HashMap::new()) }
    }
}

impl VerifiedCache {
    /// Checks `guess` against `stored` for account `id`, consulting and
    /// updating the cache for hashed passwords.
    pub fn check(&self, id: AccountId, stored: &StoredPassword, guess: &str) -> bool {
        if !stored.is_hashed() {
            return stored.matches(guess);
        }
        let digest = self.digest(guess);
        let cached = self.digests.lock().get(&id).copied();
        if cached.is_some_and(|cached| constant_time_eq(&cached, &digest)) {
            return true;
        }
        let matches = stored.matches(guess);
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

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |difference, (x, y)| difference | (x ^ y)) == 0
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

    #[test]
    fn debug_output_hides_the_secret() {
        let text = format!("{:?} {:?}", StoredPassword::hash("x"), StoredPassword::Plain(Password::new("hunter2")));
        assert!(!text.contains("hunter2") && !text.contains("$6$"), "{text}");
    }
}
