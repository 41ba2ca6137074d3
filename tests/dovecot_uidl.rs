//! `--uidl-format` against the real Dovecot: a Maildir served by Dovecot
//! and then by pop3d (or the other way round, or back and forth) shows
//! every client the same unique-ids, so none downloads its mail again; and
//! pop3d keeps `dovecot-uidlist` and its lock as Dovecot does.
//!
//! The tests that start Dovecot skip (saying so) when it is not installed,
//! and need root; those of the lock alone need neither.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use common::dovecot::{self, Dovecot, DOVECOT_DEFAULT_FORMAT};
use common::{deliver_into, set_age, TestServer};

const UIDLIST: &str = "dovecot-uidlist";
const UIDLIST_LOCK: &str = "dovecot-uidlist.lock";

/// A mail root every process may enter, in a folder of its own.
struct MailRoot {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl MailRoot {
    fn new() -> Self {
        let dir = dovecot::open_temp_dir();
        let root = dir.path().join("mail");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        Self { _dir: dir, root }
    }

    fn maildir(&self, user: &str) -> PathBuf {
        self.root.join(user)
    }

    fn uidlist(&self, user: &str) -> String {
        fs::read_to_string(self.maildir(user).join(UIDLIST)).unwrap()
    }

    /// Writes a message as a delivery agent running as the mail user
    /// would (when there is one: the lock tests run without Dovecot).
    fn deliver(&self, user: &str, folder: &str, name: &str, content: &[u8]) {
        deliver_into(&self.maildir(user), folder, name, content);
        if rustix::process::geteuid().is_root() && Path::new(dovecot::DOVECOT).exists() {
            dovecot::give_to_mail_user(&self.maildir(user));
        }
    }

    /// pop3d serving this mail root to `users` (password `<user>-pw`),
    /// with `--uidl-format format` unless `None`.
    fn pop3d(&self, users: &[&str], format: Option<&str>) -> TestServer {
        let mut args = vec!["-u".to_owned()];
        args.extend(users.iter().map(|user| format!("{user}:{user}-pw")));
        if let Some(format) = format {
            args.extend(["--uidl-format".to_owned(), format.to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let command = TestServer::command(&self.root, "127.0.0.1", &args);
        TestServer::spawn(command, dovecot::open_temp_dir(), self.root.clone())
    }
}

/// 17 octets, 20 with CRLF line ends.
const BODY: &[u8] = b"Subject: x\n\nbody\n";

/// A Maildir as a site has it: mail left in new/ by a delivery agent that
/// names files without sizes, mail Dovecot's LDA named with them, mail in
/// cur/ already read, with flags.
fn fill(mail: &MailRoot, user: &str) {
    mail.deliver(user, "new", "1700000000.M100P1.example", b"Subject: one\n\nfirst\n");
    mail.deliver(user, "new", "1700000000.M20P1.example", b"Subject: two\n\nsecond\r\n");
    mail.deliver(user, "new", "1699999999.M5P7.other", b"Subject: three\n\nthird\n");
    mail.deliver(user, "new", "1700000050.M3P9.example,S=17,W=20", BODY);
    mail.deliver(user, "cur", "1600000000.M1P1.example:2,S", b"Subject: old\n\nread\n");
    mail.deliver(user, "cur", "1650000000.M7P3.example,S=17,W=20:2,RS", BODY);
}

/// A mail root with a [`fill`]ed Maildir for each of `users`; `None` (the
/// test is skipped) when Dovecot is not installed.
fn filled(users: &[&str]) -> Option<MailRoot> {
    if !dovecot::available() {
        return None;
    }
    let mail = MailRoot::new();
    for user in users {
        fill(&mail, user);
    }
    Some(mail)
}

/// A mail root whose Maildir for `user` was [`fill`]ed and served once by
/// pop3d with Dovecot's format, with that listing; `None` (the test is
/// skipped) when Dovecot is not installed.
fn served_first_by_pop3d(user: &str) -> Option<(MailRoot, Vec<String>)> {
    let mail = filled(&[user])?;
    let pop3d = mail.pop3d(&[user], Some(DOVECOT_DEFAULT_FORMAT));
    let listing = pop3d.uidl_listing(user, &format!("{user}-pw"));
    Some((mail, listing))
}

/// The `<uid> :<base name>` lines of a uidlist, without the header.
fn records(uidlist: &str) -> Vec<&str> {
    uidlist.lines().skip(1).collect()
}

/// The UIDVALIDITY in a uidlist's header.
fn uid_validity(uidlist: &str) -> u32 {
    let header = uidlist.lines().next().unwrap();
    header.split(' ').find_map(|field| field.strip_prefix('V')).unwrap().parse().unwrap()
}

/// Dovecot serves a Maildir first (and writes its uidlist); pop3d with
/// Dovecot's format then serves exactly the same listing, writing nothing;
/// new mail gets the next UIDs, appended to the uidlist; and Dovecot,
/// started again, agrees on every message, old and new.
#[test]
fn dovecot_then_pop3d_then_dovecot_serve_the_same_uidls() {
    let Some(mail) = filled(&["alice"]) else {
        return;
    };
    let server = Dovecot::start(&mail.root, &[("alice", DOVECOT_DEFAULT_FORMAT)]);
    let from_dovecot = server.uidl_listing("alice");
    drop(server);
    assert_eq!(from_dovecot.len(), 6);
    let written_by_dovecot = mail.uidlist("alice");
    let validity = uid_validity(&written_by_dovecot);
    assert_eq!(from_dovecot[0], format!("1 {:08x}{validity:08x}", 1), "Dovecot uses its default format");

    let pop3d = mail.pop3d(&["alice"], Some(DOVECOT_DEFAULT_FORMAT));
    assert_eq!(pop3d.uidl_listing("alice", "alice-pw"), from_dovecot);
    assert_eq!(mail.uidlist("alice"), written_by_dovecot, "nothing new: the uidlist is not written");

    mail.deliver("alice", "new", "1800000001.M1P1.example", b"Subject: new\n\nnew\n");
    mail.deliver("alice", "new", "1800000000.M9P1.example", b"Subject: newer\n\nnewer\n");
    let with_new_mail = pop3d.uidl_listing("alice", "alice-pw");
    assert_eq!(with_new_mail[..6], from_dovecot[..]);
    let expected_new = [format!("7 {:08x}{validity:08x}", 7), format!("8 {:08x}{validity:08x}", 8)];
    assert_eq!(with_new_mail[6..], expected_new, "the next UIDs, in Dovecot's order");
    let appended = mail.uidlist("alice");
    assert!(appended.starts_with(&written_by_dovecot), "appended, not rewritten:\n{appended}");
    let new_lines: Vec<&str> = records(&appended).into_iter().skip(6).collect();
    assert_eq!(new_lines.len(), 2, "{appended}");
    assert!(new_lines[0].starts_with("7 :1800000000.M9P1.example,S="), "{appended}");
    assert!(new_lines[1].starts_with("8 :1800000001.M1P1.example,S="), "{appended}");
    assert!(!mail.maildir("alice").join(UIDLIST_LOCK).exists(), "the lock is released");
    drop(pop3d);

    let server = Dovecot::start(&mail.root, &[("alice", DOVECOT_DEFAULT_FORMAT)]);
    assert_eq!(server.uidl_listing("alice"), with_new_mail, "{}", server.log_text());
}

/// The other way round: pop3d serves a Maildir that has no uidlist yet,
/// creates one as Dovecot would (owned like the Maildir), and Dovecot then
/// serves the same UIDLs; mail Dovecot numbers next, pop3d numbers alike.
#[test]
fn pop3d_then_dovecot_then_pop3d_serve_the_same_uidls() {
    let Some((mail, from_pop3d)) = served_first_by_pop3d("bob") else {
        return;
    };
    let created = mail.uidlist("bob");
    let header: Vec<&str> = created.lines().next().unwrap().split(' ').collect();
    assert_eq!(header.len(), 4, "{created}");
    assert_eq!((header[0], header[2]), ("3", "N7"), "{created}");
    assert!(header[3].starts_with('G') && header[3].len() == 33, "{created}");
    let validity = uid_validity(&created);
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    assert!(now.abs_diff(u64::from(validity)) < 600, "UIDVALIDITY is the time of creation");
    assert_eq!(from_pop3d.len(), 6);
    for (number, line) in from_pop3d.iter().enumerate() {
        let uid = number + 1;
        assert_eq!(*line, format!("{uid} {uid:08x}{validity:08x}"));
    }
    let maildir = fs::metadata(mail.maildir("bob")).unwrap();
    let uidlist = fs::metadata(mail.maildir("bob").join(UIDLIST)).unwrap();
    assert_eq!((uidlist.uid(), uidlist.gid()), (maildir.uid(), maildir.gid()), "owned like the Maildir");
    assert_eq!(uidlist.mode() & 0o777, 0o644, "the Maildir's mode without execute bits");

    let server = Dovecot::start(&mail.root, &[("bob", DOVECOT_DEFAULT_FORMAT)]);
    assert_eq!(server.uidl_listing("bob"), from_pop3d, "{}", server.log_text());
    mail.deliver("bob", "new", "1800000000.M1P1.example", BODY);
    let numbered_by_dovecot = server.uidl_listing("bob");
    assert_eq!(numbered_by_dovecot.len(), 7);
    drop(server);
    let pop3d = mail.pop3d(&["bob"], Some(DOVECOT_DEFAULT_FORMAT));
    assert_eq!(pop3d.uidl_listing("bob", "bob-pw"), numbered_by_dovecot);
}

/// The unique-ids of a listing, without their message numbers.
fn uidls(listing: &[String]) -> BTreeSet<String> {
    listing.iter().map(|line| line.split_once(' ').unwrap().1.to_owned()).collect()
}

/// With `%f` on both sides (pop3d's default) the two servers serve the same
/// unique-ids too, whichever moves new mail into cur/ first. (Without the
/// uidlist pop3d numbers messages by delivery time, which is not always
/// Dovecot's UID order; clients match messages by unique-id.)
#[test]
fn file_name_uidls_agree_either_way() {
    let Some(mail) = filled(&["alice", "bob"]) else {
        return;
    };
    let server = Dovecot::start(&mail.root, &[("alice", "%f"), ("bob", "%f")]);
    let alice_from_dovecot = server.uidl_listing("alice");
    drop(server);
    assert!(alice_from_dovecot.contains(&"1 1600000000.M1P1.example".to_owned()), "{alice_from_dovecot:?}");
    assert_eq!(alice_from_dovecot.len(), 6);
    let pop3d = mail.pop3d(&["alice", "bob"], None);
    assert_eq!(uidls(&pop3d.uidl_listing("alice", "alice-pw")), uidls(&alice_from_dovecot));
    let bob_from_pop3d = pop3d.uidl_listing("bob", "bob-pw");
    drop(pop3d);
    assert_eq!(bob_from_pop3d.len(), 6);
    let server = Dovecot::start(&mail.root, &[("alice", "%f"), ("bob", "%f")]);
    assert_eq!(uidls(&server.uidl_listing("bob")), uidls(&bob_from_pop3d), "{}", server.log_text());
    assert_eq!(uidls(&server.uidl_listing("alice")), uidls(&alice_from_dovecot));
}

/// Other formats of Dovecot's `pop3_uidl_format` syntax (those of other
/// servers that sites migrated from, and the width and offset modifiers)
/// give what Dovecot gives, message by message.
#[test]
fn other_formats_expand_as_dovecot_expands_them() {
    let formats = ["%v.%u", "%u", "%v-%u", "%08Xv%08Xu", "%g", "%Lf", "%3.5f-%u", "%Xv-%Xu", "%-5.3f%010u", "%Uf%%"];
    let users: Vec<String> = (0..formats.len()).map(|n| format!("user{n}")).collect();
    let Some(mail) = filled(&users.iter().map(String::as_str).collect::<Vec<_>>()) else {
        return;
    };
    let table: Vec<(&str, &str)> = users.iter().map(String::as_str).zip(formats).collect();
    let server = Dovecot::start(&mail.root, &table);
    let from_dovecot: Vec<Vec<String>> = users.iter().map(|user| server.uidl_listing(user)).collect();
    drop(server);
    for ((user, format), expected) in table.iter().zip(&from_dovecot) {
        let pop3d = mail.pop3d(&[user], Some(format));
        let listing = pop3d.uidl_listing(user, &format!("{user}-pw"));
        if format.contains(['u', 'v', 'g']) {
            assert_eq!(listing, *expected, "{format}");
        } else {
            // Numbered by delivery time without the uidlist (see above).
            assert_eq!(uidls(&listing), uidls(expected), "{format}");
        }
    }
}

/// A lock pop3d left behind when it died is one Dovecot overrides at once:
/// pop3d writes `<pid>:<host>` as Dovecot does, so Dovecot sees its owner
/// is gone instead of waiting two minutes.
#[test]
fn dovecot_overrides_a_lock_a_dead_pop3d_left() {
    let Some((mail, from_pop3d)) = served_first_by_pop3d("alice") else {
        return;
    };
    plant_lock(&mail.maildir("alice"), DEAD_PID, Duration::from_secs(10));
    mail.deliver("alice", "new", "1800000000.M1P1.example", BODY);
    let server = Dovecot::start(&mail.root, &[("alice", DOVECOT_DEFAULT_FORMAT)]);
    let started = Instant::now();
    let listing = server.uidl_listing("alice");
    assert!(started.elapsed() < Duration::from_secs(60), "Dovecot waited for the stale lock");
    assert_eq!(listing[..6], from_pop3d[..]);
    assert_eq!(listing.len(), 7);
}

/// No process has this pid (pid_max is at most 2^22).
const DEAD_PID: u32 = 4_194_999;

/// Writes `dovecot-uidlist.lock` into `maildir` as process `pid` of this
/// host would, dated `age` ago.
fn plant_lock(maildir: &Path, pid: u32, age: Duration) -> PathBuf {
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let path = maildir.join(UIDLIST_LOCK);
    fs::write(&path, format!("{pid}:{}", host.trim_end())).unwrap();
    set_age(&path, age);
    path
}

/// A Maildir pop3d has numbered, with one new message waiting, so that the
/// next login needs the uidlist lock.
fn numbered_maildir_with_new_mail(format: &str) -> (MailRoot, TestServer) {
    let mail = MailRoot::new();
    mail.deliver("alice", "new", "1700000000.M1P1.example", BODY);
    let server = mail.pop3d(&["alice"], Some(format));
    assert_eq!(server.uidl_listing("alice", "alice-pw").len(), 1);
    mail.deliver("alice", "new", "1700000001.M1P1.example", BODY);
    (mail, server)
}

/// A login that must number new mail waits while a live process holds
/// Dovecot's lock, and goes on as soon as it is released.
#[test]
fn a_held_uidlist_lock_makes_the_login_wait() {
    let (mail, server) = numbered_maildir_with_new_mail("%u");
    let lock = plant_lock(&mail.maildir("alice"), std::process::id(), Duration::ZERO);
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        fs::remove_file(lock).unwrap();
    });
    let started = Instant::now();
    let listing = server.uidl_listing("alice", "alice-pw");
    assert!(started.elapsed() >= Duration::from_secs(1), "the login did not wait for the lock");
    assert_eq!(listing, ["1 1", "2 2"]);
    release.join().unwrap();
}

/// A lock whose owner died is overridden at once, as Dovecot would.
#[test]
fn a_stale_uidlist_lock_is_overridden() {
    let (mail, server) = numbered_maildir_with_new_mail("%u");
    plant_lock(&mail.maildir("alice"), DEAD_PID, Duration::from_secs(10));
    assert_eq!(server.uidl_listing("alice", "alice-pw"), ["1 1", "2 2"]);
    server.wait_for_log("overrode stale lock");
    assert!(!mail.maildir("alice").join(UIDLIST_LOCK).exists());
}

/// A lock held past the login's patience refuses the login with
/// `[IN-USE]`, and touches nothing: the new mail waits in new/ with no UID.
#[test]
fn a_lock_held_too_long_refuses_the_login_and_changes_nothing() {
    let (mail, server) = numbered_maildir_with_new_mail("%u");
    let before = mail.uidlist("alice");
    plant_lock(&mail.maildir("alice"), std::process::id(), Duration::ZERO);
    let mut client = server.connect();
    assert!(client.command("USER alice").starts_with("+OK"));
    let reply = client.command_within("PASS alice-pw", Duration::from_secs(60));
    assert!(reply.starts_with("-ERR [IN-USE] "), "{reply}");
    assert_eq!(mail.uidlist("alice"), before);
    assert_eq!(common::raw_files_in(&mail.maildir("alice"), "new").len(), 1);
}

/// A uidlist pop3d cannot read as Dovecot reads it refuses the login for
/// now, says which line is wrong, and is left as it is: replacing it would
/// give old mail new UIDLs, and every client would download it again.
#[test]
fn a_broken_uidlist_refuses_the_login_and_is_kept() {
    let mail = MailRoot::new();
    mail.deliver("alice", "cur", "1700000000.M1P1.example:2,S", BODY);
    let broken = "3 V1700000000 N3 G0123456789abcdef0123456789abcdef\n2 :1700000000.M1P1.example\n1 :b\n";
    fs::write(mail.maildir("alice").join(UIDLIST), broken).unwrap();
    let server = mail.pop3d(&["alice"], Some(DOVECOT_DEFAULT_FORMAT));
    let mut client = server.connect();
    assert!(client.command("USER alice").starts_with("+OK"));
    let reply = client.command("PASS alice-pw");
    assert!(reply.starts_with("-ERR [SYS/TEMP] "), "{reply}");
    server.wait_for_log("dovecot-uidlist line 3: UIDs not ordered");
    assert_eq!(mail.uidlist("alice"), broken);
}

/// A bad format is one line and exit status 2 at start.
#[test]
fn a_bad_format_stops_start_up_with_one_line() {
    for format in ["%08Xm", "%{uid}", "%q", "plain", "%u%"] {
        let exited = common::run_to_exit(&["127.0.0.1", "0", "--mgmt-port", "0", "--uidl-format", format]);
        assert_eq!(exited.status, 2, "{format}: {}", exited.stderr);
        let first = exited.stderr.lines().next().unwrap_or_default();
        assert!(first.contains("--uidl-format") && first.contains(format), "{format}: {}", exited.stderr);
    }
}

/// Writes a message to `path`, last read at `read` (before it was
/// written: a read now would update the time, even on a file system that
/// records reads only lazily, `relatime`).
fn write_unread(path: &Path, read: SystemTime) {
    fs::write(path, BODY).unwrap();
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_times(fs::FileTimes::new().set_accessed(read)).unwrap();
}

/// A login to 10,000 messages that Dovecot moved into cur/ (names without
/// sizes, the sizes noted in the uidlist) reads the uidlist once and no
/// message file, and writes nothing; one new message appends one line.
#[test]
fn a_large_maildrop_opens_without_reading_its_messages() {
    const COUNT: usize = 10_000;
    let mail = MailRoot::new();
    let maildir = mail.maildir("alice");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let mut uidlist = format!("3 V1700000000 N{} G0123456789abcdef0123456789abcdef\n", COUNT + 1);
    let day_ago = SystemTime::now() - Duration::from_secs(86_400);
    for n in 1..=COUNT {
        let base = format!("{}.M{n}P1.example", 1_600_000_000 + n);
        let path = maildir.join("cur").join(format!("{base}:2,S"));
        write_unread(&path, day_ago);
        uidlist += &format!("{n} W20 :{base}\n");
    }
    fs::write(maildir.join(UIDLIST), &uidlist).unwrap();
    let atime = |n: usize| {
        let path = maildir.join("cur").join(format!("{}.M{n}P1.example:2,S", 1_600_000_000 + n));
        fs::metadata(path).unwrap().accessed().unwrap()
    };
    let server = mail.pop3d(&["alice"], Some("%08Xu%08Xv"));
    let started = Instant::now();
    let mut client = server.login("alice", "alice-pw");
    assert!(client.command("UIDL").starts_with("+OK"));
    let listing = client.data_lines();
    let elapsed = started.elapsed();
    assert!(client.command("QUIT").starts_with("+OK"));
    assert_eq!(listing.len(), COUNT);
    assert_eq!(listing[COUNT - 1], format!("{COUNT} {COUNT:08x}{:08x}", 1_700_000_000));
    assert!(elapsed < Duration::from_secs(20), "login and UIDL took {elapsed:?}");
    eprintln!("login and UIDL of {COUNT} messages: {elapsed:?}");
    assert_eq!(fs::read_to_string(maildir.join(UIDLIST)).unwrap(), uidlist, "nothing new, nothing written");
    // Only meaningful where reading updates the access time.
    let reads_show = {
        let probe = maildir.join("tmp").join("probe");
        write_unread(&probe, day_ago);
        fs::read(&probe).unwrap();
        let shows = fs::metadata(&probe).unwrap().accessed().unwrap() > day_ago + Duration::from_secs(60);
        fs::remove_file(probe).unwrap();
        shows
    };
    if reads_show {
        assert!((1..=COUNT).step_by(997).all(|n| atime(n) < day_ago + Duration::from_secs(60)), "a message was read");
    } else {
        eprintln!("note: this file system does not record reads; not checked that no message was read");
    }
    mail.deliver("alice", "new", "1800000000.M1P1.example", BODY);
    let listing = server.uidl_listing("alice", "alice-pw");
    assert_eq!(listing.len(), COUNT + 1);
    let after = fs::read_to_string(maildir.join(UIDLIST)).unwrap();
    assert!(after.starts_with(&uidlist) && after[uidlist.len()..].starts_with(&format!("{} :1800000000.", COUNT + 1)));
    assert_eq!(after.lines().count(), COUNT + 2);
}
