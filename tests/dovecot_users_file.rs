//! One passwd-file shared by pop3d and a real Dovecot 2.3: after MGMT's
//! ADD_USER, DELETE_USER, RESET_USER_PASSWORD and CHANGE_PASSWORD, and a
//! hand edit between them, Dovecot (reading the file as its own
//! unprivileged auth user) still authenticates every user, old and new;
//! the lines MGMT did not touch are byte for byte what they were, and the
//! file keeps its owner, group and mode. New passwords in every
//! `--password-scheme` are verified by Dovecot itself.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::dovecot::{self, Dovecot};
use common::TestServer;

/// The group Dovecot's auth process reads passwd-files as.
fn dovecot_gid() -> u32 {
    let output = Command::new("id").args(["-g", "dovecot"]).output().expect("run id");
    assert!(output.status.success(), "Debian's dovecot-core creates the dovecot user");
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap()
}

fn start_pop3d(root: &Path, passwd: &Path, extra: &[&str]) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["-f", passwd.to_str().unwrap()];
    args.extend_from_slice(extra);
    TestServer::spawn(TestServer::command(root, "127.0.0.1", &args), dir, root.to_owned())
}

fn mgmt(server: &TestServer, command: &str) {
    let reply = server.admin_as("admin", "admin-pw").command(command);
    assert!(reply.starts_with("+OK"), "{command}: {reply}\n{}", server.log_text());
}

#[test]
fn dovecot_reads_the_file_after_every_mgmt_change() {
    if !dovecot::available() {
        return;
    }
    let (uid, gid) = dovecot::mail_user();
    let dir = dovecot::open_temp_dir();
    let root = dir.path().join("mail");
    fs::create_dir(&root).unwrap();
    dovecot::give_to_mail_user(&root);
    let passwd = dir.path().join("passwd");
    // What a Dovecot site's file looks like: comments, blank lines, every
    // field, extra fields, a CRLF line, a hash made elsewhere.
    let alice_hash = "{SHA512-CRYPT}$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";
    let lines = [
        "# Mail users; shared by Dovecot and pop3d.\n".to_owned(),
        "\n".to_owned(),
        format!("alice:{alice_hash}:{uid}:{gid}:Alice Liddell::/bin/false:userdb_pop3_uidl_format=%%08Xu%%08Xv\n"),
        format!("bob:{{PLAIN}}bob-pw:{uid}:{gid}::::\n"),
        // Dovecot reads only a `#` in the first column as a comment.
        "# carol next\n".to_owned(),
        format!("carol:{{PLAIN}}carol-pw:{uid}:{gid}::\r\n"),
        format!("admin:{{PLAIN}}admin-pw:{uid}:{gid}::::\n"),
    ];
    fs::write(&passwd, lines.concat()).unwrap();
    std::os::unix::fs::chown(&passwd, Some(0), Some(dovecot_gid())).unwrap();
    fs::set_permissions(&passwd, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let before = fs::metadata(&passwd).unwrap();

    let server = start_pop3d(&root, &passwd, &["-a", "admin:admin-pw"]);
    mgmt(&server, "ADD_USER dave dave-pw");
    mgmt(&server, "DELETE_USER bob");
    // A sysadmin's hand edit between two MGMT changes.
    let mut edited = fs::read_to_string(&passwd).unwrap();
    edited.push_str(&format!("erin:{{PLAIN}}erin-pw:{uid}:{gid}::::\n"));
    fs::write(&passwd, edited).unwrap();
    mgmt(&server, "RESET_USER_PASSWORD carol");
    mgmt(&server, "ADD_USER frank frank-pw");
    mgmt(&server, "CHANGE_PASSWORD admin-pw admin-new");

    let text = fs::read_to_string(&passwd).unwrap();
    let got: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(&got[..3], &lines[..3], "{text}");
    assert_eq!(got[3], lines[4], "bob's line is gone, the comment after it stays\n{text}");
    assert!(got[4].starts_with("carol:{SHA512-CRYPT}$6$"), "{text}");
    assert!(got[4].ends_with(&format!(":{uid}:{gid}::\r\n")), "carol's other fields stay\n{text}");
    assert!(got[5].starts_with("admin:{SHA512-CRYPT}$6$"), "{text}");
    assert!(got[5].ends_with(&format!(":{uid}:{gid}::::\n")), "{text}");
    assert!(got[6].ends_with("::::::\n"), "added lines carry empty userdb fields for Dovecot\n{text}");
    assert!(got[6].starts_with("dave:{SHA512-CRYPT}$6$"), "{text}");
    assert_eq!(got[7], format!("erin:{{PLAIN}}erin-pw:{uid}:{gid}::::\n"), "the hand edit is kept");
    assert!(got[8].starts_with("frank:{SHA512-CRYPT}$6$"), "{text}");
    assert_eq!(got.len(), 9, "{text}");
    let after = fs::metadata(&passwd).unwrap();
    assert_eq!((after.uid(), after.gid(), after.mode()), (before.uid(), before.gid(), before.mode()));

    // pop3d saw the hand edit before its next change.
    for (user, password) in [("erin", "erin-pw"), ("frank", "frank-pw"), ("dave", "dave-pw"), ("carol", "carol")] {
        server.login(user, password);
    }

    // Every --password-scheme, written by pop3d, verified by Dovecot.
    let schemes = ["SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "ARGON2ID", "SSHA512", "PLAIN"];
    for scheme in schemes {
        // No -a now: the admin's password is the one MGMT saved.
        let server = start_pop3d(&root, &passwd, &["--password-scheme", scheme]);
        let name = format!("s-{}", scheme.to_lowercase());
        let reply = server.admin_as("admin", "admin-new").command(&format!("ADD_USER {name} {name}-pw:x"));
        assert!(reply.starts_with("+OK"), "{scheme}: {reply}");
        let text = fs::read_to_string(&passwd).unwrap();
        let line = text.lines().find(|line| line.starts_with(&format!("{name}:"))).unwrap();
        let expected_prefix = if scheme == "PLAIN" { "{PLAIN.HEX}".to_owned() } else { format!("{{{scheme}}}") };
        assert!(line[name.len() + 1..].starts_with(&expected_prefix), "{line}");
        server.login(&name, &format!("{name}-pw:x"));
    }

    // pop3d, as root, made the Maildirs of the logins above.
    dovecot::give_to_mail_user(&root);
    let dovecot = Dovecot::start_shared(&passwd, &format!("maildir:{}/%u", root.display()), "%f");
    let users = [
        ("alice", "password"),
        ("carol", "carol"),
        ("admin", "admin-new"),
        ("dave", "dave-pw"),
        ("erin", "erin-pw"),
        ("frank", "frank-pw"),
    ];
    for (user, password) in users {
        dovecot.login_as(user, password);
    }
    for scheme in schemes {
        let name = format!("s-{}", scheme.to_lowercase());
        dovecot.login_as(&name, &format!("{name}-pw:x"));
    }
    let refused = dovecot.login_reply("bob", "bob-pw");
    assert!(refused.starts_with("-ERR"), "bob was deleted: {refused}");
    let log = dovecot.log_text();
    assert!(!log.contains("Error:"), "{log}");
}
