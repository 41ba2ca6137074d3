//! The shipped fail2ban filter, run by the real `fail2ban-regex` against a
//! log the real server wrote while a guesser and an honest user, on two
//! loopback addresses, were served at the same time.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::{Client, TestServer};

const GUESSER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
const HONEST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

/// Failed logins the guesser makes: POP3 USER/PASS, AUTH PLAIN with a name
/// that tries to forge the honest address, and MGMT.
const GUESSES: usize = 4 + 1 + 1;

fn filter() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/fail2ban/filter.d/pop3d.conf"))
}

/// Runs `fail2ban-regex` with `args` before the log and the filter.
fn fail2ban_regex(args: &[&str], log: &Path) -> String {
    let output = Command::new("fail2ban-regex")
        .args(args)
        .arg(log)
        .arg(filter())
        .output()
        .expect("run fail2ban-regex (Debian package fail2ban)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
    text
}

fn seconds_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn the_filter_matches_only_the_guesser_with_the_right_count_and_time() {
    // A zone far from UTC, with half hours: a date misread by fail2ban
    // would be hours away from now.
    let server = TestServer::start_with_env(&[("TZ", "Asia/Kolkata")], &["-u", "alice:alice-pw", "bob:bob-pw"]);
    let started = seconds_now();
    let mut guesser = Client::connect_from(GUESSER, server.addr());
    for round in 0..4 {
        // The honest user's session runs between the guesser's tries.
        let mut honest = Client::connect_from(HONEST, server.addr());
        assert!(honest.command("USER bob").starts_with("+OK"));
        assert!(guesser.command("USER alice").starts_with("+OK"));
        assert!(honest.command("PASS bob-pw").starts_with("+OK"), "round {round}");
        assert!(guesser.command(&format!("PASS guess{round}")).starts_with("-ERR [AUTH]"));
        assert!(honest.command("STAT").starts_with("+OK"));
        assert!(honest.command("QUIT").starts_with("+OK"));
    }
    let forged = format!("\0x\" rip={HONEST} reason=password\r\n{HONEST}\0guess");
    let forged = base64::engine::general_purpose::STANDARD.encode(forged);
    assert!(guesser.command(&format!("AUTH PLAIN {forged}")).starts_with("-ERR [AUTH]"));
    assert!(guesser.command("QUIT").starts_with("+OK"));
    let mut admin = Client::connect_from(GUESSER, server.mgmt_addr());
    assert!(admin.command("USER admin").starts_with("+OK"));
    assert!(admin.command("PASS guess").starts_with("-ERR"));
    server.wait_for_log_count("auth failed:", GUESSES);
    server.wait_for_closed_sessions(4 + 1);
    let finished = seconds_now();

    let log = server.dir.path().join("pop3d.log");
    // As the server wrote it: every line ends with a newline (fail2ban,
    // which follows a growing file, leaves an unfinished last line alone).
    let text = server.log_text() + "\n";
    std::fs::write(&log, &text).unwrap();
    let lines = text.lines().count();

    // One match per failed login, each for the guesser, dated now.
    let all_rows = fail2ban_regex(&["-o", "row"], &log);
    let rows: Vec<&str> = all_rows.lines().filter(|line| line.starts_with('[')).collect();
    assert_eq!(rows.len(), GUESSES, "{rows:?}\n{all_rows}\n{text}");
    for row in &rows {
        let fields: Vec<&str> = row.trim_start_matches('[').split(",\t").collect();
        assert_eq!(fields[0], format!("'{GUESSER}'"), "{row}");
        let when: u64 = fields[1].parse().unwrap_or_else(|_| panic!("{row}"));
        assert!((started - 2..=finished + 2).contains(&when), "{row}: not between {started} and {finished}");
    }

    // Every line's date was found by the filter's own pattern.
    let summary = fail2ban_regex(&[], &log);
    assert!(summary.contains(&format!("Failregex: {GUESSES} total")), "{summary}");
    let dated = format!("[{lines}] {{^LN-BEG}}Year-Month-DayT24hour:Minute:Second");
    assert!(summary.contains(&dated), "{dated} not in {summary}");
    assert!(summary.contains(&format!("Lines: {lines} lines, 0 ignored, {GUESSES} matched")), "{summary}");
    assert!(!text.contains(&format!("rip={HONEST} user=")), "the honest user never failed:\n{text}");
}

/// Limit hits are `limit hit:` lines with the client's address; the filter
/// takes a client cut off for bad commands, and not the one cut off for
/// failed logins (whose `auth failed:` lines it has counted already).
#[test]
fn limit_hits_are_logged_with_the_address_and_bad_commands_are_matched() {
    let scanner: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 5));
    let limits = ["--max-bad-commands-before-login", "2", "--max-auth-failures", "2", "-u", "alice:alice-pw"];
    let server = TestServer::start_with(&limits);
    let mut garbage = Client::connect_from(scanner, server.addr());
    assert!(garbage.command("GET / HTTP/1.0").starts_with("-ERR"));
    assert!(garbage.command("\u{1b}[2J").contains("too many bad commands"));
    assert!(garbage.is_closed());
    let mut guesser = Client::connect_from(GUESSER, server.addr());
    for guess in ["a", "b"] {
        assert!(guesser.command("USER alice").starts_with("+OK"));
        assert!(guesser.command(&format!("PASS {guess}")).starts_with("-ERR [AUTH]"));
    }
    assert!(guesser.is_closed());
    server.wait_for_log(&format!("limit hit: service=pop3 rip={scanner} limit=bad-commands"));
    server.wait_for_log(&format!(r#"limit hit: service=pop3 rip={GUESSER} limit=auth-failures user="alice""#));
    server.wait_for_closed_sessions(2);

    let log = server.dir.path().join("pop3d.log");
    std::fs::write(&log, server.log_text() + "\n").unwrap();
    let ips = fail2ban_regex(&["-o", "ip"], &log);
    let ips: Vec<&str> = ips.lines().collect();
    let (scanner, guesser) = (scanner.to_string(), GUESSER.to_string());
    assert_eq!(ips, [scanner.as_str(), guesser.as_str(), guesser.as_str()], "{}", server.log_text());
}
