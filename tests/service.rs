//! pop3d as a service: the `--config` file and its errors, secrets kept off
//! the command line, `--run-as`, SIGHUP reloads (certificate, users file,
//! live limits), and the mail-root warning; all against the real binary.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::dovecot::{self, MAIL_USER};
use common::{python, run_to_exit, Client, TestCertificate, TestServer, NOBODY};

/// Writes `text` as a config file in `dir` and returns its path as text.
fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("pop3d.conf");
    fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A failing start prints exactly one line naming the file and its line,
/// and exits with status 2.
#[test]
fn config_file_errors_are_one_line_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("listen = 127.0.0.1\nport = 0\n\n# fine so far\nfoo = 1\n", ":5: unknown key 'foo'"),
        (
            "listen = 127.0.0.1\nport = 0\nmax-connections = many\n",
            ":3: --max-connections: 'many' is not a whole number",
        ),
        ("port = 0\nlimit-loopback = perhaps\n", ":2: 'limit-loopback': 'perhaps' is not yes, no, true or false"),
        ("port = 0\nlisten = 127.0.0.1\nthis line has no equals sign\n", ":3: expected 'key = value'"),
    ];
    for (text, expected) in cases {
        let config = write_config(dir.path(), text);
        let exited = run_to_exit(&["--config", &config]);
        assert_eq!(exited.status, 2, "{text:?}: {exited:?}");
        let lines: Vec<&str> = exited.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line for {text:?}: {lines:?}");
        assert!(lines[0].ends_with(&format!("{config}{expected}")), "{lines:?}");
    }
    let missing = dir.path().join("absent.conf").display().to_string();
    let exited = run_to_exit(&["--config", &missing]);
    assert_eq!((exited.status, exited.stderr.lines().count()), (2, 1), "{exited:?}");
    assert!(exited.stderr.contains(&format!("cannot read {missing}")), "{exited:?}");
}

/// The file alone is enough to run (address, port, users file, admin from
/// a password file, a limit), the command line overrides it, and no
/// password shows in /proc/PID/cmdline.
#[test]
fn the_config_file_runs_the_server_with_secrets_in_files() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    fs::write(&users, "alice:{PLAIN}alice-secret-pw\n").unwrap();
    let admin_pw = dir.path().join("admin.pw");
    fs::write(&admin_pw, "Adm1n-secret-pw\nnot part of it\n").unwrap();
    let mail = dir.path().join("mail");
    let text = format!(
        "# pop3d\nlisten = 127.0.0.1\nport = 0\nmgmt-port = 0\nmaildir = {}\nusers-file = {}\n\
         admin-user = boss\nadmin-password-file = {}\nmax-connections = 3\nauth-failure-delay = 0\n",
        mail.display(),
        users.display(),
        admin_pw.display()
    );
    let config = write_config(dir.path(), &text);
    let command = {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pop3d"));
        command.args(["--config", &config, "--max-connections", "2"]);
        command
    };
    let server = TestServer::spawn(command, tempfile::tempdir().unwrap(), mail);
    let cmdline = fs::read(format!("/proc/{}/cmdline", server.pid())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(cmdline.contains(&config), "{cmdline}");
    for secret in ["alice-secret-pw", "Adm1n-secret-pw"] {
        assert!(!cmdline.contains(secret), "{cmdline}");
        assert!(!server.log_text().contains(secret), "{}", server.log_text());
    }
    let _alice = server.login("alice", "alice-secret-pw");
    let mut admin = server.admin_as("boss", "Adm1n-secret-pw");
    assert_eq!(admin.command("STATUS"), "+OK STATUS");
    let status = admin.data_lines();
    assert!(status.contains(&"MAX CONNECTIONS: 2".to_owned()), "the command line wins: {status:?}");
    // admin_monitor reads the same file, keeping the password off its own
    // command line too.
    let admin_pw = admin_pw.display().to_string();
    let monitor = server.admin_monitor(&["--password-file", &admin_pw, "1.0", "boss", "-STATUS"]);
    assert_eq!(monitor.status, 0, "{monitor:?}");
    assert!(monitor.stdout.contains("MAX CONNECTIONS: 2"), "{monitor:?}");
    let missing = server.admin_monitor(&["--password-file", "/nonexistent/pw", "1.0", "boss", "-STATUS"]);
    assert_eq!(missing.status, 2, "{missing:?}");
    assert!(missing.stderr.starts_with("admin_monitor: cannot read /nonexistent/pw: "), "{missing:?}");
}

/// With `--run-as`, a server started as root serves as that user (its
/// groups too), and the Maildir it creates belongs to that user. The TLS
/// key was read as root; a reload reads it as that user, and a key that
/// user cannot read keeps the certificate in use, with one error line.
#[test]
fn run_as_drops_root_before_serving() {
    use std::os::unix::fs::PermissionsExt;
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: dropping privileges needs the tests to run as root");
        return;
    }
    let (uid, gid) = dovecot::mail_user();
    let dir = dovecot::open_temp_dir();
    fs::create_dir(dir.path().join("mail")).unwrap();
    dovecot::give_to_mail_user(&dir.path().join("mail"));
    let certificate = TestCertificate::new();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    fs::copy(&certificate.cert, &cert).unwrap();
    fs::set_permissions(&cert, fs::Permissions::from_mode(0o644)).unwrap();
    fs::copy(&certificate.key, &key).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let args =
        ["--run-as", MAIL_USER, "-u", "alice:alice-pw", "--tls-cert", &cert, "--tls-key", &key, "--tls-port", "0"];
    let server = TestServer::start_in(dir, "127.0.0.1", &args);
    server.wait_for_log(&format!("running as {MAIL_USER} (uid {uid}, gid {gid})"));
    let out_of_reach = format!("{MAIL_USER} cannot read {key} (Permission denied");
    assert_eq!(server.log_count(&out_of_reach), 1, "said at start:\n{}", server.log_text());
    assert_eq!(server.log_count(&format!("{MAIL_USER} cannot")), 1, "{}", server.log_text());
    let status = fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let field = |name: &str| status.lines().find(|line| line.starts_with(name)).unwrap().to_owned();
    assert_eq!(field("Uid:"), format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}"));
    assert_eq!(field("Gid:"), format!("Gid:\t{gid}\t{gid}\t{gid}\t{gid}"));
    assert!(!field("Groups:").split_whitespace().any(|group| group == "0"), "{status}");
    // Every thread, the pool's made before the drop included.
    for task in fs::read_dir(format!("/proc/{}/task", server.pid())).unwrap() {
        let status = fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        assert!(status.contains(&format!("\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")), "{status}");
    }
    let mut alice = server.login("alice", "alice-pw");
    assert!(alice.command("QUIT").starts_with("+OK"));
    use std::os::unix::fs::MetadataExt;
    let maildir = fs::metadata(server.maildir("alice").join("cur")).unwrap();
    assert_eq!((maildir.uid(), maildir.gid()), (uid, gid));

    let serial = served_serial(&server);
    server.signal(libc::SIGHUP);
    server.wait_for_log("reloaded: ");
    assert_eq!(server.log_count(&format!("reload: TLS: cannot read {key}: Permission denied")), 1);
    assert_eq!(served_serial(&server), serial, "the certificate in use stays");
}

/// A drop that cannot happen is fatal: one line, exit 1, nothing served.
#[test]
fn a_failed_drop_is_fatal() {
    let exited = run_to_exit(&["127.0.0.1", "0", "--mgmt-port", "0", "--run-as", "no-such-user-here"]);
    assert_eq!(exited.status, 1, "{exited:?}");
    assert!(exited.stderr.ends_with("--run-as: no user 'no-such-user-here'\n"), "{exited:?}");
    assert!(!exited.stderr.contains("pop3d ready"), "{exited:?}");
}

/// Started as the `--run-as` user already (as systemd's `User=` does), it
/// runs; started as another user without root, it refuses.
#[test]
fn run_as_without_root() {
    let Some(server) = TestServer::start_unprivileged(&["--run-as", "nobody", "-u", "alice:alice-pw"]) else {
        return;
    };
    server.wait_for_log("running as nobody");
    server.login("alice", "alice-pw");
    use std::os::unix::process::CommandExt;
    let output = Command::new(env!("CARGO_BIN_EXE_pop3d"))
        .args(["127.0.0.1", "0", "--mgmt-port", "0", "--run-as", "daemon"])
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("started neither as root nor as daemon"), "{stderr}");
}

/// The serial of the certificate a new POP3S connection is shown.
fn served_serial(server: &TestServer) -> String {
    let addr = server.pop3s.expect("a POP3S port");
    let pem = python(
        "import ssl, sys; print(ssl.get_server_certificate((sys.argv[1], int(sys.argv[2])), timeout=20))",
        &[addr.ip().to_string(), addr.port().to_string()],
    );
    serial_of_pem(&pem)
}

fn serial_of_pem(pem: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(pem.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// SIGHUP with a renewed certificate: new connections see it, a session
/// logged in before goes on. A broken pair then keeps the one in use, with
/// one error line.
#[test]
fn sighup_reloads_the_certificate() {
    let (first, second) = (TestCertificate::new(), TestCertificate::new());
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    fs::copy(&first.cert, &cert).unwrap();
    fs::copy(&first.key, &key).unwrap();
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let args = ["--tls-cert", &cert_arg, "--tls-key", &key_arg, "--tls-port", "0", "-u", "alice:alice-pw"];
    let server = TestServer::start_with(&args);
    let first_serial = serial_of_pem(&fs::read_to_string(&first.cert).unwrap());
    let second_serial = serial_of_pem(&fs::read_to_string(&second.cert).unwrap());
    assert_ne!(first_serial, second_serial);
    assert_eq!(served_serial(&server), first_serial);
    let mut before = server.login("alice", "alice-pw");

    fs::copy(&second.cert, &cert).unwrap();
    fs::copy(&second.key, &key).unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log("reloaded: TLS certificate");
    assert_eq!(served_serial(&server), second_serial);
    assert!(before.command("NOOP").starts_with("+OK"), "the session from before goes on");

    fs::write(&cert, "not a certificate\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log_count("reloaded: ", 2);
    assert_eq!(server.log_count("reload: TLS: "), 1, "{}", server.log_text());
    assert_eq!(served_serial(&server), second_serial, "the broken pair is not used");
    assert!(before.command("NOOP").starts_with("+OK"));
    assert_eq!(server.log_count("listening on"), 3, "the listeners stay");
}

/// A hand edit of the users file shows after SIGHUP: a new user logs in,
/// a removed one cannot, and `-u` users stay on top.
#[test]
fn sighup_reloads_the_users_file() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    fs::write(&users, "alice:{PLAIN}alice-pw\nbob:{PLAIN}bob-pw\n").unwrap();
    let server = TestServer::start_with(&["-f", users.to_str().unwrap(), "-u", "carol:carol-pw"]);
    let mut alice = server.login("alice", "alice-pw");
    server.login("bob", "bob-pw");

    fs::write(&users, "alice:{PLAIN}alice-pw\ndave:{PLAIN}dave-pw\ncarol:{PLAIN}not-this\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log("reloaded: users file");
    server.login("dave", "dave-pw");
    server.login("carol", "carol-pw");
    let mut bob = server.connect();
    assert!(bob.command("USER bob").starts_with("+OK"));
    assert!(bob.command("PASS bob-pw").starts_with("-ERR"), "bob was removed");
    assert!(alice.command("NOOP").starts_with("+OK"), "alice's session goes on");
    // MGMT's next change is saved over the edited file, not the old one.
    assert!(server.admin().command("ADD_USER erin erin-pw").starts_with("+OK"));
    let saved = fs::read_to_string(&users).unwrap();
    assert!(saved.contains("dave:") && saved.contains("erin:") && !saved.contains("bob:"), "{saved}");

    // A file that no longer parses keeps the users of before.
    fs::write(&users, "dave\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log_count("reloaded: ", 2);
    server.login("dave", "dave-pw");
}

/// SIGHUP applies a live limit from the config file; a setting that
/// cannot change live keeps its value with one warning; a broken file
/// keeps everything.
#[test]
fn sighup_applies_live_limits_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "max-connections = 50\n");
    let server = TestServer::start_with(&["--config", &config, "-u", "alice:alice-pw", "bob:bob-pw"]);
    let _first = server.login("alice", "alice-pw");
    let mut second = server.login("bob", "bob-pw");

    fs::write(&config, "max-connections = 2\nmgmt-addr = 127.0.0.2\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log("reloaded: max-connections 2");
    assert_eq!(server.log_count("reload: mgmt-addr/mgmt-port cannot change while running"), 1);
    let mut refused = Client::connect_raw(server.addr());
    assert!(refused.line().starts_with("-ERR [SYS/TEMP]"), "the new cap holds");
    assert!(second.command("NOOP").starts_with("+OK"), "open sessions stay");
    drop(refused);

    fs::write(&config, "max-connections = 2\nfoo = bar\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log("reload failed, keeping the running settings: ");
    assert!(server.log_text().contains(&format!("{config}:2: unknown key 'foo'")), "{}", server.log_text());
    let mut admin = server.admin();
    assert_eq!(admin.command("STATUS"), "+OK STATUS");
    assert!(admin.data_lines().contains(&"MAX CONNECTIONS: 2".to_owned()));
}

/// SIGHUP applies a new log level from the config file.
#[test]
fn sighup_changes_the_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let settings = format!("listen = 127.0.0.1\nport = 0\nmgmt-port = 0\nmaildir = {}\n", mail.display());
    let config = write_config(dir.path(), &format!("{settings}log-level = info\n"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_pop3d"));
    command.args(["--config", &config]);
    let server = TestServer::spawn(command, tempfile::tempdir().unwrap(), mail);
    let said = |connections: usize| {
        let mut client = server.connect();
        assert!(client.command("QUIT").starts_with("+OK"));
        server.wait_for_log_count("closed ", connections);
    };
    said(1);
    fs::write(&config, format!("{settings}log-level = warn\n")).unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log("reloaded: log-level WARN");
    let mut quiet = server.connect();
    assert!(quiet.command("QUIT").starts_with("+OK"));
    fs::write(&config, format!("{settings}log-level = info\n")).unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log("reloaded: log-level INFO");
    assert_eq!(server.log_count("connection from"), 1, "nothing at info while at warn:\n{}", server.log_text());
    said(2);
}

/// Without a users file, SIGHUP still applies a new admin password from
/// `admin-password-file`.
#[test]
fn sighup_reads_the_admin_password_file_again() {
    let dir = tempfile::tempdir().unwrap();
    let admin_pw = dir.path().join("admin.pw");
    fs::write(&admin_pw, "first-pw\n").unwrap();
    let config = write_config(dir.path(), &format!("admin-password-file = {}\n", admin_pw.display()));
    let server = TestServer::start_with(&["--config", &config]);
    server.admin_as("admin", "first-pw");
    fs::write(&admin_pw, "second-pw\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log("reloaded: admin password");
    server.admin_as("admin", "second-pw");
    let mut old = server.mgmt();
    assert_eq!(old.command("USER admin"), "+OK USER");
    let refused = old.command("PASS first-pw");
    assert!(refused.starts_with("-ERR"), "the old password no longer works: {refused}");
}

/// A mail root that is missing, or a file, is named in one warning line.
#[test]
fn a_missing_mail_root_is_warned_about() {
    let missing = TestServer::start();
    missing.wait_for_log(&format!("mail root {} does not exist", missing.mail_root().display()));
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mail"), "not a folder").unwrap();
    let file = TestServer::start_in(dir, "127.0.0.1", &[]);
    file.wait_for_log(&format!("mail root {} is not a directory", file.mail_root().display()));
    assert_eq!(file.log_count("mail root"), 1);
}
