//! A real Dovecot (2.3: Debian's `dovecot-core` and `dovecot-pop3d`) for
//! the tests that check pop3d against it: started in the foreground on a
//! throwaway configuration in a temporary folder, on a free loopback port,
//! serving Maildirs under a mail root the test gives, and stopped (master
//! and children) when dropped. Modelled on bench/src/servers.rs.
//!
//! Dovecot refuses to serve mail as root, so the mail belongs to the
//! unprivileged system user [`MAIL_USER`], created when missing; that, and
//! starting Dovecot at all, needs root (which CI has).

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Client, PATIENCE};

/// Where Debian installs Dovecot's master binary.
pub const DOVECOT: &str = "/usr/sbin/dovecot";

/// The system user the tests' mail belongs to and Dovecot reads it as.
pub const MAIL_USER: &str = "pop3test";

/// Dovecot's own default `pop3_uidl_format`.
pub const DOVECOT_DEFAULT_FORMAT: &str = "%08Xu%08Xv";

/// True if Dovecot is installed; otherwise prints why the test is skipped,
/// and the test should return at once.
pub fn available() -> bool {
    let found = Path::new(DOVECOT).exists();
    if !found {
        eprintln!("skipped: {DOVECOT} is missing (install dovecot-core and dovecot-pop3d)");
    }
    found
}

/// The uid and gid of [`MAIL_USER`], creating the user if missing.
pub fn mail_user() -> (u32, u32) {
    assert!(rustix::process::geteuid().is_root(), "the Dovecot tests need root, to run Dovecot and own its mail");
    let id = |flag: &str| {
        let output = Command::new("id").args([flag, MAIL_USER]).stderr(Stdio::null()).output().expect("run id");
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().parse::<u32>().unwrap())
    };
    if id("-u").is_none() {
        // Several tests may get here at once: whichever loses finds the
        // user there.
        let _ = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", MAIL_USER])
            .stderr(Stdio::null())
            .status();
    }
    (id("-u").expect("the mail user exists"), id("-g").expect("the mail user has a group"))
}

/// Hands `path` and everything under it to [`MAIL_USER`], as a delivery
/// agent running as that user would have left it.
pub fn give_to_mail_user(path: &Path) {
    let (uid, gid) = mail_user();
    chown_tree(path, uid, gid);
}

/// `chown -R uid:gid path`, never following a symbolic link.
fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

/// A folder everyone may enter: Dovecot's unprivileged processes must
/// reach their sockets and the mail inside it.
pub fn open_temp_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A running Dovecot serving POP3.
pub struct Dovecot {
    child: Child,
    dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

impl Dovecot {
    /// Starts Dovecot serving `<mail_root>/<user>` as Maildir for each
    /// `(user, uidl_format)`; each user's password is `<user>-pw`.
    pub fn start(mail_root: &Path, users: &[(&str, &str)]) -> Self {
        Self::start_with_settings(mail_root, users, "")
    }

    /// Like [`start`](Self::start), with `settings` (lines of
    /// `dovecot.conf`, such as `auth_failure_delay = 0`) added to the
    /// configuration.
    pub fn start_with_settings(mail_root: &Path, users: &[(&str, &str)], settings: &str) -> Self {
        let (uid, gid) = mail_user();
        let dir = open_temp_dir();
        let d = dir.path();
        let home = d.join("home");
        fs::create_dir(&home).unwrap();
        give_to_mail_user(&home);
        let mut passwd = String::new();
        for (user, format) in users {
            // Extra fields are themselves expanded: `%%` is one `%`.
            let format = format.replace('%', "%%");
            passwd += &format!(
                "{user}:{{PLAIN}}{user}-pw:{uid}:{gid}::{}::userdb_pop3_uidl_format={format}\n",
                home.display()
            );
        }
        fs::write(d.join("passwd"), passwd).unwrap();
        let passwd = d.join("passwd");
        let location = format!("maildir:{}/%u", mail_root.display());
        Self::start_in(dir, &passwd, &location, DOVECOT_DEFAULT_FORMAT, settings)
    }

    /// Starts Dovecot on a passwd-file of the test's own (as its passdb and
    /// userdb, read as Dovecot's unprivileged auth user), with
    /// `mail_location` and `pop3_uidl_format` as given: a site's own
    /// configuration, which pop3d is then pointed at.
    pub fn start_shared(passwd: &Path, mail_location: &str, uidl_format: &str) -> Self {
        Self::start_in(open_temp_dir(), passwd, mail_location, uidl_format, "")
    }

    fn start_in(dir: tempfile::TempDir, passwd: &Path, mail_location: &str, uidl_format: &str, settings: &str) -> Self {
        let d = dir.path();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            r#"# Throwaway configuration written by pop3d's tests.
base_dir = {d}/base
state_dir = {d}/state
instance_name = pop3d-test-{port}
log_path = {d}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_uid = {MAIL_USER}
mail_gid = {MAIL_USER}
first_valid_uid = 1
first_valid_gid = 1
mail_location = {mail_location}
pop3_uidl_format = {uidl_format}
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  driver = passwd-file
  args = {passwd}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {port}
  }}
}}
{settings}
"#,
            d = d.display(),
            passwd = passwd.display(),
        );
        fs::write(d.join("dovecot.conf"), config).unwrap();
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(d.join("stderr.log")).unwrap())
            .spawn()
            .expect("start dovecot");
        let dovecot = Self { child, dir, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(dovecot.addr).is_err() {
            assert!(Instant::now() < deadline, "Dovecot did not start:\n{}", dovecot.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        dovecot
    }

    /// Dovecot's log and standard error so far, for failure messages.
    pub fn log_text(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("dovecot.log"))
    }

    /// A client logged in as `user` with the password `<user>-pw`.
    pub fn login(&self, user: &str) -> Client {
        self.login_as(user, &format!("{user}-pw"))
    }

    /// A client logged in as `user` with `password`.
    pub fn login_as(&self, user: &str, password: &str) -> Client {
        let mut client = Client::connect(self.addr);
        let reply = self.try_login(&mut client, user, password);
        assert!(reply.starts_with("+OK"), "Dovecot login of {user}: {reply}\n{}", self.log_text());
        client
    }

    /// Dovecot's reply to USER and PASS, whatever it is.
    pub fn login_reply(&self, user: &str, password: &str) -> String {
        self.try_login(&mut Client::connect(self.addr), user, password)
    }

    fn try_login(&self, client: &mut Client, user: &str, password: &str) -> String {
        assert!(client.command(&format!("USER {user}")).starts_with("+OK"));
        client.command(&format!("PASS {password}"))
    }

    /// The UIDL listing `user` gets from Dovecot, in a session ended by QUIT.
    pub fn uidl_listing(&self, user: &str) -> Vec<String> {
        let mut client = self.login(user);
        assert!(client.command("UIDL").starts_with("+OK"), "{}", self.log_text());
        let lines = client.data_lines();
        assert!(client.command("QUIT").starts_with("+OK"));
        // The session's process writes the uidlist before it exits; the
        // next server must not start before that.
        assert!(client.is_closed());
        lines
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Drop for Dovecot {
    /// SIGTERM lets the master take its children down with it; SIGKILL if
    /// it takes too long.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
