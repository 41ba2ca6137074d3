//! `--metrics-addr` against the real server: a scrape after real POP3
//! traffic checked by the real `promtool`, a real Prometheus scraping it,
//! and the responder's refusals and limits (404, 405, a huge request, a
//! scraper that never finishes its request while POP3 goes on serving).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{wait_bounded, TestServer, PATIENCE};

fn start() -> (TestServer, SocketAddr) {
    let server = TestServer::start_with(&["-u", "alice:alice-pw", "bob:bob-pw", "--metrics-addr", "127.0.0.1:0"]);
    let log = server.log_text();
    let addr = log
        .lines()
        .find_map(|line| line.split("metrics listening on ").nth(1))
        .unwrap_or_else(|| panic!("no metrics address in\n{log}"));
    (server, addr.trim().parse().unwrap())
}

/// Sends `request` as it is and reads the reply to the end.
fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    String::from_utf8_lossy(&reply).into_owned()
}

fn get(addr: SocketAddr, path: &str) -> String {
    http(addr, format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
}

/// The body of a successful scrape.
fn scrape(addr: SocketAddr) -> String {
    let reply = get(addr, "/metrics");
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{reply}"));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())), "{head}");
    body.to_owned()
}

/// The value of the sample `series` (name and labels, as written).
fn sample(body: &str, series: &str) -> f64 {
    let line = body.lines().find(|line| line.split(' ').next() == Some(series));
    line.and_then(|line| line.rsplit(' ').next()?.parse().ok()).unwrap_or_else(|| panic!("no {series} in\n{body}"))
}

#[test]
fn a_scrape_after_pop3_traffic_passes_promtool_and_counts_it() {
    let (server, addr) = start();
    let before = scrape(addr);
    assert_eq!(sample(&before, r#"pop3d_logins_total{result="success"}"#), 0.0);
    server.deliver("alice", "1700000001.a", b"Subject: one\r\n\r\nfirst\r\n");
    server.deliver("alice", "1700000002.b", b"Subject: two\r\n\r\nsecond\r\n");
    let mut alice = server.login("alice", "alice-pw");
    assert!(alice.command("RETR 1").starts_with("+OK"));
    alice.raw_body();
    assert!(alice.command("DELE 2").starts_with("+OK"));
    assert!(alice.command("QUIT").starts_with("+OK"));
    let mut guesser = server.connect();
    assert!(guesser.command("USER bob").starts_with("+OK"));
    assert!(guesser.command("PASS wrong").starts_with("-ERR"));
    drop(guesser);
    server.wait_for_closed_sessions(2);

    let body = scrape(addr);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool (Debian package prometheus)");
    promtool.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let checked = wait_bounded(promtool, "promtool check metrics");
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "promtool: {}{}\n{body}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let expected = [
        (r#"pop3d_logins_total{result="success"}"#, 1.0),
        (r#"pop3d_logins_total{result="failure"}"#, 1.0),
        (r#"pop3d_connections_accepted_total{listener="pop3"}"#, 2.0),
        (r#"pop3d_connections_open{listener="pop3"}"#, 0.0),
        (r#"pop3d_sessions_ended_total{ending="quit"}"#, 1.0),
        (r#"pop3d_sessions_ended_total{ending="client_closed"}"#, 1.0),
        (r#"pop3d_commands_total{verb="RETR"}"#, 1.0),
        (r#"pop3d_commands_total{verb="USER"}"#, 2.0),
        ("pop3d_messages_retrieved_total", 1.0),
        ("pop3d_messages_deleted_total", 1.0),
        (r#"pop3d_limit_hits_total{limit="connections"}"#, 0.0),
        ("pop3d_users", 3.0),
    ];
    for (series, value) in expected {
        assert_eq!(sample(&body, series), value, "{series}\n{body}");
    }
    assert!(sample(&body, "pop3d_sent_bytes_total") > sample(&before, "pop3d_sent_bytes_total"));
    assert!(sample(&body, "pop3d_received_bytes_total") > 0.0);
}

/// A free port on loopback, for a program that must be told one.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_real_prometheus_scrapes_it() {
    let (server, addr) = start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: pop3d\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let web = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address={web}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run prometheus (Debian package prometheus)");
    // Prometheus starts, scrapes once a second, and says so through its API.
    let deadline = Instant::now() + Duration::from_secs(90);
    let query = "/api/v1/query?query=up%7Bjob%3D%22pop3d%22%7D";
    let up = loop {
        let reply = TcpStream::connect(web).ok().map(|_| get(web, query)).unwrap_or_default();
        if reply.contains(r#""job":"pop3d""#) && reply.contains(r#""1"]"#) {
            break reply;
        }
        if Instant::now() > deadline {
            let _ = prometheus.kill();
            panic!("Prometheus never saw up{{job=\"pop3d\"}} == 1; last reply:\n{reply}");
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let uptime = get(web, "/api/v1/query?query=pop3d_uptime_seconds");
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert!(up.contains(&format!(r#""instance":"{addr}""#)), "{up}");
    assert!(uptime.contains(r#""__name__":"pop3d_uptime_seconds""#), "{uptime}");
    drop(server);
}

#[test]
fn only_get_metrics_is_served() {
    let (_server, addr) = start();
    let huge = format!("GET /metrics HTTP/1.1\r\nX-Padding: {}\r\n\r\n", "a".repeat(32 * 1024));
    let cases: [(&[u8], &str); 6] = [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 Not Found\r\n"),
        (b"GET /metric HTTP/1.0\r\n\r\n", "HTTP/1.1 404 Not Found\r\n"),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 405 Method Not Allowed\r\n"),
        (b"HELLO\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
        (huge.as_bytes(), "HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        (b"HEAD /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n"),
    ];
    for (request, status) in cases {
        let reply = http(addr, request);
        let shown = String::from_utf8_lossy(&request[..request.len().min(40)]).into_owned();
        assert!(reply.starts_with(status), "{shown:?}: {reply}");
        assert!(reply.contains("\r\nConnection: close\r\n"), "{shown:?}: {reply}");
    }
    assert!(http(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n").ends_with("\r\n\r\n"), "HEAD has no body");
}

/// A scraper that sends half a request and waits holds the responder for
/// its deadline at most; POP3, on threads of its own, never notices.
#[test]
fn a_scraper_that_never_finishes_cannot_hold_it_or_pop3() {
    let (server, addr) = start();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(PATIENCE)).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();

    let mut alice = server.login("alice", "alice-pw");
    assert!(alice.command("STAT").starts_with("+OK 0 0"));
    assert!(alice.command("QUIT").starts_with("+OK"));

    // Trickling bytes does not buy it more time: the deadline runs from
    // the connection.
    for _ in 0..3 {
        if slow.write_all(b"X-Slow: 1\r\n").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut rest = Vec::new();
    let ended = slow.read_to_end(&mut rest);
    let closed = match &ended {
        Ok(_) => true,
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "the responder closed the connection itself: {ended:?}");
    assert!(rest.is_empty(), "an unfinished request gets no reply: {:?}", String::from_utf8_lossy(&rest));
    assert!(scrape(addr).contains("pop3d_uptime_seconds"), "the next scrape is answered");
}
