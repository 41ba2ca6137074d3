//! A Dovecot passwd-file read as Dovecot reads it: every password scheme
//! `doveadm pw` writes (hashes made by the real `doveadm`, from the Debian
//! package dovecot-core), users whose password cannot be checked costing
//! only their own login, and user names as Dovecot accepts them
//! (`user@domain`, case-insensitive, never a path out of the mail root).
//!
//! The tests that need `doveadm` say so on stderr and pass without it; CI
//! installs it.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use common::{run_binary, run_to_exit, Client, TestServer};

/// Every scheme `doveadm pw -s` is asked for, as the issue lists them, with
/// explicit encodings and Dovecot's aliases.
const DOVEADM_SCHEMES: [&str; 33] = [
    "PLAIN",
    "CLEAR",
    "CLEARTEXT",
    "PLAIN.B64",
    "PLAIN.HEX",
    "CRYPT",
    "MD5-CRYPT",
    "MD5",
    "SHA256-CRYPT",
    "SHA512-CRYPT",
    "SHA512-CRYPT.B64",
    "BLF-CRYPT",
    "ARGON2I",
    "ARGON2ID",
    "PBKDF2",
    "SHA",
    "SHA1",
    "SHA.HEX",
    "SHA256",
    "SHA256.HEX",
    "SHA512",
    "SHA512.HEX",
    "SSHA",
    "SSHA.B64",
    "SSHA256",
    "SSHA256.HEX",
    "SSHA512",
    "SMD5",
    "CRAM-MD5",
    "CRAM-MD5.B64",
    "HMAC-MD5",
    "PLAIN-MD5",
    "LDAP-MD5",
];

/// True if `doveadm` is on the PATH; otherwise says on stderr (past the
/// test harness's capture) that `test` is skipped.
fn have_doveadm(test: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("doveadm").is_file()));
    if !found {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: doveadm is not installed (Debian package dovecot-core); \
             these tests check pop3d against hashes the real Dovecot makes"
        );
    }
    found
}

/// `doveadm pw -s SCHEME -p PASSWORD`: the `{SCHEME}value` field.
fn doveadm_pw(scheme: &str, password: &str) -> String {
    let exited = run_binary("doveadm", &["pw", "-s", scheme, "-p", password]);
    assert_eq!(exited.status, 0, "doveadm pw -s {scheme}: {}", exited.stderr);
    let field = exited.stdout.trim().to_owned();
    assert!(field.starts_with('{'), "doveadm pw -s {scheme} printed {field:?}");
    field
}

/// True if Dovecot itself accepts `password` for `field` (`doveadm pw -t`).
fn dovecot_verifies(field: &str, password: &str) -> bool {
    run_binary("doveadm", &["pw", "-t", field, "-p", password]).status == 0
}

/// The value after a `{SCHEME}` prefix.
fn value_of(field: &str) -> &str {
    field.split_once('}').expect("a {SCHEME} prefix").1
}

fn write_users(dir: &Path, lines: &[String]) -> String {
    let path = dir.join("users");
    fs::write(&path, lines.iter().map(|line| format!("{line}\n")).collect::<String>()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Logs in with USER/PASS, answers `+OK` or `-ERR`, then QUITs if in.
fn user_pass(server: &TestServer, user: &str, password: &str) -> String {
    let mut client = server.connect();
    assert!(client.command(&format!("USER {user}")).starts_with("+OK"), "USER {user}");
    let reply = client.command(&format!("PASS {password}"));
    quit_if_in(client, &reply);
    reply
}

/// Logs in with AUTH PLAIN (RFC 4616 message as the initial response).
fn auth_plain(server: &TestServer, user: &str, password: &str) -> String {
    let mut client = server.connect();
    let message = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    let reply = client.command(&format!("AUTH PLAIN {message}"));
    quit_if_in(client, &reply);
    reply
}

/// Ends a session that logged in, so the next login finds its maildrop free.
fn quit_if_in(mut client: Client, reply: &str) {
    if reply.starts_with("+OK") {
        assert!(client.command("QUIT").starts_with("+OK"));
        assert!(client.is_closed());
    }
}

fn assert_logs_in(server: &TestServer, user: &str, password: &str, what: &str) {
    let reply = user_pass(server, user, password);
    assert!(reply.starts_with("+OK"), "USER/PASS {user} ({what}): {reply}\n{}", server.log_text());
    let reply = auth_plain(server, user, password);
    assert!(reply.starts_with("+OK"), "AUTH PLAIN {user} ({what}): {reply}");
}

fn assert_refused(server: &TestServer, user: &str, password: &str, what: &str) {
    let reply = user_pass(server, user, password);
    assert!(reply.starts_with("-ERR [AUTH]"), "USER/PASS {user} ({what}) was let in: {reply}");
    let reply = auth_plain(server, user, password);
    assert!(reply.starts_with("-ERR [AUTH]"), "AUTH PLAIN {user} ({what}) was let in: {reply}");
}

/// For every scheme, a user whose password field `doveadm pw` made logs in
/// with USER/PASS and with AUTH PLAIN, and a wrong password fails. So do
/// the fields Dovecot reads that `doveadm pw` does not write as such:
/// PLAIN-TRUNC's `N-text`, each crypt(3) form under `{CRYPT}` and with no
/// scheme at all (Dovecot's default CRYPT), each checked with
/// `doveadm pw -t` first.
#[test]
fn every_scheme_doveadm_writes_logs_in() {
    if !have_doveadm("every_scheme_doveadm_writes_logs_in") {
        return;
    }
    // (user, field, password, what)
    let mut users: Vec<(String, String, String, String)> = Vec::new();
    for (i, scheme) in DOVEADM_SCHEMES.iter().enumerate() {
        let password = format!("pass word {i}!");
        let domain = if i % 3 == 0 { "@example.org" } else { "" };
        users.push((format!("u{i}{domain}"), doveadm_pw(scheme, &password), password, scheme.to_string()));
    }
    let password = "truncated password".to_owned();
    for field in [format!("{{PLAIN-TRUNC}}{}-{password}", password.len()), "{PLAIN-TRUNC}9-truncated".to_owned()] {
        let user = format!("trunc{}", users.len());
        users.push((user, field, password.clone(), "PLAIN-TRUNC".to_owned()));
    }
    for scheme in ["MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT", "BLF-CRYPT"] {
        let password = format!("crypt {scheme}");
        let crypt = value_of(&doveadm_pw(scheme, &password)).to_owned();
        let mut forms = vec![crypt.clone()];
        if let Some(rest) = crypt.strip_prefix("$2y$") {
            forms.push(format!("$2b${rest}"));
        }
        for form in forms {
            let what = format!("{} in {{CRYPT}} and bare", &form[..4]);
            let n = users.len();
            users.push((format!("crypt{n}"), format!("{{CRYPT}}{form}"), password.clone(), what.clone()));
            users.push((format!("bare{n}"), form, password.clone(), what));
        }
    }
    for (_, field, password, what) in &users {
        let field = if field.starts_with('{') { field.clone() } else { format!("{{CRYPT}}{field}") };
        assert!(dovecot_verifies(&field, password), "Dovecot itself refuses {what}: {field}");
    }

    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> =
        users.iter().map(|(user, field, _, _)| format!("{user}:{field}:1000:1000::/home/x::")).collect();
    let file = write_users(dir.path(), &lines);
    let server = TestServer::start_with(&["-f", &file]);
    assert_eq!(server.log_count("cannot log in"), 0, "{}", server.log_text());
    for (user, _, password, what) in &users {
        assert_logs_in(&server, user, password, what);
        // Wrong from the first character: PLAIN-TRUNC rightly takes any
        // password that starts with its stored text.
        assert_refused(&server, user, &format!("X{}", &password[1..]), what);
        assert_refused(&server, user, &password[1..], what);
    }
}

/// An unknown scheme and malformed values cost only their own users: the
/// server starts, serves the others, and logs one warning per bad line
/// naming the file, the line and the scheme, never the value.
#[test]
fn unknown_and_malformed_passwords_cost_only_their_users() {
    if !have_doveadm("unknown_and_malformed_passwords_cost_only_their_users") {
        return;
    }
    let lines = [
        "# from a Dovecot site".to_owned(),
        format!("alice:{}:1000:1000::/home/alice::", doveadm_pw("SHA512-CRYPT", "alice-pw")),
        "bob:{FOO-BAR}c2VjcmV0LWJvYg==".to_owned(),
        "carol:{SSHA256}c2VjcmV0Y2Fyb2w=".to_owned(),
        "dave:{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$secretdave".to_owned(),
        "erin:{SHA512-CRYPT}$6$saltsalt$secreterin".to_owned(),
        "frank:xOAFZqRz5RduI".to_owned(),
        format!("grace:{}", doveadm_pw("ARGON2ID", "grace-pw")),
    ];
    // (line number, user, scheme, value that must never be logged)
    let bad = [
        (3, "bob", "FOO-BAR", "c2VjcmV0LWJvYg"),
        (4, "carol", "SSHA256", "c2VjcmV0Y2Fyb2w"),
        (5, "dave", "ARGON2ID", "secretdave"),
        (6, "erin", "SHA512-CRYPT", "secreterin"),
        (7, "frank", "CRYPT", "xOAFZqRz5RduI"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = write_users(dir.path(), &lines);
    let server = TestServer::start_with(&["-f", &file]);
    assert_logs_in(&server, "alice", "alice-pw", "the good SHA512-CRYPT line");
    assert_logs_in(&server, "grace", "grace-pw", "the good ARGON2ID line");
    for (line, user, scheme, value) in bad {
        let warnings: Vec<String> =
            server.log_text().lines().filter(|l| l.contains(&format!("user '{user}'"))).map(str::to_owned).collect();
        assert_eq!(warnings.len(), 1, "{user}: {warnings:?}");
        let warning = &warnings[0];
        assert!(warning.contains("WARN") || warning.contains("[W"), "{warning}");
        for needed in [file.as_str(), &format!("line {line}:"), &format!("{{{scheme}}}"), "cannot log in"] {
            assert!(warning.contains(needed), "{warning} does not say {needed}");
        }
        assert!(!server.log_text().contains(value), "the log shows {user}'s value:\n{}", server.log_text());
        assert_refused(&server, user, "anything", scheme);
        assert_refused(&server, user, value, scheme);
    }
    assert_eq!(server.log_count("cannot log in"), bad.len(), "{}", server.log_text());
}

/// Names are looked up case-insensitively and lower-cased, as Dovecot's
/// default `auth_username_format = %Lu`: `ALICE@Example.ORG` is
/// `alice@example.org`, whose Maildir is `DIR/alice@example.org`.
/// `--case-sensitive-users` keeps names as written.
#[test]
fn mixed_case_logins_find_the_lower_cased_account() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        "alice:{PLAIN}alice-pw".to_owned(),
        "alice@example.org:{SHA256}eJgOJX9BJDf7+TQ3h7wA7FsQY2QpvAALKQEHM1sIl4Y=".to_owned(),
        "Bob+Lists@Example.ORG:{PLAIN}bob-pw".to_owned(),
    ];
    let file = write_users(dir.path(), &lines);
    let server = TestServer::start_with(&["-f", &file]);
    server.deliver("alice@example.org", "1.host", b"Subject: hi\r\n\r\nbody\r\n");
    for user in ["alice", "Alice", "ALICE"] {
        assert_logs_in(&server, user, "alice-pw", "alice");
    }
    for user in ["alice@example.org", "ALICE@Example.ORG", "Alice@EXAMPLE.org"] {
        assert_logs_in(&server, user, "pass word", "alice@example.org");
    }
    let mut client = server.login("ALICE@Example.ORG", "pass word");
    assert!(client.command("STAT").starts_with("+OK 1 "), "the lower-cased Maildir has the message");
    assert!(client.command("QUIT").starts_with("+OK"));
    assert!(client.is_closed());
    assert_logs_in(&server, "bob+lists@example.org", "bob-pw", "a mixed-case line in the file");
    assert!(server.maildir("bob+lists@example.org").is_dir());
    assert!(!server.maildir("Bob+Lists@Example.ORG").exists());
    assert_refused(&server, "Alice", "ALICE-PW", "passwords keep their case");

    // MGMT takes the same names and keeps them lower-cased too.
    let mut admin = server.admin();
    assert!(admin.command("ADD_USER Carol@Example.ORG carol-pw").starts_with("+OK"));
    assert!(admin.command("ADD_USER carol@example.org other").starts_with("-ERR USER ALREADY EXISTS"));
    assert_logs_in(&server, "carol@example.org", "carol-pw", "added over MGMT");
    let saved = fs::read_to_string(&file).unwrap();
    assert!(saved.contains("\ncarol@example.org:{SHA512-CRYPT}$6$"), "{saved}");
    assert!(admin.command("DELETE_USER CAROL@EXAMPLE.ORG").starts_with("+OK"));
    assert_refused(&server, "carol@example.org", "carol-pw", "deleted");

    let exact = TestServer::start_with(&["-f", &file, "--case-sensitive-users"]);
    assert_logs_in(&exact, "alice", "alice-pw", "exact");
    assert_logs_in(&exact, "alice@example.org", "pass word", "exact");
    for user in ["Alice", "ALICE@Example.ORG"] {
        assert_refused(&exact, user, "alice-pw", "another case");
        assert_refused(&exact, user, "pass word", "another case");
    }
}

/// A name that could leave the mail root is refused at USER, in AUTH PLAIN,
/// over MGMT and in the users file, while the user@domain names Dovecot
/// accepts are taken.
#[test]
fn names_that_could_leave_the_mail_root_are_refused_everywhere() {
    let attempts = ["a@../b", "a@b/../c", "../x", "a/b", "a@..", "..@b", "a@.b", "a@b@c"];
    let dir = tempfile::tempdir().unwrap();
    let file = write_users(dir.path(), &["x+y@example.org:{PLAIN}pw".to_owned()]);
    let server = TestServer::start_with(&["-f", &file]);
    assert_logs_in(&server, "x+y@example.org", "pw", "a user@domain name");
    let mut admin = server.admin();
    for name in attempts {
        let mut client = server.connect();
        assert_eq!(client.command(&format!("USER {name}")), "-ERR [AUTH] invalid user name", "{name}");
        assert!(auth_plain(&server, name, "pw").starts_with("-ERR [AUTH]"), "{name}");
        let reply = admin.command(&format!("ADD_USER {name} pw"));
        assert!(reply.starts_with("-ERR INVALID USER NAME (1-255 OF A-Z a-z 0-9 . _ - + @"), "{name}: {reply}");
    }
    assert!(admin.command("ADD_USER new+tag@example.org pw").starts_with("+OK"));
    assert_logs_in(&server, "new+tag@example.org", "pw", "added over MGMT");
    let outside: Vec<_> = fs::read_dir(server.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(outside, [std::ffi::OsString::from("mail")], "nothing was made beside the mail root");

    for name in attempts {
        let lines = ["ok@example.org:{PLAIN}pw".to_owned(), format!("{name}:{{PLAIN}}pw")];
        let file = write_users(dir.path(), &lines);
        let mail = dir.path().join("refused-mail");
        let exited = run_to_exit(&["127.0.0.1", "0", "--mgmt-port", "0", "-d", mail.to_str().unwrap(), "-f", &file]);
        assert_eq!(exited.status, 2, "{name}: {}", exited.stderr);
        assert!(exited.stderr.contains("line 2: bad user name"), "{name}: {}", exited.stderr);
        assert!(!mail.exists(), "{name}");
    }
}

/// `./run --hash-password --password-scheme SCHEME` prints a field in that
/// scheme that Dovecot itself verifies (`doveadm pw -t`), and rejects a
/// wrong password for; a scheme pop3d cannot write stops with one line.
#[test]
fn hash_password_writes_every_scheme_dovecot_verifies() {
    if !have_doveadm("hash_password_writes_every_scheme_dovecot_verifies") {
        return;
    }
    let hash = |args: &[&str], password: &str| {
        use std::process::{Command, Stdio};
        let mut hasher = Command::new(env!("CARGO_BIN_EXE_pop3d"))
            .arg("--hash-password")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        hasher.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        common::wait_bounded(hasher, "pop3d --hash-password")
    };
    let password = "pa:ss wörd";
    for scheme in ["SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "ARGON2ID", "SSHA512", "PLAIN"] {
        let output = hash(&["--password-scheme", scheme], password);
        assert!(output.status.success(), "{scheme}: {}", String::from_utf8_lossy(&output.stderr));
        let field = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        let written = if scheme == "PLAIN" { "PLAIN.HEX" } else { scheme };
        assert!(field.starts_with(&format!("{{{written}}}")), "{field}");
        assert!(dovecot_verifies(&field, password), "Dovecot rejects {field}");
        assert!(!dovecot_verifies(&field, "pa:ss word"), "Dovecot accepts a wrong password for {field}");
    }
    let output = hash(&["--password-scheme", "MD5-CRYPT"], password);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.lines().next().unwrap().contains("--password-scheme: 'MD5-CRYPT': new passwords can be stored as"),
        "{stderr}"
    );
}
