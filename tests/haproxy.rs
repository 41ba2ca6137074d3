//! Two pop3d instances on one shared mail root behind a real HAProxy
//! (Debian package `haproxy`) that speaks the PROXY protocol v2 to them
//! and checks their health, all on loopback. Clients bind other loopback
//! addresses (127.0.0.5, 127.0.0.6) to be told apart from the balancer.
//!
//! The maildrop lock across hosts: instance B runs as "another host", in
//! PID and UTS namespaces of its own (`unshare`, which needs root, as CI
//! has), so it cannot see instance A's processes and has another host
//! name. It must judge A's lock by its heartbeat alone.

mod common;

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{connect_from, wait_until, Client, TestServer, PATIENCE};

const HAPROXY: &str = "/usr/sbin/haproxy";
/// The stale time of another host's lock in these tests.
const STALE_SECONDS: u64 = 3;

/// A loopback port free a moment ago, for HAProxy's frontend.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `haproxy -db`, stopped on drop.
struct Haproxy {
    child: Child,
    front: SocketAddr,
}

impl Haproxy {
    /// Balances round-robin over `servers`, sending each a PROXY v2
    /// header, health checks included, and checking every 300 ms that each
    /// greets with `+OK`: one failed check takes a server out.
    fn start(dir: &Path, servers: &[SocketAddr]) -> Self {
        let front: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut config = format!(
            "global\n    maxconn 200\n\
             defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 60s\n    timeout server 60s\n\
             \x20   retries 3\n    option redispatch\n\
             frontend pop3\n    bind {front}\n    default_backend pop3d\n\
             backend pop3d\n    balance roundrobin\n    option tcp-check\n    tcp-check expect string +OK\n"
        );
        for (index, server) in servers.iter().enumerate() {
            config.push_str(&format!("    server s{index} {server} send-proxy-v2 check inter 300ms fall 1 rise 2\n"));
        }
        let path = dir.join("haproxy.cfg");
        fs::write(&path, config).unwrap();
        let log = fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new(HAPROXY)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("haproxy is needed for these tests (apt-get install haproxy)");
        let haproxy = Self { child, front };
        wait_until("HAProxy listens", || TcpStream::connect(front).is_ok());
        haproxy
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Held to `max_per_ip` connections per client address, on loopback too.
fn instance_args(max_per_ip: usize) -> Vec<String> {
    let args = ["-u", "alice:alice-pw", "--haproxy-trusted-networks", "127.0.0.1/32", "--limit-loopback"];
    let mut args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    args.extend(["--max-per-ip".into(), max_per_ip.to_string()]);
    args.extend(["--lock-stale-seconds".into(), STALE_SECONDS.to_string()]);
    args
}

/// Instance A, on its own mail root.
fn instance_a(max_per_ip: usize) -> TestServer {
    let args = instance_args(max_per_ip);
    TestServer::start_with(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// True if this process may make PID, UTS and mount namespaces.
fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["--pid", "--fork", "--uts", "--mount-proc", "--kill-child", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Instance B on A's mail root: as another host (own PID and UTS
/// namespaces, host name "other") when `other_host`, else a plain second
/// process.
fn instance_b(a: &TestServer, max_per_ip: usize, other_host: bool) -> TestServer {
    let args = instance_args(max_per_ip);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if !other_host {
        return TestServer::start_sharing(a, &args);
    }
    let pop3d = TestServer::command(&a.mail_root(), "127.0.0.1", &args);
    let mut command = Command::new("unshare");
    // --kill-child: killing unshare kills the server too.
    command.args(["--pid", "--fork", "--uts", "--mount-proc", "--kill-child", "sh", "-c"]);
    command.arg("hostname other && exec \"$0\" \"$@\"");
    command.arg(pop3d.get_program()).args(pop3d.get_args());
    TestServer::spawn(command, tempfile::tempdir().unwrap(), a.mail_root())
}

/// A connection through HAProxy from `client_ip`, its greeting read, and
/// which instance logged it: 0 for `servers[0]`, 1 for `servers[1]`.
/// A connection refused over a cap is logged without its port, so which
/// instance refused it is not looked for (`usize::MAX`).
/// `None` if the connection brought no greeting (a server just killed).
fn connect_through(haproxy: &Haproxy, client_ip: &str, servers: &[&TestServer]) -> Option<(Client, String, usize)> {
    let stream = connect_from(client_ip, haproxy.front);
    let port = stream.local_addr().unwrap().port();
    let mut client = Client::over(stream);
    let mut greeting = Vec::new();
    use std::io::BufRead;
    if client.reader.read_until(b'\n', &mut greeting).ok()? == 0 {
        return None;
    }
    let greeting = String::from_utf8_lossy(&greeting).trim_end().to_owned();
    if greeting.starts_with("-ERR") {
        return Some((client, greeting, usize::MAX));
    }
    let needle = format!("{client_ip}:{port}");
    let mut served_by = None;
    wait_until("an instance logs the client", || {
        served_by = servers.iter().position(|server| server.log_text().contains(&needle));
        served_by.is_some()
    });
    Some((client, greeting, served_by.unwrap()))
}

/// A greeted connection through HAProxy served by `servers[wanted]`;
/// others are closed and tried again (round-robin alternates).
fn connect_to_instance(haproxy: &Haproxy, servers: &[&TestServer], wanted: usize) -> Client {
    for _ in 0..8 {
        if let Some((mut client, greeting, served_by)) = connect_through(haproxy, "127.0.0.5", servers) {
            assert!(greeting.starts_with("+OK"), "{greeting}");
            if served_by == wanted {
                return client;
            }
            assert!(client.command("QUIT").starts_with("+OK"));
        }
    }
    panic!("HAProxy never sent a connection to instance {wanted}");
}

fn login(client: &mut Client) -> String {
    assert!(client.command("USER alice").starts_with("+OK"));
    client.command("PASS alice-pw")
}

#[test]
fn clients_keep_their_address_and_are_capped_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = instance_a(2);
    let b = instance_b(&a, 2, false);
    let haproxy = Haproxy::start(dir.path(), &[a.addr(), b.addr()]);
    let servers = [&a, &b];
    // --max-per-ip 2 on each instance: four sessions from 127.0.0.5 fit,
    // the next two (one per instance) do not.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..6 {
        let (client, greeting, _) = connect_through(&haproxy, "127.0.0.5", &servers).expect("a greeting");
        if greeting.starts_with("+OK") {
            held.push(client);
        } else {
            assert_eq!(greeting, "-ERR [SYS/TEMP] too many connections from your address, try again later");
            refused += 1;
        }
    }
    assert_eq!((held.len(), refused), (4, 2));
    for server in servers {
        server.wait_for_log("connection from 127.0.0.5:");
    }
    wait_until("the refusals are logged", || {
        servers
            .iter()
            .map(|server| server.log_count("limit hit: service=pop3 rip=127.0.0.5 limit=per-address"))
            .sum::<usize>()
            == 2
    });
    // The cap is 127.0.0.5's, not HAProxy's: another client gets in.
    let (mut other, greeting, served_by) = connect_through(&haproxy, "127.0.0.6", &servers).expect("a greeting");
    assert!(greeting.starts_with("+OK"), "{greeting}");
    assert!(login(&mut other).starts_with("+OK"));
    // MGMT's WHO shows the client's address too, not HAProxy's.
    let mut admin = servers[served_by].admin();
    assert_eq!(admin.command("WHO"), "+OK WHO");
    let who = admin.data_lines();
    assert!(who.iter().any(|line| line.starts_with("alice 127.0.0.6 tls=no")), "{who:?}");
    assert!(other.command("QUIT").starts_with("+OK"));
    // Health checks arrive with LOCAL headers: the balancer's own address,
    // logged at debug level.
    for server in servers {
        server.wait_for_log("[DEBUG] connection from 127.0.0.1:");
    }
}

#[test]
fn a_maildrop_is_locked_across_hosts_and_taken_over_after_a_crash() {
    if !can_unshare() {
        eprintln!("skipped: unshare --pid --uts --mount-proc is not permitted here (needs root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut a = instance_a(10);
    let b = instance_b(&a, 10, true);
    let bodies: Vec<String> = (1..=3).map(|n| format!("Subject: {n}\r\n\r\nmessage {n}\r\n")).collect();
    for (n, body) in bodies.iter().enumerate() {
        a.deliver("alice", &format!("100{n}.M1P1.test"), body.as_bytes());
    }
    let haproxy = Haproxy::start(dir.path(), &[a.addr(), b.addr()]);
    let servers = [&a, &b];

    let mut on_a = connect_to_instance(&haproxy, &servers, 0);
    assert!(login(&mut on_a).starts_with("+OK"));
    assert_eq!(on_a.command("STAT"), format!("+OK 3 {}", bodies.iter().map(String::len).sum::<usize>()));
    let lock = fs::read_to_string(a.maildir("alice").join("pop3d.lock")).unwrap();
    assert!(!lock.trim_end().ends_with(" other"), "A's lock names A's host: {lock:?}");

    let mut on_b = connect_to_instance(&haproxy, &servers, 1);
    assert!(login(&mut on_b).starts_with("-ERR [IN-USE]"));
    drop(on_b);
    // Well past the stale time, A's heartbeat still holds the lock: B,
    // which cannot see A's process, must not break it.
    std::thread::sleep(Duration::from_secs(STALE_SECONDS * 2 + 1));
    let mut on_b = connect_to_instance(&haproxy, &servers, 1);
    assert!(login(&mut on_b).starts_with("-ERR [IN-USE]"), "B broke a live lock:\n{}", b.log_text());
    assert!(!b.log_text().contains("removed stale lock"));
    assert!(on_a.command("NOOP").starts_with("+OK"), "A's session is alive");

    // A crashes. Its lock stays behind with a heartbeat that no longer
    // beats; HAProxy's checks take A out, and once the heartbeat is older
    // than the stale time, B breaks the lock and the login succeeds.
    a.kill();
    let deadline = Instant::now() + PATIENCE;
    let mut taken_over = loop {
        assert!(Instant::now() < deadline, "alice never logged in again; B's log:\n{}", b.log_text());
        if let Some((mut client, greeting, served_by)) = connect_through(&haproxy, "127.0.0.5", &[&b]) {
            assert!(greeting.starts_with("+OK") && served_by == 0, "{greeting}");
            let reply = login(&mut client);
            if reply.starts_with("+OK") {
                break client;
            }
            assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    b.wait_for_log("removed stale lock");
    // No mail lost: every message is there, intact.
    assert!(taken_over.command("STAT").starts_with("+OK 3 "));
    let mut retrieved = Vec::new();
    for n in 1..=3 {
        assert!(taken_over.command(&format!("RETR {n}")).starts_with("+OK"));
        retrieved.push(taken_over.data_lines().join("\r\n") + "\r\n");
    }
    retrieved.sort();
    assert_eq!(retrieved, bodies);
    assert!(taken_over.command("QUIT").starts_with("+OK"));

    // A stays out: every new session goes to B and succeeds.
    for _ in 0..4 {
        let (mut client, greeting, _) = connect_through(&haproxy, "127.0.0.5", &[&b]).expect("a greeting from B");
        assert!(greeting.starts_with("+OK"), "{greeting}");
        assert!(login(&mut client).starts_with("+OK"));
        assert!(client.command("QUIT").starts_with("+OK"));
    }
}
