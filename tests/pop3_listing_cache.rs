//! The listing cache (src/storage/listing_cache.rs) never serves a stale
//! listing: mail delivered, removed or renamed by another program right
//! after a login whose listing was cached (in the same second) is seen by
//! the next login, and so is a change whose directory mtime was set back.
//! The debug log (tests run the server with `-l debug`) shows that the
//! cached listings were really served.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{deliver, deliver_into, files_in_cur, Client, TestServer};

const USERS: [&str; 5] = ["newmail", "removed", "renamed", "backdated", "deleted"];

fn message(user: &str, n: usize) -> Vec<u8> {
    format!("Subject: {user} {n}\n\nbody of {user} {n}\n").into_bytes()
}

/// STAT, LIST and UIDL of one session, checked against each other, and
/// every message retrieved; returns the UIDLs, in order.
fn session(server: &TestServer, user: &str) -> Vec<String> {
    let mut client = server.login(user, "pw");
    let stat = client.command("STAT");
    assert!(client.command("LIST").starts_with("+OK"));
    let list = client.data_lines();
    assert!(client.command("UIDL").starts_with("+OK"));
    let uidls: Vec<String> =
        client.data_lines().iter().map(|line| line.split(' ').nth(1).unwrap().to_owned()).collect();
    assert_eq!(stat, format!("+OK {} {}", list.len(), sizes(&list)), "{user}");
    assert_eq!(list.len(), uidls.len(), "{user}");
    for n in 1..=list.len() {
        assert!(client.command(&format!("RETR {n}")).starts_with("+OK"), "{user}: RETR {n}");
        let body = client.data_lines().join("\n");
        assert!(body.contains(&format!("body of {user} ")), "{user}: RETR {n}: {body}");
    }
    quit(client);
    uidls
}

fn sizes(list: &[String]) -> u64 {
    list.iter().map(|line| line.split(' ').nth(1).unwrap().parse::<u64>().unwrap()).sum()
}

fn quit(mut client: Client) {
    assert!(client.command("QUIT").starts_with("+OK"));
    assert!(client.is_closed());
}

/// The UIDLs (by default the unique part of the name) of the files in cur/.
fn uidls_on_disk(maildir: &Path) -> Vec<String> {
    let mut uidls: Vec<String> =
        files_in_cur(maildir).iter().map(|name| name.split(':').next().unwrap().to_owned()).collect();
    uidls.sort();
    uidls
}

fn sorted(mut uidls: Vec<String>) -> Vec<String> {
    uidls.sort();
    uidls
}

#[test]
fn changes_right_after_a_cached_login_are_seen_by_the_next_login() {
    let mut args = vec!["-u"];
    let accounts: Vec<String> = USERS.iter().map(|user| format!("{user}:pw")).collect();
    args.extend(accounts.iter().map(String::as_str));
    let server = TestServer::start_with(&args);
    for user in USERS {
        for n in 0..3 {
            server.deliver(user, &format!("17000000{n}.M{n}P1.host"), &message(user, n));
        }
        // Moves the mail into cur/: cur/ changes now, too recently to cache.
        assert_eq!(session(&server, user).len(), 3);
    }
    // Past the cache's two-second settling time, so listings are kept.
    std::thread::sleep(Duration::from_millis(2_500));
    for user in USERS {
        session(&server, user); // listed and stored
        assert_eq!(session(&server, user).len(), 3); // served from the cache
    }
    // Bounded wait: fails unless every user's second login was served so.
    server.wait_for_log_count("its listing reused", USERS.len());

    // Each change follows a cached login within the same second.
    let maildir = |user: &str| server.maildir(user);
    deliver(&maildir("newmail"), "1800000000.M9P1.host", &message("newmail", 9));
    let removed = maildir("removed").join("cur").join(&files_in_cur(&maildir("removed"))[1]);
    fs::remove_file(removed).unwrap();
    let old_name = files_in_cur(&maildir("renamed"))[0].clone();
    let cur = maildir("renamed").join("cur");
    fs::rename(cur.join(&old_name), cur.join(format!("{}S", old_name))).unwrap();
    // Another program adds a file to cur/ and sets the directory's mtime
    // back: the change time still moves, and must count.
    let cur = maildir("backdated").join("cur");
    let mtime = fs::metadata(&cur).unwrap().modified().unwrap();
    deliver_into(&maildir("backdated"), "cur", "1800000001.M1P1.host:2,", &message("backdated", 1));
    fs::File::open(&cur).unwrap().set_modified(mtime).unwrap();
    assert_eq!(fs::metadata(&cur).unwrap().modified().unwrap(), mtime);
    let mut client = server.login("deleted", "pw");
    assert!(client.command("DELE 2").starts_with("+OK"));
    quit(client);

    let expected = [("newmail", 4), ("removed", 2), ("renamed", 3), ("backdated", 4), ("deleted", 2)];
    for (user, count) in expected {
        let uidls = session(&server, user);
        assert_eq!(uidls.len(), count, "{user}: {uidls:?}");
        assert_eq!(sorted(uidls), uidls_on_disk(&maildir(user)), "{user}");
    }
    // The renamed message keeps its UIDL (the unique part did not change).
    assert!(uidls_on_disk(&maildir("renamed")).contains(&old_name.split(':').next().unwrap().to_owned()));
}

#[test]
fn a_listing_is_not_cached_while_its_directory_is_fresh() {
    let server = TestServer::start_with(&["-u", "fresh:pw"]);
    for n in 0..2 {
        server.deliver("fresh", &format!("17000000{n}.M{n}P1.host"), &message("fresh", n));
    }
    // Logins in quick succession, each after a change in the same second:
    // every one must list the directory afresh and see the change. Two
    // logins with no change between them: the directory is too fresh for
    // the first one's listing to be kept (a coarse clock could hide a change
    // made right after it).
    for n in 2..6 {
        assert_eq!(session(&server, "fresh").len(), n);
        assert_eq!(session(&server, "fresh").len(), n);
        deliver_into(&server.maildir("fresh"), "cur", format!("18000000{n}.M{n}P1.host"), &message("fresh", n));
    }
    assert_eq!(session(&server, "fresh").len(), 6);
    server.wait_for_closed_sessions(9);
    assert_eq!(server.log_count("its listing reused"), 0);
}
