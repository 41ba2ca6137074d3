//! Test harness: the real `pop3d` binary on an ephemeral loopback port,
//! a real Maildir in a temporary folder, and a line-oriented raw client.
//!
//! The server is started with `<ip> 0 --mgmt-port 0`; the ports it chose
//! are read from its log ("POP3 listening on ...", "MGMT listening on ..."),
//! which a thread keeps draining so the server never blocks on stderr.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Test-friendly values for the abuse limits (see `TestServer::start_in`).
pub const RELAXED_LIMITS: [(&str, &str); 4] = [
    ("--auth-failure-delay", "0"),
    ("--max-auth-failures", "1000"),
    ("--max-bad-commands-before-login", "1000"),
    ("--max-bad-commands", "1000"),
];

/// The log line a server writes once every listener is up.
pub const READY: &str = "pop3d ready";

pub struct TestServer {
    child: Child,
    pub dir: tempfile::TempDir,
    /// The mail root given with `-d` (`<dir>/mail` unless shared).
    mail: PathBuf,
    pub pop3: Vec<SocketAddr>,
    pub pop3s: Option<SocketAddr>,
    pub mgmt: Option<SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    /// Starts on 127.0.0.1 with users alice:alice-pw and bob:bob-pw.
    pub fn start() -> Self {
        Self::start_with(&["-u", "alice:alice-pw", "bob:bob-pw"])
    }

    /// Starts on 127.0.0.1 with extra arguments after `<ip> <port>`.
    pub fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, "127.0.0.1", args)
    }

    /// Starts with the mail root `<dir>/mail`, listening on `ip`.
    ///
    /// The abuse limits are relaxed (no login delay, generous bad-command
    /// caps) unless `args` sets them, so that tests of other behaviour can
    /// send many bad commands quickly; the limits have their own tests.
    pub fn start_in(dir: tempfile::TempDir, ip: &str, args: &[&str]) -> Self {
        let mail = dir.path().join("mail");
        Self::start_on_root(dir, &mail, ip, args)
    }

    /// Starts on 127.0.0.1 with `vars` set in the server's environment.
    pub fn start_with_env(vars: &[(&str, &str)], args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mail = dir.path().join("mail");
        let mut command = Self::command(&mail, "127.0.0.1", args);
        command.envs(vars.iter().copied());
        Self::spawn(command, dir, mail)
    }

    /// Starts on 127.0.0.1 serving the mail root of `other`, as a second
    /// server process sharing one mail root would.
    pub fn start_sharing(other: &TestServer, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_on_root(dir, &other.mail_root(), "127.0.0.1", args)
    }

    fn start_on_root(dir: tempfile::TempDir, mail: &Path, ip: &str, args: &[&str]) -> Self {
        let command = Self::command(mail, ip, args);
        Self::spawn(command, dir, mail.to_path_buf())
    }

    /// The server's command line: `<ip> 0 -d <mail>` (without `-d` when
    /// `args` gives `--mail-location`), debug log, the relaxed limits
    /// unless `args` sets them, then `args`.
    pub fn command(mail: &Path, ip: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pop3d"));
        command.arg(ip).arg("0");
        if !args.contains(&"--mail-location") {
            command.arg("-d").arg(mail);
        }
        command.args(["--mgmt-port", "0", "-l", "debug"]);
        for (flag, value) in RELAXED_LIMITS {
            if !args.contains(&flag) {
                command.args([flag, value]);
            }
        }
        command.args(args);
        command
    }

    pub fn spawn(mut command: Command, dir: tempfile::TempDir, mail: PathBuf) -> Self {
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start pop3d");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, addresses) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                for (prefix, kind) in
                    [("POP3 listening on ", "pop3"), ("POP3S listening on ", "pop3s"), ("MGMT listening on ", "mgmt")]
                {
                    if let Some(addr) = line.split(prefix).nth(1) {
                        // The address may be followed by a note such as "(TLS)".
                        let addr = addr.split_whitespace().next().unwrap_or_default();
                        let _ = found.send((kind, addr.parse::<SocketAddr>().unwrap()));
                    }
                }
                if line.contains(READY) {
                    let _ = found.send(("ready", "0.0.0.0:0".parse().unwrap()));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let mut server = Self { child, dir, mail, pop3: Vec::new(), pop3s: None, mgmt: None, log };
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match addresses.recv_timeout(left) {
                Ok(("pop3", addr)) => server.pop3.push(addr),
                Ok(("pop3s", addr)) => server.pop3s = Some(addr),
                Ok(("mgmt", addr)) => server.mgmt = Some(addr),
                Ok(_) => break,
                Err(_) => panic!("server did not start; log:\n{}", server.log_text()),
            }
        }
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.pop3[0]
    }

    pub fn mail_root(&self) -> PathBuf {
        self.mail.clone()
    }

    pub fn maildir(&self, user: &str) -> PathBuf {
        self.mail_root().join(user)
    }

    /// Writes a message into `<user>/new/` as a delivery agent would.
    pub fn deliver(&self, user: &str, name: &str, content: &[u8]) -> PathBuf {
        deliver(&self.maildir(user), name, content)
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr())
    }

    /// A client already logged in as `user` with `password`.
    pub fn login(&self, user: &str, password: &str) -> Client {
        let mut client = self.connect();
        assert!(client.command(&format!("USER {user}")).starts_with("+OK"));
        let reply = client.command(&format!("PASS {password}"));
        assert!(reply.starts_with("+OK"), "login of {user} failed: {reply}");
        client
    }

    /// The UIDL listing `user` sees in a session of its own, ended by QUIT.
    pub fn uidl_listing(&self, user: &str, password: &str) -> Vec<String> {
        let mut client = self.login(user, password);
        assert!(client.command("UIDL").starts_with("+OK"));
        let lines = client.data_lines();
        assert!(client.command("QUIT").starts_with("+OK"));
        assert!(client.is_closed());
        lines
    }

    /// Like [`login`](Self::login), for right after a session ended without
    /// QUIT: its "closed" log line comes just before it frees the maildrop
    /// lock and the connection slot, so this retries (within PATIENCE) while
    /// the answer is `[IN-USE]` or `[SYS/TEMP]`.
    pub fn login_when_free(&self, user: &str, password: &str) -> Client {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut client = Client::connect_raw(self.addr());
            let greeting = client.line();
            let reply = if greeting.starts_with("+OK") {
                assert!(client.command(&format!("USER {user}")).starts_with("+OK"));
                client.command(&format!("PASS {password}"))
            } else {
                greeting
            };
            if reply.starts_with("+OK") {
                return client;
            }
            let busy = reply.starts_with("-ERR [IN-USE]") || reply.starts_with("-ERR [SYS/TEMP]");
            assert!(busy && Instant::now() < deadline, "login of {user} failed: {reply}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until some log line contains `needle`.
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.log_text().contains(needle) {
            assert!(Instant::now() < deadline, "log never said {needle:?}:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many log lines contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|line| line.contains(needle)).count()
    }

    /// Waits until at least `count` log lines contain `needle`.
    pub fn wait_for_log_count(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.log_count(needle) < count {
            assert!(Instant::now() < deadline, "log never said {needle:?} {count} times:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `count` sessions have ended (each logs one "closed" line).
    pub fn wait_for_closed_sessions(&self, count: usize) {
        self.wait_for_log_count("closed ", count);
    }

    /// Stops the server (SIGKILL) and hands back its folder, mail included,
    /// so that a new server can be started on the same mail.
    pub fn stop_and_keep_dir(mut self) -> tempfile::TempDir {
        self.kill();
        let fresh = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, fresh)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the server.
    pub fn signal(&self, signal: i32) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the server to exit on its own; returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "server did not exit; log:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server abruptly (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits (at most [`PATIENCE`]) until `done` is true.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a run of one of the binaries printed, and how it exited.
#[derive(Debug)]
pub struct Exited {
    /// The exit status; -1 if a signal ended the process.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Exited {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Runs `binary` with `args` and no standard input, and waits (at most
/// [`PATIENCE`]) for it to exit by itself: the one way the tests run a
/// binary to its end.
pub fn run_binary(binary: &str, args: &[&str]) -> Exited {
    let child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {binary}: {e}"));
    let output = wait_bounded(child, &format!("{binary} {args:?}"));
    Exited {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `pop3d <args>`, expecting it to exit by itself.
pub fn run_to_exit(args: &[&str]) -> Exited {
    run_binary(env!("CARGO_BIN_EXE_pop3d"), args)
}

/// Writes a message into `<maildir>/new/` (creating the Maildir).
pub fn deliver(maildir: &Path, name: &str, content: &[u8]) -> PathBuf {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let path = maildir.join("new").join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Every file in `<maildir>/cur`, sorted, lock and hidden files excluded.
pub fn files_in_cur(maildir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(maildir.join("cur"))
        .map(|dir| dir.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
        .unwrap_or_default();
    names.retain(|n| !n.starts_with('.'));
    names.sort();
    names
}

/// A raw POP3 (or MGMT) client speaking CRLF lines over TCP.
pub struct Client {
    pub reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut client = Self { reader: BufReader::new(stream) };
        let greeting = client.line();
        assert!(greeting.starts_with("+OK"), "greeting: {greeting}");
        client
    }

    /// A client over `stream`, already connected, no greeting read.
    pub fn over(stream: TcpStream) -> Self {
        Self { reader: BufReader::new(stream) }
    }

    /// Connects from the loopback address `source` (any of 127.0.0.0/8),
    /// so that one test can play clients on several addresses, and reads
    /// the greeting.
    pub fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> Self {
        let mut client = Self::over(connect_from(&source.to_string(), addr));
        let greeting = client.line();
        assert!(greeting.starts_with("+OK"), "greeting: {greeting}");
        client
    }

    /// Connects without reading a greeting.
    pub fn connect_raw(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Self { reader: BufReader::new(stream) }
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).unwrap();
    }

    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    /// One reply line without its CRLF; panics on a line without CRLF.
    pub fn line(&mut self) -> String {
        let bytes = self.raw_line();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// One reply line as bytes, CRLF removed.
    pub fn raw_line(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.reader.read_until(b'\n', &mut bytes).unwrap();
        assert!(bytes.ends_with(b"\r\n"), "line without CRLF: {:?}", String::from_utf8_lossy(&bytes));
        bytes.truncate(bytes.len() - 2);
        bytes
    }

    pub fn command(&mut self, line: &str) -> String {
        self.send(line);
        self.line()
    }

    /// The data lines of a multi-line reply, still byte-stuffed, up to ".".
    pub fn data_lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if line == "." {
                return lines;
            }
            lines.push(line);
        }
    }

    /// The exact octets of a multi-line body after the status line, through
    /// the final ".\r\n" (stuffing included).
    pub fn raw_body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let start = body.len();
            self.reader.read_until(b'\n', &mut body).unwrap();
            assert!(body.len() > start, "connection closed inside a multi-line reply");
            if &body[start..] == b".\r\n" {
                return body;
            }
        }
    }

    /// True if the server closed the connection (EOF before any byte).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

/// The admin account every test server has unless `-a` says otherwise.
pub const ADMIN: (&str, &str) = ("admin", "admin");

impl TestServer {
    pub fn mgmt_addr(&self) -> SocketAddr {
        self.mgmt.expect("the server logged no MGMT address")
    }

    /// A raw MGMT connection, greeting read.
    pub fn mgmt(&self) -> Client {
        Client::connect(self.mgmt_addr())
    }

    /// A raw MGMT connection logged in as admin:admin.
    pub fn admin(&self) -> Client {
        self.admin_as(ADMIN.0, ADMIN.1)
    }

    pub fn admin_as(&self, user: &str, password: &str) -> Client {
        let mut client = self.mgmt();
        assert_eq!(client.command(&format!("USER {user}")), "+OK USER");
        assert_eq!(client.command(&format!("PASS {password}")), "+OK PASS");
        client
    }

    /// Runs `./admin_monitor -H <ip> -P <port> <args>` against this server.
    pub fn admin_monitor(&self, args: &[&str]) -> Exited {
        let addr = self.mgmt_addr();
        let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
        let mut all = vec!["-H", ip.as_str(), "-P", port.as_str()];
        all.extend_from_slice(args);
        admin_monitor(&all)
    }
}

/// Runs the real `admin_monitor` binary with `args`.
pub fn admin_monitor(args: &[&str]) -> Exited {
    run_binary(env!("CARGO_BIN_EXE_admin_monitor"), args)
}

/// A self-signed server certificate for 127.0.0.1 and localhost, made with
/// openssl; it is its own trust anchor (`--cacert`, `cafile`, `--ca-file`).
pub struct TestCertificate {
    _dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCertificate {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let output = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-days", "2", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.0.2"])
            // A server certificate, not a CA: rustls (admin_monitor) refuses a
            // CA certificate as the server's own.
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl is needed for the TLS tests (apt-get install openssl)");
        assert!(output.status.success(), "openssl: {}", String::from_utf8_lossy(&output.stderr));
        Self { _dir: dir, cert, key }
    }

    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
            "--tls-port".into(),
            "0".into(),
        ]
    }
}

/// Runs a Python script with `args`; returns stdout, failing on error.
pub fn python(script: &str, args: &[String]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("python3 is needed for these tests");
    assert!(
        output.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Waits for `child` to finish, killing it and failing the test if it
/// takes longer than [`PATIENCE`]; `what` names it in the failure.
pub fn wait_bounded(child: std::process::Child, what: &str) -> std::process::Output {
    let pid = child.id();
    let (done, output) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let Ok(output) = output.recv_timeout(PATIENCE) else {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        panic!("{what} did not finish");
    };
    output.expect("the child's output")
}

/// Writes a file named `name` (any bytes, not only UTF-8) into
/// `<maildir>/<folder>/` (creating the Maildir), as a delivery agent (into
/// `new`) or another mail client (into `cur`) would.
pub fn deliver_into(maildir: &Path, folder: &str, name: impl AsRef<std::ffi::OsStr>, content: &[u8]) -> PathBuf {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let path = maildir.join(folder).join(name.as_ref());
    std::fs::write(&path, content).unwrap();
    path
}

/// Every entry of `<maildir>/<folder>`, sorted, names kept as bytes (unlike
/// [`files_in_cur`], which needs UTF-8 names).
pub fn raw_files_in(maildir: &Path, folder: &str) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> =
        std::fs::read_dir(maildir.join(folder)).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    names.sort();
    names
}

/// Creates a FIFO (named pipe) at `path`, mode 0600.
pub fn make_fifo(path: &Path) {
    use rustix::fs::{Mode, CWD};
    rustix::fs::mkfifoat(CWD, path, Mode::RUSR | Mode::WUSR).unwrap();
}

impl Client {
    /// Like [`command`](Self::command), but fails the test with a clear
    /// message if no reply line comes within `wait` (a stuck session).
    pub fn command_within(&mut self, line: &str, wait: Duration) -> String {
        self.stream().set_read_timeout(Some(wait)).unwrap();
        self.send(line);
        let mut bytes = Vec::new();
        let read = self.reader.read_until(b'\n', &mut bytes);
        assert!(read.is_ok(), "no reply to {line:?} within {wait:?}: the session is stuck");
        self.stream().set_read_timeout(Some(PATIENCE)).unwrap();
        assert!(bytes.ends_with(b"\r\n"), "line without CRLF: {:?}", String::from_utf8_lossy(&bytes));
        bytes.truncate(bytes.len() - 2);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The uid and gid of the unprivileged user `nobody`, which
/// [`TestServer::start_unprivileged`] runs the server as.
pub const NOBODY: u32 = 65534;

impl TestServer {
    /// Starts like [`start_with`](Self::start_with), but as `nobody`
    /// ([`NOBODY`]), owning its folder and mail root: a server that cannot
    /// read every file, as in production. Switching user needs root (which
    /// CI has); without it this prints why and returns `None`, and the test
    /// should return at once.
    pub fn start_unprivileged(args: &[&str]) -> Option<Self> {
        use std::os::unix::process::CommandExt;
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: running the server as another user needs root");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail).unwrap();
        give_tree_to_nobody(dir.path());
        let mut command = Self::command(&mail, "127.0.0.1", args);
        command.uid(NOBODY).gid(NOBODY);
        Some(Self::spawn(command, dir, mail))
    }

    /// Hands everything in the server's folder to `nobody`; call it after
    /// writing mail as root for a server from
    /// [`start_unprivileged`](Self::start_unprivileged).
    pub fn give_mail_to_nobody(&self) {
        give_tree_to_nobody(self.dir.path());
    }
}

/// `chown -R nobody:nobody path`, never following a symbolic link.
fn give_tree_to_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            give_tree_to_nobody(&entry.unwrap().path());
        }
    }
}

/// Sets the modification time of `path` (a regular file or a FIFO) to
/// `age` ago.
pub fn set_age(path: &Path, age: Duration) {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - age).unwrap();
}

/// A TCP connection to `server` from `local` (any port): a loopback
/// address other than 127.0.0.1 is another client host.
pub fn connect_from(local: &str, server: SocketAddr) -> TcpStream {
    use rustix::net::{bind, connect, socket, AddressFamily, SocketType};
    let local: SocketAddr = format!("{local}:0").parse().unwrap();
    let family = if local.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
    let socket: std::os::fd::OwnedFd = socket(family, SocketType::STREAM, None).unwrap();
    bind(&socket, &local).unwrap();
    connect(&socket, &server).unwrap_or_else(|e| panic!("connect {server} from {local}: {e}"));
    let stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

pub mod dovecot;
