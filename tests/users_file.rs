//! The users file (`-f`) and the start-up rules around users: loading,
//! merging with `-u`, saving every MGMT change so it survives a restart or
//! a kill -9, refusing bad files, and the secure default for the admin.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{run_to_exit, TestServer};
use pop3d::accounts::users::UserNameCase;
use pop3d::accounts::users_file;

fn start_with_file(file: &Path, extra: &[&str]) -> TestServer {
    let mut args = vec!["-f", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    TestServer::start_with(&args)
}

fn names_in(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap();
    let parsed = users_file::parse(&text, UserNameCase::Sensitive);
    let users = parsed.unwrap_or_else(|e| panic!("unparseable users file: {e:?}\n{text}")).users;
    users.iter().map(|user| user.name.to_string()).collect()
}

/// Users come from the file merged with -u (-u wins, and stays on the
/// command line); MGMT changes are saved at once, each to its own line, the
/// file keeping its comments and mode, and are all there after a restart,
/// the admin's new password included.
#[test]
fn changes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users");
    fs::write(&file, "# mine\nalice:{PLAIN}from-file\nbob:{PLAIN}bob-pw:1000:1000::/home/bob\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    {
        let server = start_with_file(&file, &["-u", "alice:from-flag"]);
        server.login("alice", "from-flag");
        server.login("bob", "bob-pw");
        let mut admin = server.admin();
        assert!(admin.command("ADD_USER carol c:pw").starts_with("+OK"));
        assert!(admin.command("DELETE_USER bob").starts_with("+OK"));
        assert!(admin.command("CHANGE_PASSWORD admin s3cret").starts_with("+OK"));
        assert_eq!(names_in(&file), ["alice", "carol", "admin"]);
        assert!(fs::read_to_string(&file).unwrap().starts_with("# mine\nalice:{PLAIN}from-file\ncarol:"));
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);
    }
    let server = start_with_file(&file, &[]);
    server.login("alice", "from-file");
    server.login("carol", "c:pw");
    let mut admin = server.admin_as("admin", "s3cret");
    assert_eq!(admin.command("USERS"), "+OK USERS");
    assert_eq!(admin.data_lines(), ["USER COUNT: 3", "USER LIST:", "admin", "alice", "carol"]);
}

/// kill -9 in the middle of a burst of ADD_USER leaves a file that parses
/// and holds a prefix of the burst; the server starts again from it.
#[test]
fn the_file_survives_kill_9_during_a_burst() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users");
    fs::write(&file, "").unwrap();
    let mut server = start_with_file(&file, &["--max-users", "1000"]);
    let mut admin = server.admin();
    let burst: String = (0..400).map(|i| format!("ADD_USER u{i:03} pw{i}\r\n")).collect();
    admin.send_raw(burst.as_bytes());
    server.wait_for_log("user u050 added");
    server.kill();

    let names = names_in(&file);
    let added: Vec<&String> = names.iter().filter(|n| n.starts_with('u')).collect();
    let expected: Vec<String> = (0..added.len()).map(|i| format!("u{i:03}")).collect();
    assert_eq!(added, expected.iter().collect::<Vec<_>>(), "a prefix of the burst, in order");
    assert!(added.len() >= 50, "at least what the log showed before the kill was saved");
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(leftovers.len() <= 2, "at most the file and one temporary file: {leftovers:?}");

    let server = start_with_file(&file, &["--max-users", "1000"]);
    server.login("u000", "pw0");
}

/// A missing or malformed file stops start-up with exit status 2 and one
/// line naming the file (and line); the file is left as it was.
#[test]
fn bad_files_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let mail = mail.to_str().unwrap();
    let missing = dir.path().join("missing");
    let exited = run_to_exit(&["127.0.0.1", "0", "-d", mail, "-f", missing.to_str().unwrap()]);
    let (status, stderr) = (exited.status, exited.stderr);
    assert_eq!(status, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot read users file") && stderr.contains("missing"), "{stderr}");

    let bad = dir.path().join("bad");
    let content = "alice:{PLAIN}ok\n\nbob/../x:{PLAIN}ok\n";
    fs::write(&bad, content).unwrap();
    let exited = run_to_exit(&["127.0.0.1", "0", "-d", mail, "-f", bad.to_str().unwrap()]);
    let (status, stderr) = (exited.status, exited.stderr);
    assert_eq!(status, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad line 3: bad user name"), "{stderr}");
    assert_eq!(fs::read_to_string(&bad).unwrap(), content);
}

/// The default admin:admin is refused on a non-loopback MGMT address
/// (exit 2, one line) and only warned about on loopback; a real password
/// may listen anywhere.
#[test]
fn the_default_admin_stays_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let mail = mail.to_str().unwrap();
    let base = ["127.0.0.1", "0", "-d", mail, "--mgmt-port", "0", "-u", "a:b"];
    for extra in [&["--mgmt-addr", "0.0.0.0"][..], &["--mgmt-addr", "0.0.0.0", "-a", "admin:admin"]] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let exited = run_to_exit(&args);
        let (status, stderr) = (exited.status, exited.stderr);
        assert_eq!(status, 2, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("refusing MGMT on 0.0.0.0:0 with the default admin:admin"), "{stderr}");
    }
    let warned = TestServer::start_with(&["-u", "a:b"]);
    assert!(warned.log_text().contains("MGMT uses the default admin:admin"));
    let exposed = TestServer::start_with(&["-u", "a:b", "--mgmt-addr", "0.0.0.0", "-a", "root:s3cret"]);
    assert!(exposed.mgmt_addr().ip().is_unspecified());
    assert!(!exposed.log_text().contains("default admin:admin"));
    assert!(!exposed.log_text().contains("s3cret"), "no password in the log");
}

/// `./run --hash-password` prints a `{SHA512-CRYPT}` field that a users
/// file can hold; the user logs in with the password, not with the hash;
/// passwords set over MGMT are saved hashed, never in clear.
#[test]
fn hashed_passwords_work_and_mgmt_stores_hashes() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut hasher = Command::new(env!("CARGO_BIN_EXE_pop3d"))
        .arg("--hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    hasher.stdin.take().unwrap().write_all(b"dana-secret\n").unwrap();
    let output = hasher.wait_with_output().unwrap();
    assert!(output.status.success());
    let field = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(field.starts_with("{SHA512-CRYPT}$6$"), "{field}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users");
    fs::write(&file, format!("dana:{field}\n")).unwrap();
    let server = start_with_file(&file, &[]);
    server.login("dana", "dana-secret");
    let mut client = server.connect();
    client.command("USER dana");
    assert!(client.command(&format!("PASS {}", &field["{SHA512-CRYPT}".len()..])).starts_with("-ERR [AUTH]"));

    let mut admin = server.admin();
    assert!(admin.command("ADD_USER erin erin-secret").starts_with("+OK"));
    assert!(admin.command("CHANGE_PASSWORD admin admin-secret-2").starts_with("+OK"));
    let text = fs::read_to_string(&file).unwrap();
    assert!(!text.contains("erin-secret") && !text.contains("admin-secret-2"), "a password saved in clear:\n{text}");
    assert!(text.lines().any(|l| l.starts_with("erin:{SHA512-CRYPT}$6$")), "{text}");
    server.login("erin", "erin-secret");
}
