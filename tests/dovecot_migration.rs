//! The move from Dovecot to pop3d and back, end to end, as a site does it:
//! a real Dovecot 2.3 serves user@domain Maildirs (`/%d/%n`) and a
//! passwd-file; mpop (`keep on`, `only_new on`) and fetchmail (`--keep`,
//! not `--all`, with its own idfile) fetch everything; Dovecot stops and
//! pop3d starts on the same files with the README's command line; the
//! clients fetch nothing; one new message is fetched once; pop3d stops,
//! Dovecot starts again, and the clients fetch nothing. Once with
//! Dovecot's default `pop3_uidl_format`, once with `%f` on both sides.
//!
//! What each client fetched is counted from its own deliveries (mpop into
//! a Maildir, fetchmail through an MDA writing one file a message), never
//! from a server's log.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::dovecot::{self, Dovecot, DOVECOT_DEFAULT_FORMAT};
use common::{deliver, wait_bounded, TestServer};

const USER: &str = "alice@example.org";
const PASSWORD: &str = "alice-pw";
/// Messages Dovecot has served before the switch.
const OLD_MESSAGES: usize = 6;

/// A POP3 client in keep mode, with its own state and its own store.
#[derive(Clone, Copy)]
enum KeepClient {
    Mpop,
    Fetchmail,
}

impl KeepClient {
    fn name(self) -> &'static str {
        match self {
            KeepClient::Mpop => "mpop",
            KeepClient::Fetchmail => "fetchmail",
        }
    }

    /// Where its state and its store live, inside `dir`.
    fn state(self, dir: &Path) -> PathBuf {
        dir.join(self.name())
    }

    fn store(self, dir: &Path) -> PathBuf {
        self.state(dir).join("store")
    }

    /// One run against `port`; the number of messages it delivered.
    fn fetch(self, dir: &Path, port: u16) -> usize {
        let state = self.state(dir);
        let store = self.store(dir);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(store.join(sub)).unwrap();
        }
        let before = delivered(&store);
        let mut command = match self {
            KeepClient::Mpop => {
                let rc = state.join("mpoprc");
                write_private(
                    &rc,
                    &format!(
                        "defaults\ntls off\nauth user\ntimeout 20\n\
                         account migrating\nhost 127.0.0.1\nport {port}\nuser {USER}\npassword {PASSWORD}\n\
                         uidls_file {state}/uidls\ndelivery maildir {store}\nkeep on\nonly_new on\n",
                        state = state.display(),
                        store = store.display(),
                    ),
                );
                let mut command = Command::new("mpop");
                command.arg("--quiet").arg("-C").arg(&rc).arg("migrating");
                command
            }
            KeepClient::Fetchmail => {
                // An MDA that writes each message to its own file in the
                // store. The pidfile is the client's own: root's default is
                // /run/fetchmail.pid, shared by every test running at once.
                let mda = state.join("mda");
                write_private(
                    &mda,
                    &format!("#!/bin/sh\nexec cat >\"$(mktemp \"{}/new/m.XXXXXX\")\"\n", store.display()),
                );
                fs::set_permissions(&mda, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
                let local_user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
                let rc = state.join("fetchmailrc");
                write_private(
                    &rc,
                    &format!(
                        "set no bouncemail\nset no syslog\nset idfile \"{state}/fetchids\"\n\
                         set pidfile \"{state}/fetchmail.pid\"\n\
                         poll 127.0.0.1 protocol pop3 service {port} auth password uidl timeout 20:\n  \
                         user \"{USER}\" there with password \"{PASSWORD}\" is \"{local}\" here\n  \
                         options keep no rewrite sslproto '' mda \"{mda}\"\n",
                        state = state.display(),
                        local = local_user.trim(),
                        mda = mda.display(),
                    ),
                );
                let mut command = Command::new("fetchmail");
                command.arg("--silent").arg("--keep").arg("-f").arg(&rc).env("FETCHMAILHOME", &state);
                command.env_remove("FETCHMAIL_INCLUDE_DEFAULT_X509_CA_CERTS");
                command
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {} ({e}): .ci/run installs it", self.name()));
        let output = wait_bounded(child, self.name());
        // fetchmail exits 1 when there was no mail to fetch.
        let fine = output.status.success() || matches!(self, KeepClient::Fetchmail) && output.status.code() == Some(1);
        assert!(
            fine,
            "{} failed ({}):\n{}{}",
            self.name(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        delivered(&store) - before
    }
}

const CLIENTS: [KeepClient; 2] = [KeepClient::Mpop, KeepClient::Fetchmail];

/// Messages in a client's store.
fn delivered(store: &Path) -> usize {
    ["new", "cur"].iter().map(|sub| fs::read_dir(store.join(sub)).map_or(0, |dir| dir.count())).sum()
}

fn write_private(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// How many messages each client fetched in one run.
fn fetch_all(dir: &Path, port: u16) -> Vec<(&'static str, usize)> {
    CLIENTS.iter().map(|client| (client.name(), client.fetch(dir, port))).collect()
}

fn each(count: usize) -> Vec<(&'static str, usize)> {
    CLIENTS.iter().map(|client| (client.name(), count)).collect()
}

/// The whole migration with `format` as both Dovecot's
/// `pop3_uidl_format` and pop3d's `--uidl-format`.
fn migrate_and_back(format: &str) {
    if !dovecot::available() {
        return;
    }
    let (uid, gid) = dovecot::mail_user();
    let site = dovecot::open_temp_dir();
    let clients = tempfile::tempdir().unwrap();
    let root = site.path().join("vmail");
    let maildir = root.join("example.org/alice");
    for i in 0..OLD_MESSAGES {
        let body = format!("From: a@example.net\nSubject: old {i}\n\nmessage {i}\n");
        deliver(&maildir, &format!("17000000{i:02}.M{i}P1.mx"), body.as_bytes());
    }
    dovecot::give_to_mail_user(&root);
    let passwd = site.path().join("passwd");
    fs::write(&passwd, format!("{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::::\n")).unwrap();
    let location = format!("maildir:{}/%d/%n", root.display());

    let dovecot = Dovecot::start_shared(&passwd, &location, format);
    assert_eq!(fetch_all(clients.path(), dovecot.addr.port()), each(OLD_MESSAGES), "{}", dovecot.log_text());
    assert_eq!(fetch_all(clients.path(), dovecot.addr.port()), each(0), "keep mode fetches once");
    drop(dovecot);

    // The README's command line, on the site's own files.
    let args = ["-f", passwd.to_str().unwrap(), "--mail-location", &location, "--uidl-format", format];
    let command = TestServer::command(&root, "127.0.0.1", &args);
    let pop3d = TestServer::spawn(command, tempfile::tempdir().unwrap(), root.clone());
    let port = pop3d.addr().port();
    assert_eq!(fetch_all(clients.path(), port), each(0), "nothing is fetched again\n{}", pop3d.log_text());
    deliver(&maildir, "1800000000.M1P1.mx", b"From: a@example.net\nSubject: new\n\nafter the switch\n");
    dovecot::give_to_mail_user(&maildir);
    assert_eq!(fetch_all(clients.path(), port), each(1), "the new message\n{}", pop3d.log_text());
    assert_eq!(fetch_all(clients.path(), port), each(0), "fetched once");
    drop(pop3d);

    let dovecot = Dovecot::start_shared(&passwd, &location, format);
    assert_eq!(fetch_all(clients.path(), dovecot.addr.port()), each(0), "and back: {}", dovecot.log_text());
    for client in CLIENTS {
        assert_eq!(delivered(&client.store(clients.path())), OLD_MESSAGES + 1, "{}", client.name());
    }
}

#[test]
fn clients_fetch_nothing_again_with_dovecots_default_uidls() {
    migrate_and_back(DOVECOT_DEFAULT_FORMAT);
}

#[test]
fn clients_fetch_nothing_again_with_file_name_uidls() {
    migrate_and_back("%f");
}
