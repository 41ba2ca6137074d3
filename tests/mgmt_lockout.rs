//! MGMT against connections that never log in (issue 11, item 8): they
//! cannot lock the administrator out. A connection has a limited time to
//! log in, connections not yet logged in have slots of their own (the
//! oldest gives way to a newcomer), and a logged-in admin's slot is never
//! taken by anyone.

mod common;

use std::time::{Duration, Instant};

use common::{Client, TestServer, PATIENCE};

/// What a connection that was waiting to log in hears when a newer one
/// takes its slot.
const DISPLACED: &str = "-ERR [SYS/TEMP] LOGIN SLOT TAKEN BY A NEWER CONNECTION";

/// The refusal a connection gets while every admin slot is taken by a
/// logged-in admin (the same as before there were login slots).
const TOO_MANY_ADMINS: &str = "-ERR [SYS/TEMP] TOO MANY ADMIN SESSIONS";

/// How long a real admin may take to get in and be answered while silent
/// connections sit on MGMT: generous for a loaded machine, far below any
/// timeout that would free a slot by itself (30 s to log in, 600 s idle).
const PROMPTLY: Duration = Duration::from_secs(5);

/// Opens `count` MGMT connections that read their greeting and then say
/// nothing, oldest first.
fn silent_connections(server: &TestServer, count: usize) -> Vec<Client> {
    (0..count)
        .map(|index| {
            let mut silent = Client::connect_raw(server.mgmt_addr());
            let greeting = silent.line();
            assert!(greeting.starts_with("+OK"), "silent connection {index} was not greeted: {greeting}");
            silent
        })
        .collect()
}

/// Logs in as admin:admin and runs STATUS, each reply within [`PROMPTLY`].
fn log_in_promptly(server: &TestServer) -> Client {
    let started = Instant::now();
    let mut admin = Client::connect_raw(server.mgmt_addr());
    admin.stream().set_read_timeout(Some(PROMPTLY)).unwrap();
    assert!(admin.line().starts_with("+OK"), "no greeting for the real admin");
    assert_eq!(admin.command_within("USER admin", PROMPTLY), "+OK USER");
    assert_eq!(admin.command_within("PASS admin", PROMPTLY), "+OK PASS");
    assert_eq!(admin.command_within("STATUS", PROMPTLY), "+OK STATUS");
    assert!(admin.data_lines().iter().any(|line| line.starts_with("UPTIME: ")));
    assert!(started.elapsed() < PROMPTLY, "the real admin took {:?}", started.elapsed());
    admin
}

/// True if nothing is waiting to be read on `client` and it is still open.
fn is_quietly_open(client: &mut Client) -> bool {
    client.stream().set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let read = std::io::Read::read(&mut client.stream(), &mut byte);
    let open = matches!(read, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock);
    client.stream().set_nonblocking(false).unwrap();
    open
}

/// Ten connections that never log in, more than MGMT has slots for, then
/// a real admin: each silent one is still greeted, the admin logs in and
/// gets STATUS at once, over raw MGMT and with `admin_monitor`, and the
/// oldest silent connection is the one closed, with a clear `-ERR`.
#[test]
fn silent_connections_do_not_lock_the_admin_out() {
    let server = TestServer::start();
    let mut silent = silent_connections(&server, 10);
    let mut admin = log_in_promptly(&server);

    let started = Instant::now();
    let monitor = server.admin_monitor(&["1.0", "admin", "admin", "-STATUS"]);
    assert_eq!(monitor.status, 0, "admin_monitor: {monitor:?}");
    assert!(monitor.stdout.contains("UPTIME: "), "{monitor:?}");
    assert!(started.elapsed() < PROMPTLY, "admin_monitor took {:?}", started.elapsed());

    assert_eq!(silent[0].line(), DISPLACED, "the oldest silent connection gives way");
    assert!(silent[0].is_closed());
    assert!(is_quietly_open(&mut silent[9]), "the newest silent connection keeps its slot");
    server.wait_for_log("closing the oldest");
    assert_eq!(admin.command("NOOP"), "+OK NOOP");
}

/// A connection that does not log in within the login timeout is closed
/// with `-ERR LOGIN TIMEOUT`, whether it is silent or keeps sending
/// commands (the time runs from the connection, not from each line); a
/// logged-in admin idle for longer is not touched.
#[test]
fn connections_that_do_not_log_in_are_closed_at_the_login_timeout() {
    let server = TestServer::start_with(&["--mgmt-login-timeout", "2"]);
    let started = Instant::now();
    let mut admin = server.admin();
    let mut silent = server.mgmt();
    let mut chatty = server.mgmt();
    let mut lines = Vec::new();
    loop {
        chatty.send("NOOP");
        let reply = chatty.line();
        if reply != "-ERR NOT AUTHENTICATED: USER AND PASS FIRST" {
            lines.push(reply);
            break;
        }
        assert!(started.elapsed() < PATIENCE, "a chatty connection was never timed out");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(lines, ["-ERR LOGIN TIMEOUT"]);
    assert!(started.elapsed() >= Duration::from_secs(2), "closed before the login timeout");
    assert!(chatty.is_closed());
    assert_eq!(silent.line(), "-ERR LOGIN TIMEOUT");
    assert!(silent.is_closed());
    server.wait_for_log("not logged in within 2 s");

    assert_eq!(admin.command("NOOP"), "+OK NOOP", "a logged-in admin has the idle timeout, not the login timeout");
}

/// Logged-in admins keep their slots whatever newcomers do: with three
/// admins in, silent connections come and go without touching them and a
/// fourth admin still gets in; with four in, a newcomer is refused with
/// the same `-ERR` as ever, and a slot freed by QUIT lets the next admin in.
#[test]
fn logged_in_admins_are_never_displaced() {
    let server = TestServer::start();
    let mut admins: Vec<Client> = (0..3).map(|_| server.admin()).collect();
    let _silent = silent_connections(&server, 10);
    for admin in &mut admins {
        assert_eq!(admin.command("NOOP"), "+OK NOOP");
    }
    admins.push(log_in_promptly(&server));

    for _ in 0..3 {
        let mut newcomer = Client::connect_raw(server.mgmt_addr());
        assert_eq!(newcomer.line(), TOO_MANY_ADMINS);
        assert!(newcomer.is_closed());
    }
    server.wait_for_log_count("limit hit: service=mgmt rip=127.0.0.1 limit=admin-sessions", 3);
    for admin in &mut admins {
        assert_eq!(admin.command("NOOP"), "+OK NOOP");
    }

    let mut leaving = admins.pop().unwrap();
    assert_eq!(leaving.command("QUIT"), "+OK GOODBYE");
    assert!(leaving.is_closed());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut next = Client::connect_raw(server.mgmt_addr());
        if next.line().starts_with("+OK") {
            assert_eq!(next.command("USER admin"), "+OK USER");
            assert_eq!(next.command("PASS admin"), "+OK PASS");
            break;
        }
        assert!(Instant::now() < deadline, "the freed admin slot never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}
