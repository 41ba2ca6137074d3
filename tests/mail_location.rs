//! `--mail-location`: user@domain names placed by `%d`/`%n`, homes from
//! the users file by `~`/`%h`, mixed-case logins, and users the template
//! cannot place or that try to leave the root, over real POP3 sessions.

mod common;

use std::fs;
use std::path::Path;

use common::{deliver, TestServer};

fn start(dir: tempfile::TempDir, users: &str, location: &str) -> TestServer {
    let file = dir.path().join("passwd");
    fs::write(&file, users).unwrap();
    let command = TestServer::command(
        &dir.path().join("unused"),
        "127.0.0.1",
        &["-f", file.to_str().unwrap(), "--mail-location", location],
    );
    TestServer::spawn(command, dir, "unused".into())
}

fn login_reply(server: &TestServer, user: &str, password: &str) -> String {
    let mut client = server.connect();
    assert!(client.command(&format!("USER {user}")).starts_with("+OK"), "USER {user}");
    client.command(&format!("PASS {password}"))
}

/// The STAT reply `user` gets, in a session ended by QUIT.
fn stat(server: &TestServer, user: &str, password: &str) -> String {
    let mut client = server.login(user, password);
    let reply = client.command("STAT");
    assert!(client.command("QUIT").starts_with("+OK"));
    reply
}

#[test]
fn domains_and_names_place_each_maildir_and_nothing_leaves_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("vmail");
    deliver(&root.join("example.org/alice"), "1.a", b"Subject: a\r\n\r\na\r\n");
    deliver(&root.join("other.net/bob"), "1.b", b"Subject: b\r\n\r\nb\r\n");
    deliver(&root.join("other.net/bob"), "2.b", b"Subject: b2\r\n\r\nb\r\n");
    // What a traversal would reach, if one got through.
    deliver(&dir.path().join("b/a"), "1.x", b"Subject: x\r\n\r\nx\r\n");
    deliver(&root.join("c/a"), "1.y", b"Subject: y\r\n\r\ny\r\n");
    let users = "alice@example.org:{PLAIN}a-pw\nBob@Other.NET:{PLAIN}b-pw\ncarol:{PLAIN}c-pw\n";
    let location = format!("maildir:{}/%d/%n", root.display());
    let server = start(dir, users, &location);

    for login in ["alice@example.org", "ALICE@Example.Org"] {
        assert_eq!(stat(&server, login, "a-pw"), "+OK 1 17", "{login}");
    }
    assert_eq!(stat(&server, "bob@other.net", "b-pw"), "+OK 2 35");
    assert!(!root.join("Other.NET").exists() && !root.join("other.net/Bob").exists(), "served lower-cased");

    // No domain, so no %d: carol cannot log in, with one line, and no one else is affected.
    let reply = login_reply(&server, "carol", "c-pw");
    assert!(reply.starts_with("-ERR [SYS/PERM]"), "{reply}");
    server.wait_for_log("carol cannot log in: mail location");
    assert_eq!(server.log_count("carol cannot log in"), 1, "{}", server.log_text());
    assert_eq!(stat(&server, "alice@example.org", "a-pw"), "+OK 1 17");

    // Names that would climb out are no names at all, over POP3 and MGMT.
    for name in ["a@../b", "a@b/../c", "../b@x", "a@.b", "a@b/c", "a%2e%2e@b"] {
        let mut client = server.connect();
        let reply = client.command(&format!("USER {name}"));
        let reply = if reply.starts_with("+OK") { client.command("PASS x") } else { reply };
        assert!(reply.starts_with("-ERR"), "{name}: {reply}");
        let added = server.admin().command(&format!("ADD_USER {name} pw"));
        assert!(added.starts_with("-ERR INVALID USER NAME"), "{name}: {added}");
    }
    assert!(!server.log_text().contains("panicked"), "{}", server.log_text());
    assert_eq!(stat(&server, "bob@other.net", "b-pw"), "+OK 2 35", "still serving");
}

#[test]
fn homes_come_from_the_users_file() {
    let dir = tempfile::tempdir().unwrap();
    let homes = dir.path().join("home");
    let alice = homes.join("alice");
    deliver(&alice.join("Maildir"), "1.a", b"Subject: a\r\n\r\na\r\n");
    let home = |path: &Path| path.display().to_string();
    let users = format!(
        "alice:{{PLAIN}}a-pw:1000:1000:Alice:{}:/bin/sh:userdb_quota=1G\n\
         nohome:{{PLAIN}}n-pw:1000:1000::::\n\
         dotted:{{PLAIN}}d-pw:1000:1000::{}/../alice::\n\
         relative:{{PLAIN}}r-pw:1000:1000::home/alice::\n",
        home(&alice),
        home(&homes),
    );
    let server = start(dir, &users, "maildir:~/Maildir");
    assert_eq!(stat(&server, "alice", "a-pw"), "+OK 1 17");
    for (user, password) in [("nohome", "n-pw"), ("dotted", "d-pw"), ("relative", "r-pw")] {
        let reply = login_reply(&server, user, password);
        assert!(reply.starts_with("-ERR [SYS/PERM]"), "{user}: {reply}");
        server.wait_for_log(&format!("{user} cannot log in: mail location maildir:~/Maildir"));
    }
    assert_eq!(stat(&server, "alice", "a-pw"), "+OK 1 17");
}
