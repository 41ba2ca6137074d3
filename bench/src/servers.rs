//! Starting, measuring and stopping the two servers under test.
//!
//! Each server is a child process of the benchmark, started fresh for a
//! run and killed when its [`Server`] is dropped (also on panic), so no run
//! leaves a server behind. Its pid is also written to `<run dir>/*.pid`
//! for the shell's exit trap, in case this process itself is killed.
//! CPU time and RSS are read from /proc and summed over the whole process
//! tree (Dovecot is a master with many children; pop3d is one process).

use std::fs::{self, File};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::data::{DataSet, PASSWORD};

/// How long a server may take to start listening.
const START_PATIENCE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pop3d,
    Dovecot,
}

/// How the servers keep the accounts' passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passwords {
    /// Every account, `{PLAIN}`: pop3d gets them with `-u`.
    Plain,
    /// The [`crate::data::HASHED_USERS`] accounts of the hashed
    /// passwd-file, `{SHA512-CRYPT}`: pop3d reads it with `-f`.
    Sha512Crypt,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pop3d => "pop3d",
            Kind::Dovecot => "Dovecot",
        }
    }
}

pub struct Server {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// The implicit-TLS (POP3S) listener, with the data set's certificate.
    pub tls_addr: SocketAddr,
    child: Child,
    pid_file: PathBuf,
}

impl Server {
    /// Starts pop3d on a free loopback port with the data-set accounts
    /// `passwords` names. `retr_buffer` sets the hidden RETR buffer size.
    pub fn pop3d(
        binary: &Path,
        set: &DataSet,
        run_dir: &Path,
        max_connections: usize,
        retr_buffer: Option<usize>,
        passwords: Passwords,
    ) -> io::Result<Self> {
        let port = free_port()?;
        let mgmt_port = free_port()?;
        let tls_port = free_port()?;
        let log = run_dir.join("pop3d.log");
        let mut command = Command::new(binary);
        command.arg("127.0.0.1").arg(port.to_string()).arg("-d").arg(&set.mail).args([
            "-c",
            &max_connections.to_string(),
            "--mgmt-port",
            &mgmt_port.to_string(),
            "--tls-port",
            &tls_port.to_string(),
        ]);
        command.arg("--tls-cert").arg(set.certificate()).arg("--tls-key").arg(set.private_key());
        match passwords {
            Passwords::Plain => command.arg("-u").args(set.users().iter().map(|user| format!("{user}:{PASSWORD}"))),
            Passwords::Sha512Crypt => command.arg("-f").arg(set.hashed_passwd_file()),
        };
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(File::create(&log)?);
        match retr_buffer {
            Some(size) => command.env("POP3D_RETR_BUFFER", size.to_string()),
            None => command.env_remove("POP3D_RETR_BUFFER"),
        };
        let server = Self::spawn(Kind::Pop3d, command, port, tls_port, run_dir)?;
        wait_for_log(&log, "pop3d ready", &server)?;
        Ok(server)
    }

    /// Starts Dovecot in the foreground on a throwaway configuration, with
    /// the passwd-file `passwords` names.
    pub fn dovecot(set: &DataSet, run_dir: &Path, system_user: &str, passwords: Passwords) -> io::Result<Self> {
        let port = free_port()?;
        let tls_port = free_port()?;
        let dir = run_dir.join("dovecot");
        let passwd = match passwords {
            Passwords::Plain => set.passwd_file(),
            Passwords::Sha512Crypt => set.hashed_passwd_file(),
        };
        let config = write_dovecot_config(set, &passwd, &dir, system_user, port, tls_port)?;
        let mut command = Command::new("dovecot");
        command
            .arg("-F")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("stderr.log"))?);
        let server = Self::spawn(Kind::Dovecot, command, port, tls_port, run_dir)?;
        let deadline = Instant::now() + START_PATIENCE;
        while crate::client::Client::connect(server.addr).is_err() {
            if Instant::now() > deadline {
                return Err(io::Error::other(format!("Dovecot did not start; see {}", dir.display())));
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    fn spawn(kind: Kind, mut command: Command, port: u16, tls_port: u16, run_dir: &Path) -> io::Result<Self> {
        let child =
            command.spawn().map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", kind.name())))?;
        let pid_file = run_dir.join(format!("{}.pid", kind.name()));
        fs::write(&pid_file, child.id().to_string())?;
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Ok(Self { kind, addr: addr(port), tls_addr: addr(tls_port), child, pid_file })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) used so far by the server's processes,
    /// including children that have already exited and been reaped.
    pub fn cpu_seconds(&self) -> f64 {
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        process_tree(self.pid()).iter().filter_map(|&pid| proc_stat(pid)).map(|s| s.cpu_ticks).sum::<u64>() as f64
            / ticks
    }

    /// Resident memory of the server's processes, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        process_tree(self.pid()).iter().filter_map(|&pid| proc_stat(pid)).map(|s| s.rss_pages * page).sum()
    }

    /// Number of processes the server runs right now.
    pub fn processes(&self) -> usize {
        process_tree(self.pid()).len()
    }

    fn stop(&mut self) {
        let pid = self.pid() as libc::pid_t;
        // SIGTERM lets Dovecot's master take its children down with it.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let leftovers = process_tree(self.pid());
        for pid in leftovers {
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.pid_file);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `{SHA512-CRYPT}$6$...` password field for `password`, from pop3d's
/// `--hash-password` (the password goes in on stdin).
pub fn hash_password(binary: &Path, password: &str) -> io::Result<String> {
    let mut child = Command::new(binary)
        .arg("--hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().expect("stdin is piped").write_all(format!("{password}\n").as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        let error = String::from_utf8_lossy(&output.stderr);
        return Err(io::Error::other(format!("pop3d --hash-password failed: {}", error.trim())));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_log(log: &Path, ready: &str, server: &Server) -> io::Result<()> {
    let deadline = Instant::now() + START_PATIENCE;
    loop {
        if fs::read_to_string(log).is_ok_and(|text| text.contains(ready)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let text = fs::read_to_string(log).unwrap_or_default();
            return Err(io::Error::other(format!("{} did not start: {}", server.kind.name(), text.trim())));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

struct ProcStat {
    ppid: u32,
    /// utime + stime + cutime + cstime.
    cpu_ticks: u64,
    rss_pages: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields resume after its ')'.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(ProcStat {
        ppid: field(4)? as u32,
        cpu_ticks: field(14)? + field(15)? + field(16)? + field(17)?,
        rss_pages: field(24)?,
    })
}

/// `root` and all its descendants.
fn process_tree(root: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return vec![root];
    };
    let parents: Vec<(u32, u32)> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, proc_stat(pid)?.ppid)))
        .collect();
    let mut tree = vec![root];
    let mut at = 0;
    while at < tree.len() {
        let parent = tree[at];
        tree.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
        at += 1;
    }
    tree
}

/// Dovecot at its fastest for this load: login processes that
/// serve many clients each (`service_count = 0`), pop3 processes reused
/// across sessions, no flag updates after RETR, indexes and control files
/// outside the Maildir, and limits high enough for 10,000 connections.
/// Passwords come from `passwd`; a `{SCHEME}` prefix there overrides the
/// default PLAIN. No auth cache (Dovecot's default). POP3S on `tls_port`
/// with the data set's certificate and Dovecot's shipped TLS defaults
/// (Debian's `ssl_dh`, everything else as compiled in).
fn write_dovecot_config(
    set: &DataSet,
    passwd: &Path,
    dir: &Path,
    system_user: &str,
    port: u16,
    tls_port: u16,
) -> io::Result<PathBuf> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    for sub in ["base", "state", "index", "control", "home"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    crate::chown_tree(&dir.join("index"), system_user)?;
    crate::chown_tree(&dir.join("control"), system_user)?;
    crate::chown_tree(&dir.join("home"), system_user)?;
    let d = dir.display();
    let mail = set.mail.display();
    let passwd = passwd.display();
    let (cert, key) = (set.certificate(), set.private_key());
    let (cert, key) = (cert.display(), key.display());
    let config = format!(
        r#"# Throwaway configuration written by pop3-bench.
base_dir = {d}/base
state_dir = {d}/state
instance_name = pop3bench
protocols = pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain
log_path = {d}/dovecot.log
mail_uid = {system_user}
mail_gid = {system_user}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{mail}/%u:INDEX={d}/index/%u:CONTROL={d}/control/%u
mail_max_userip_connections = 100000
pop3_no_flag_updates = yes
maildir_very_dirty_syncs = yes
default_client_limit = 15000
default_vsz_limit = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={system_user} gid={system_user} home={d}/home/%u
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = 2
  client_limit = 12000
}}
service pop3 {{
  service_count = 0
  process_min_avail = 2
  process_limit = 12000
}}
service anvil {{
  client_limit = 30000
}}
service auth {{
  client_limit = 30000
}}
service stats {{
  client_limit = 30000
}}
"#
    );
    let path = dir.join("dovecot.conf");
    fs::write(&path, config)?;
    Ok(path)
}
