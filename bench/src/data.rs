//! The benchmark's data set: a deterministic mail root both servers read.
//!
//! Messages are written as a delivery agent writes them: bare LF line ends,
//! and lines that start with "." (so RETR must byte-stuff). Every file sits
//! in cur/ named `<unique>,S=<octets>,W=<octets as sent>:2,`, the names
//! both pop3d and Dovecot read sizes from. Large messages are hard-linked
//! into several users, so ten downloaders cost one file on disk and one copy
//! in the page cache. The set is generated once per size and reused; only
//! the "first login" maildrops, which a login changes, are rebuilt per run.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Bumped whenever the generated content changes.
const VERSION: u32 = 1;
pub const PASSWORD: &str = "bench-pw";
const BODY_LINE: usize = 76;
const SMALL_MESSAGE: usize = 4096;
/// Distinct small messages; users' maildrops hard-link these.
const SMALL_POOL: usize = 64;
pub const SMALL_PER_USER: usize = 5;
/// Accounts given `{SHA512-CRYPT}` passwords for the hashed-login row: the
/// first small users, the ones that row's clients log in as.
pub const HASHED_USERS: usize = 50;
/// Users whose maildrops hold many messages, as mail left on the server
/// (the default of most POP3 clients) makes them: this many of each size.
pub const LISTING_USERS: usize = 50;
/// The sizes, in 4 KiB messages, of those maildrops.
pub const LISTING_MESSAGES: [usize; 2] = [100, 1_000];
/// Bumped whenever the listing maildrops change.
const LISTING_VERSION: u32 = 1;

/// How big the data set is.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub big_message: u64,
    pub download_message: u64,
    pub downloaders: usize,
    pub small_users: usize,
    pub many_messages: usize,
    pub first_login_users: usize,
}

/// Where things are once generated.
#[derive(Debug, Clone)]
pub struct DataSet {
    pub root: PathBuf,
    pub mail: PathBuf,
    pub sizes: Sizes,
}

impl DataSet {
    pub fn small_user(index: usize) -> String {
        format!("u{:05}", index + 1)
    }

    pub fn downloader(index: usize) -> String {
        format!("dl{:02}", index + 1)
    }

    pub fn first_login_user(index: usize) -> String {
        format!("first{:02}", index + 1)
    }

    /// Holder `index` of a maildrop of [`LISTING_MESSAGES`]`[0]` messages.
    pub fn user_of_100(index: usize) -> String {
        format!("l100-{:02}", index + 1)
    }

    /// Holder `index` of a maildrop of [`LISTING_MESSAGES`]`[1]` messages.
    pub fn user_of_1000(index: usize) -> String {
        format!("l1000-{:02}", index + 1)
    }

    fn listing_user(messages: usize, index: usize) -> String {
        format!("l{messages}-{:02}", index + 1)
    }

    /// The certificate both servers present over TLS (self-signed, for
    /// 127.0.0.1; the client trusts exactly it).
    pub fn certificate(&self) -> PathBuf {
        self.root.join("cert.pem")
    }

    pub fn private_key(&self) -> PathBuf {
        self.root.join("key.pem")
    }

    /// Every account, for the servers' user lists.
    pub fn users(&self) -> Vec<String> {
        let mut users = vec!["big".to_owned(), "many".to_owned()];
        users.extend((0..self.sizes.downloaders).map(Self::downloader));
        users.extend((0..self.sizes.first_login_users).map(Self::first_login_user));
        users.extend((0..self.sizes.small_users).map(Self::small_user));
        for messages in LISTING_MESSAGES {
            users.extend((0..LISTING_USERS).map(|index| Self::listing_user(messages, index)));
        }
        users
    }

    pub fn passwd_file(&self) -> PathBuf {
        self.root.join("passwd")
    }

    /// The passwd-file of the hashed-login row, which Dovecot and pop3d
    /// (`-f`) both read.
    pub fn hashed_passwd_file(&self) -> PathBuf {
        self.root.join("passwd-sha512-crypt")
    }
}

/// Generates the set under `root` unless a finished one is already there.
pub fn ensure(root: &Path, sizes: Sizes) -> io::Result<DataSet> {
    let set = DataSet { root: root.to_owned(), mail: root.join("mail"), sizes };
    let stamp = root.join(format!("complete-v{VERSION}"));
    if !stamp.exists() {
        if root.exists() {
            fs::remove_dir_all(root)?;
        }
        eprintln!("generating the data set in {} ...", root.display());
        generate(&set)?;
        File::create(&stamp)?;
    }
    let stamp = root.join(format!("complete-listing-v{LISTING_VERSION}"));
    if !stamp.exists() {
        eprintln!("generating the listing maildrops in {} ...", root.display());
        generate_listing(&set)?;
        File::create(&stamp)?;
    }
    ensure_certificate(&set)?;
    write_passwd(&set)?;
    Ok(set)
}

fn generate(set: &DataSet) -> io::Result<()> {
    let sizes = &set.sizes;
    let pool = set.root.join("pool");
    fs::create_dir_all(&pool)?;
    let mut unique = 0u64;
    let mut next_name = |size: u64, virtual_size: u64| {
        unique += 1;
        format!("{}.M{unique}P1.bench,S={size},W={virtual_size}:2,", 1_700_000_000 + unique)
    };

    let (size, virtual_size) = write_message(&pool.join("big"), sizes.big_message, 1)?;
    link_into(&set.mail.join("big"), &pool.join("big"), &next_name(size, virtual_size))?;

    // "A few" large messages: two distinct files shared by the downloaders.
    let mut downloads = Vec::new();
    for copy in 0..2 {
        let path = pool.join(format!("download{copy}"));
        let (size, virtual_size) = write_message(&path, sizes.download_message, 10 + copy)?;
        downloads.push((path, next_name(size, virtual_size)));
    }
    for user in 0..sizes.downloaders {
        let (path, name) = &downloads[user % downloads.len()];
        link_into(&set.mail.join(DataSet::downloader(user)), path, name)?;
    }

    let mut small = Vec::new();
    for index in 0..SMALL_POOL {
        let path = pool.join(format!("small{index}"));
        let sizes = write_message(&path, SMALL_MESSAGE as u64, 100 + index as u64)?;
        small.push((path, sizes));
    }
    for user in 0..sizes.small_users {
        let maildir = set.mail.join(DataSet::small_user(user));
        for index in 0..SMALL_PER_USER {
            let (path, (size, virtual_size)) = &small[(user + index) % SMALL_POOL];
            link_into(&maildir, path, &next_name(*size, *virtual_size))?;
        }
    }
    let many = set.mail.join("many");
    for index in 0..sizes.many_messages {
        let (path, (size, virtual_size)) = &small[index % SMALL_POOL];
        link_into(&many, path, &next_name(*size, *virtual_size))?;
    }
    Ok(())
}

/// The [`LISTING_USERS`] maildrops of each size in [`LISTING_MESSAGES`]:
/// small messages hard-linked from the pool, with sizes in their names.
fn generate_listing(set: &DataSet) -> io::Result<()> {
    let pool = set.root.join("pool");
    for messages in LISTING_MESSAGES {
        for user in 0..LISTING_USERS {
            let maildir = set.mail.join(DataSet::listing_user(messages, user));
            if maildir.exists() {
                fs::remove_dir_all(&maildir)?;
            }
            make_maildir(&maildir)?;
            for index in 0..messages {
                let path = pool.join(format!("small{}", (user + index) % SMALL_POOL));
                let (size, virtual_size) = sizes_of(&path)?;
                let name = format!("{}.M{index}P3Q{user}.bench,S={size},W={virtual_size}:2,", 1_700_000_000 + index);
                fs::hard_link(&path, maildir.join("cur").join(name))?;
            }
        }
    }
    Ok(())
}

/// Octets on disk and octets with CRLF line ends of a pool file.
fn sizes_of(path: &Path) -> io::Result<(u64, u64)> {
    let content = fs::read(path)?;
    let lines = content.iter().filter(|&&b| b == b'\n').count() as u64;
    Ok((content.len() as u64, content.len() as u64 + lines))
}

/// Makes the self-signed certificate both servers use, once.
fn ensure_certificate(set: &DataSet) -> io::Result<()> {
    if set.certificate().exists() && set.private_key().exists() {
        return Ok(());
    }
    let output = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-days", "3650", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // A server certificate, not a CA: rustls refuses a CA as the server.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(set.private_key())
        .arg("-out")
        .arg(set.certificate())
        .output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!("openssl: {}", String::from_utf8_lossy(&output.stderr).trim())));
    }
    Ok(())
}

/// Rebuilds the first-login maildrops: `many_messages` small messages in
/// new/, without sizes in their names, as a delivery agent leaves them.
pub fn reset_first_logins(set: &DataSet) -> io::Result<()> {
    let pool = set.root.join("pool");
    for user in 0..set.sizes.first_login_users {
        let maildir = set.mail.join(DataSet::first_login_user(user));
        if maildir.exists() {
            fs::remove_dir_all(&maildir)?;
        }
        make_maildir(&maildir)?;
        for index in 0..set.sizes.many_messages {
            let name = format!("{}.M{index}P2.bench", 1_700_000_000 + index);
            fs::hard_link(pool.join(format!("small{}", index % SMALL_POOL)), maildir.join("new").join(name))?;
        }
    }
    Ok(())
}

fn make_maildir(maildir: &Path) -> io::Result<()> {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub))?;
    }
    Ok(())
}

fn link_into(maildir: &Path, file: &Path, name: &str) -> io::Result<()> {
    make_maildir(maildir)?;
    fs::hard_link(file, maildir.join("cur").join(name))
}

/// Dovecot's passwd-file; pop3d gets the same accounts on its command line.
fn write_passwd(set: &DataSet) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(set.passwd_file())?);
    for user in set.users() {
        writeln!(out, "{user}:{{PLAIN}}{PASSWORD}::::::")?;
    }
    out.flush()
}

/// Writes the first [`HASHED_USERS`] small users to the hashed passwd-file,
/// each with [`PASSWORD`] as `hash` gives it: `{SHA512-CRYPT}$6$...`, a
/// fresh salt per account, as `doveadm pw -s SHA512-CRYPT` would write it.
pub fn write_hashed_passwd(set: &DataSet, mut hash: impl FnMut(&str) -> io::Result<String>) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(set.hashed_passwd_file())?);
    for user in (0..HASHED_USERS.min(set.sizes.small_users)).map(DataSet::small_user) {
        let field = hash(PASSWORD)?;
        if !field.starts_with("{SHA512-CRYPT}$6$") {
            return Err(io::Error::other(format!("not a SHA512-CRYPT password field: {field}")));
        }
        writeln!(out, "{user}:{field}::::::")?;
    }
    out.flush()
}

/// Writes a message of about `target` octets with LF line ends and some
/// lines starting with "."; returns (file octets, octets as sent with CRLF).
fn write_message(path: &Path, target: u64, seed: u64) -> io::Result<(u64, u64)> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut random = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let header = format!(
        "Return-Path: <bench@example.org>\nFrom: Bench <bench@example.org>\nTo: user@example.org\n\
         Subject: benchmark message {seed}\nMessage-ID: <{seed}.bench@example.org>\n\n"
    );
    out.write_all(header.as_bytes())?;
    let (mut octets, mut lines) = (header.len() as u64, header.bytes().filter(|&b| b == b'\n').count() as u64);
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut line = [0u8; BODY_LINE + 1];
    line[BODY_LINE] = b'\n';
    let mut number = 0u64;
    while octets + BODY_LINE as u64 + 1 <= target {
        for chunk in line[..BODY_LINE].chunks_mut(8) {
            let bits = random.next();
            for (i, byte) in chunk.iter_mut().enumerate() {
                *byte = ALPHABET[((bits >> (i * 6)) & 63) as usize];
            }
        }
        // Some lines begin with ".", one in a while is a lone "." line.
        let written: &[u8] = match number % 16 {
            3 => {
                line[0] = b'.';
                &line
            }
            11 if number % 64 == 11 => b".\n",
            _ => &line,
        };
        out.write_all(written)?;
        octets += written.len() as u64;
        lines += 1;
        number += 1;
    }
    // Pad the last line so the file has exactly the target size.
    let rest = target.saturating_sub(octets);
    if rest > 0 {
        let pad = vec![b'x'; rest as usize - 1];
        out.write_all(&pad)?;
        out.write_all(b"\n")?;
        octets += rest;
        lines += 1;
    }
    out.flush()?;
    Ok((octets, octets + lines))
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
