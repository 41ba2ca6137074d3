//! `pop3-bench`: pop3d and Dovecot side by side on loopback.
//!
//! Usage: `pop3-bench --pop3d <binary> --out <dir> [--dovecot-user <name>]`
//! (`make bench` runs it). `BENCH_QUICK=1` runs a small, fast version;
//! `BENCH_RUNS=<n>` sets how many times each measurement is repeated;
//! `BENCH_ONLY=<row>[,<row>...]` runs only the rows named (see [`ROWS`]),
//! e.g. `BENCH_ONLY=listing` for the 100- and 1,000-message sessions or
//! `BENCH_ONLY=tls,tls-retr` for POP3S; its results go to
//! `results-<rows>.md` so a full run's stay as they were.
//!
//! # Layout
//! - [`client`]: the strict POP3 client every scenario uses.
//! - [`data`]: the deterministic Maildir data set.
//! - [`servers`]: starting, measuring (CPU, RSS) and stopping the servers.
//! - [`scenarios`]: the measurements.
//! - [`report`]: the table (Markdown, CSV) and the plots.
//!
//! Both servers are started fresh for each run, in alternating order, so
//! that noise from other work on the machine hits both alike.

mod client;
mod data;
mod report;
mod scenarios;
mod servers;

use std::error::Error;
use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::Endpoint;
use data::{DataSet, Sizes, HASHED_USERS, LISTING_USERS};
use report::Results;
use rustls::client::Resumption;
use rustls::{ClientConfig, RootCertStore};
use scenarios::Maildrops;
use servers::{Kind, Passwords, Server};

/// The rows `BENCH_ONLY` can name, each with what it measures.
const ROWS: [(&str, &str); 12] = [
    ("retr", "1. RETR of the big message, one client"),
    ("concurrent", "2. concurrent downloads of the large messages"),
    ("buffer", "3. pop3d's RETR at each buffer size"),
    ("sessions", "4. sessions on 5-message maildrops, plain and SHA512-CRYPT passwords"),
    ("listing", "4. sessions at 50 clients on 100- and 1,000-message maildrops"),
    ("tls", "4. POP3S sessions at 50 clients, full handshakes and resumed"),
    ("tls-retr", "1./2. POP3S RETR of the big message and 10 concurrent downloads"),
    ("idle", "5. idle connections"),
    ("pipelined", "6. pipelined NOOPs and LISTs"),
    ("loopback", "7. the loopback ceiling"),
    ("first-login", "login to 10,000 new messages (first login)"),
    ("big-login", "login to 10,000 messages whose sizes are known"),
];

const MIB: u64 = 1 << 20;
/// pop3d's connection cap in every run, as the 10,000-session goal asks.
const POP3D_MAX_CONNECTIONS: usize = 10_000;
const CONCURRENT_CLIENTS: [usize; 5] = [1, 2, 4, 8, 10];
const SESSION_CLIENTS: [usize; 4] = [1, 10, 50, 200];
const BUFFER_SIZES_KIB: [usize; 6] = [1, 2, 4, 8, 16, 32];
const PIPELINED: usize = 1000;

struct Settings {
    quick: bool,
    /// `BENCH_ONLY`: the rows to run; empty for all.
    only: Vec<String>,
    runs: usize,
    idle_runs: usize,
    sizes: Sizes,
    held: Vec<usize>,
    /// Dovecot runs one process per logged-in session; above this many the
    /// machine's memory, not Dovecot, would be measured.
    dovecot_logged_in_max: usize,
    session_time: Duration,
}

impl Settings {
    fn from_env() -> Self {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let number =
            |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
        let runs = number("BENCH_RUNS", if quick { 2 } else { 3 }).max(1);
        let sizes = Sizes {
            big_message: if quick { 256 * MIB } else { 1024 * MIB },
            download_message: if quick { 64 * MIB } else { 256 * MIB },
            downloaders: 10,
            small_users: if quick { 1_000 } else { 10_000 },
            many_messages: 10_000,
            first_login_users: 2 * runs,
        };
        Self {
            quick,
            only: std::env::var("BENCH_ONLY")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|row| !row.is_empty())
                .map(str::to_owned)
                .collect(),
            runs,
            idle_runs: if quick { 1 } else { 3 },
            sizes,
            held: if quick { vec![200, 1_000] } else { vec![500, 2_000, 10_000] },
            dovecot_logged_in_max: number("BENCH_DOVECOT_LOGGED_IN_MAX", 2_000),
            session_time: Duration::from_millis(if quick { 1_000 } else { 3_000 }),
        }
    }

    /// Whether the row `name` (one of [`ROWS`]) is to be run.
    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|row| row == name)
    }

    fn check_rows(&self) -> Result<(), String> {
        match self.only.iter().find(|row| !ROWS.iter().any(|(name, _)| name == row)) {
            Some(row) => {
                let known: Vec<String> = ROWS.iter().map(|(name, what)| format!("  {name}: {what}")).collect();
                Err(format!("BENCH_ONLY: no row {row:?}; the rows:\n{}", known.join("\n")))
            }
            None => Ok(()),
        }
    }
}

struct Options {
    pop3d: PathBuf,
    out: PathBuf,
    dovecot_user: String,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut pop3d, mut out, mut dovecot_user) = (None, None, "pop3bench".to_owned());
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--pop3d" => pop3d = Some(PathBuf::from(value)),
            "--out" => out = Some(PathBuf::from(value)),
            "--dovecot-user" => dovecot_user = value,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let usage = "usage: pop3-bench --pop3d <binary> --out <dir> [--dovecot-user <name>]";
    Ok(Options { pop3d: pop3d.ok_or(usage)?, out: out.ok_or(usage)?, dovecot_user })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pop3-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut options = options()?;
    // Dovecot's configuration needs absolute paths.
    fs::create_dir_all(&options.out)?;
    options.out = options.out.canonicalize()?;
    options.pop3d = options.pop3d.canonicalize()?;
    let settings = Settings::from_env();
    settings.check_rows()?;
    raise_open_file_limit();
    report::load_font()?;
    let began = Instant::now();
    let data_dir = options.out.join(if settings.quick { "data-quick" } else { "data" });
    let set = data::ensure(&data_dir, settings.sizes.clone())?;
    data::reset_first_logins(&set)?;
    data::write_hashed_passwd(&set, |password| servers::hash_password(&options.pop3d, password))?;
    let run_dir = options.out.join("run");
    fs::create_dir_all(&run_dir)?;
    let dovecot = Command::new("dovecot").arg("--version").output().ok().filter(|o| o.status.success());
    let dovecot_version = dovecot.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match &dovecot_version {
        Some(version) => {
            eprintln!("Dovecot {version}");
            chown_tree(&set.mail, &options.dovecot_user)?;
        }
        None => eprintln!("dovecot not found: measuring pop3d only"),
    }
    let kinds: Vec<Kind> = match dovecot_version {
        Some(_) => vec![Kind::Pop3d, Kind::Dovecot],
        None => vec![Kind::Pop3d],
    };
    let trusted = trusted_certificate(&set.certificate())?;
    let bench = Bench { options: &options, settings: &settings, set: &set, run_dir: &run_dir, trusted };
    let mut results = Results::default();

    for run in 0..settings.runs {
        eprintln!("run {}/{} ({:.0} s so far)", run + 1, settings.runs, began.elapsed().as_secs_f64());
        for (position, &kind) in alternate(&kinds, run).iter().enumerate() {
            let server = bench.start(kind, None, Passwords::Plain)?;
            bench.on_one_server(&server, 2 * run + position, &mut results)?;
        }
        if settings.wants("sessions") {
            for &kind in &alternate(&kinds, run) {
                let server = bench.start(kind, None, Passwords::Sha512Crypt)?;
                bench.hashed_sessions(&server, &mut results)?;
            }
        }
        if settings.wants("buffer") {
            for kib in BUFFER_SIZES_KIB {
                let server = bench.start(Kind::Pop3d, Some(kib * 1024), Passwords::Plain)?;
                let retr = scenarios::retr_big(&server, &Endpoint::plain(server.addr))?;
                results.record(
                    &format!("3. RETR {} with a {kib} KiB buffer", bench.big_name()),
                    "s",
                    Kind::Pop3d,
                    retr.seconds,
                );
            }
        }
        if settings.wants("loopback") {
            bench.loopback(&mut results)?;
        }
    }
    let idle_runs = if settings.wants("idle") { settings.idle_runs } else { 0 };
    for run in 0..idle_runs {
        eprintln!("idle connections, run {}/{}", run + 1, settings.idle_runs);
        for &kind in &alternate(&kinds, run) {
            bench.idle(kind, &mut results)?;
        }
    }

    let table = results.markdown();
    println!("\n{table}");
    let minutes = began.elapsed().as_secs_f64() / 60.0;
    let quick = if settings.quick { " (BENCH_QUICK)" } else { "" };
    if !settings.only.is_empty() {
        // Kept apart, so a full run's results and plots stay as they were.
        let rows = settings.only.join("-");
        let heading = format!(
            "# pop3d vs Dovecot, rows {}{quick}\n\n{} runs, medians with min-max; {minutes:.1} minutes in all.\n\n",
            settings.only.join(", "),
            settings.runs,
        );
        fs::write(options.out.join(format!("results-{rows}.md")), format!("{heading}{table}"))?;
        fs::write(options.out.join(format!("results-{rows}.csv")), results.csv())?;
        eprintln!("written: {0}/results-{rows}.md, {0}/results-{rows}.csv", options.out.display());
        return Ok(());
    }
    let heading = format!(
        "# pop3d vs Dovecot{quick}\n\n{} runs (idle rows: {}), medians with min-max; {minutes:.1} minutes in all.\n\n",
        settings.runs, settings.idle_runs
    );
    fs::write(options.out.join("results.md"), format!("{heading}{table}"))?;
    fs::write(options.out.join("results.csv"), results.csv())?;
    bench.plots(&results, &kinds)?;
    eprintln!("written: {0}/results.md, {0}/results.csv, {0}/concurrent.png, {0}/buffer.png", options.out.display());
    Ok(())
}

/// The data set's certificate, as the one root the TLS client trusts.
fn trusted_certificate(path: &Path) -> Result<Arc<RootCertStore>, Box<dyn Error>> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut BufReader::new(File::open(path)?)) {
        roots.add(cert?)?;
    }
    Ok(Arc::new(roots))
}

/// Even runs start with pop3d, odd runs with Dovecot.
fn alternate(kinds: &[Kind], run: usize) -> Vec<Kind> {
    let mut order = kinds.to_vec();
    if run % 2 == 1 {
        order.reverse();
    }
    order
}

struct Bench<'a> {
    options: &'a Options,
    settings: &'a Settings,
    set: &'a DataSet,
    run_dir: &'a Path,
    trusted: Arc<RootCertStore>,
}

impl Bench<'_> {
    fn start(&self, kind: Kind, retr_buffer: Option<usize>, passwords: Passwords) -> io::Result<Server> {
        match kind {
            Kind::Pop3d => Server::pop3d(
                &self.options.pop3d,
                self.set,
                self.run_dir,
                POP3D_MAX_CONNECTIONS,
                retr_buffer,
                passwords,
            ),
            Kind::Dovecot => Server::dovecot(self.set, self.run_dir, &self.options.dovecot_user, passwords),
        }
    }

    fn big_name(&self) -> String {
        human_size(self.set.sizes.big_message)
    }

    /// A TLS client config trusting the data set's certificate; with
    /// `resume`, a fresh in-memory session store (TLS 1.3 tickets and TLS
    /// 1.2 session IDs) that every client of the config shares.
    fn tls_client(&self, resume: bool) -> Arc<ClientConfig> {
        let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(Arc::clone(&self.trusted))
            .with_no_client_auth();
        config.resumption = if resume { Resumption::in_memory_sessions(1024) } else { Resumption::disabled() };
        Arc::new(config)
    }

    /// Every row BENCH_ONLY selects that runs on one plain-password server.
    fn on_one_server(&self, server: &Server, first_login: usize, results: &mut Results) -> Result<(), Box<dyn Error>> {
        let (settings, kind) = (self.settings, server.kind);
        let plain = Endpoint::plain(server.addr);
        let big = self.big_name();
        if settings.wants("retr") {
            let retr = scenarios::retr_big(server, &plain)?;
            results.record(&format!("1. RETR {big}, one client"), "MB/s", kind, retr.megabytes_per_second);
            results.record(&format!("1. RETR {big}: server CPU per GB"), "CPU s/GB", kind, retr.cpu_seconds_per_gb);
        }
        if settings.wants("concurrent") {
            for clients in CONCURRENT_CLIENTS {
                self.concurrent_row(&plain, clients, "", results, kind)?;
            }
        }
        if settings.wants("tls-retr") {
            let tls = Endpoint { addr: server.tls_addr, tls: Some(self.tls_client(false)) };
            let retr = scenarios::retr_big(server, &tls)?;
            results.record(&format!("1. POP3S RETR {big}, one client"), "MB/s", kind, retr.megabytes_per_second);
            results.record(
                &format!("1. POP3S RETR {big}: server CPU per GB"),
                "CPU s/GB",
                kind,
                retr.cpu_seconds_per_gb,
            );
            self.concurrent_row(&tls, self.set.sizes.downloaders, "POP3S ", results, kind)?;
        }
        if settings.wants("sessions") {
            self.sessions(server, results)?;
        }
        if settings.wants("listing") {
            let sizes = [
                (Maildrops { user: DataSet::user_of_100, messages: 100 }, "100"),
                (Maildrops { user: DataSet::user_of_1000, messages: 1000 }, "1,000"),
            ];
            for (maildrops, count) in sizes {
                let label = format!("4. sessions, {LISTING_USERS} clients, {count} x 4 KiB messages per user");
                self.sessions_row(server, &plain, maildrops, LISTING_USERS, &label, results)?;
            }
        }
        if settings.wants("tls") {
            for (resume, how) in [(false, "a full handshake each"), (true, "resumed TLS sessions")] {
                let tls = Endpoint { addr: server.tls_addr, tls: Some(self.tls_client(resume)) };
                let label = format!("4. POP3S sessions, {HASHED_USERS} clients, {how}");
                self.sessions_row(server, &tls, Maildrops::small(), HASHED_USERS, &label, results)?;
            }
        }
        if settings.wants("pipelined") {
            for command in ["NOOP", "LIST"] {
                let seconds = scenarios::pipelined(server, command, PIPELINED)?;
                results.record(
                    &format!("6. {PIPELINED} pipelined {command}s in one write"),
                    "ms",
                    kind,
                    seconds * 1000.0,
                );
            }
        }
        if settings.wants("first-login") {
            let messages = self.set.sizes.many_messages as u64;
            let first = scenarios::big_login(server, &DataSet::first_login_user(first_login), messages)?;
            results.record(&format!("login to {messages} new messages (first login)"), "ms", kind, first * 1000.0);
        }
        if settings.wants("big-login") {
            let messages = self.set.sizes.many_messages as u64;
            scenarios::big_login(server, "many", messages)?; // lets Dovecot build its index first
            let again = scenarios::big_login(server, "many", messages)?;
            results.record(&format!("login to {messages} messages (sizes known)"), "ms", kind, again * 1000.0);
        }
        Ok(())
    }

    fn concurrent_row(
        &self,
        endpoint: &Endpoint,
        clients: usize,
        prefix: &str,
        results: &mut Results,
        kind: Kind,
    ) -> Result<(), Box<dyn Error>> {
        let download = human_size(self.set.sizes.download_message);
        let result = scenarios::concurrent_downloads(endpoint, clients)?;
        results.record(
            &format!("2. {prefix}{clients} x RETR {download} at once: time per client"),
            "s",
            kind,
            result.seconds_per_client,
        );
        results.record(
            &format!("2. {prefix}{clients} x RETR {download} at once: aggregate"),
            "MB/s",
            kind,
            result.aggregate_megabytes_per_second,
        );
        Ok(())
    }

    /// Row 4 on a server with every account's password `{PLAIN}`.
    fn sessions(&self, server: &Server, results: &mut Results) -> Result<(), Box<dyn Error>> {
        let plain = Endpoint::plain(server.addr);
        for clients in SESSION_CLIENTS {
            let label = format!("4. sessions, {clients} clients");
            self.sessions_row(server, &plain, Maildrops::small(), clients, &label, results)?;
        }
        Ok(())
    }

    /// Row 4 at [`HASHED_USERS`] clients, on a server whose accounts have
    /// `{SHA512-CRYPT}` passwords in a passwd-file: what a slow hash costs
    /// a login. Each client logs in as its own account, again and again.
    fn hashed_sessions(&self, server: &Server, results: &mut Results) -> Result<(), Box<dyn Error>> {
        let label = format!("4. sessions, {HASHED_USERS} clients, SHA512-CRYPT passwords");
        self.sessions_row(server, &Endpoint::plain(server.addr), Maildrops::small(), HASHED_USERS, &label, results)
    }

    fn sessions_row(
        &self,
        server: &Server,
        endpoint: &Endpoint,
        maildrops: Maildrops,
        clients: usize,
        label: &str,
        results: &mut Results,
    ) -> Result<(), Box<dyn Error>> {
        let kind = server.kind;
        scenarios::settle();
        let result = scenarios::sessions(server, endpoint, maildrops, clients, self.settings.session_time)?;
        results.record(label, "sessions/s", kind, result.per_second);
        results.record(&format!("{label}: p50"), "ms", kind, result.p50_ms);
        results.record(&format!("{label}: p99"), "ms", kind, result.p99_ms);
        results.record(&format!("{label}: server CPU per session"), "ms", kind, result.cpu_ms);
        if let Some((negotiated, resumed)) = &result.tls {
            eprintln!(
                "  {}: {label}: {} {}, {:.0}% of handshakes resumed",
                kind.name(),
                negotiated.protocol,
                negotiated.cipher,
                resumed * 100.0
            );
            results.record(&format!("{label}: handshakes resumed"), "%", kind, resumed * 100.0);
        }
        Ok(())
    }

    /// Row 5, each figure on a freshly started server: Dovecot keeps its
    /// pop3 processes for reuse, which would hide their cost from the next.
    fn idle(&self, kind: Kind, results: &mut Results) -> Result<(), Box<dyn Error>> {
        for &count in &self.settings.held {
            for logged_in in [false, true] {
                let state = if logged_in { "logged in" } else { "not logged in" };
                if kind == Kind::Dovecot && logged_in && count > self.settings.dovecot_logged_in_max {
                    eprintln!(
                        "  Dovecot: {count} logged-in sessions skipped (one process each; BENCH_DOVECOT_LOGGED_IN_MAX)"
                    );
                    continue;
                }
                let server = self.start(kind, None, Passwords::Plain)?;
                let maildrops = logged_in.then(Maildrops::small);
                self.idle_row(&server, count, maildrops, &format!("5. {count} idle, {state}"), results)?;
            }
        }
        // The message list is what a logged-in session costs: sessions on
        // maildrops of 1,000 messages, one maildrop each.
        let server = self.start(kind, None, Passwords::Plain)?;
        let maildrops = Maildrops { user: DataSet::user_of_1000, messages: 1000 };
        let label = format!("5. {LISTING_USERS} idle, logged in to 1,000 x 4 KiB messages each");
        self.idle_row(&server, LISTING_USERS, Some(maildrops), &label, results)
    }

    fn idle_row(
        &self,
        server: &Server,
        count: usize,
        logged_in: Option<Maildrops>,
        label: &str,
        results: &mut Results,
    ) -> Result<(), Box<dyn Error>> {
        let kind = server.kind;
        let idle = scenarios::idle(server, count, logged_in)?;
        let per_connection = idle.held_rss.saturating_sub(idle.base_rss) as f64 / count as f64 / 1024.0;
        eprintln!(
            "  {}: {label}: RSS {} -> {} KiB, {} processes",
            kind.name(),
            idle.base_rss / 1024,
            idle.held_rss / 1024,
            idle.processes
        );
        results.record(&format!("{label}: RSS added per connection"), "KiB", kind, per_connection);
        results.record(
            &format!("{label}: server RSS / connections"),
            "KiB",
            kind,
            idle.held_rss as f64 / count as f64 / 1024.0,
        );
        Ok(())
    }

    /// Row 7: the physical limit, measured without any POP3 server.
    fn loopback(&self, results: &mut Results) -> io::Result<()> {
        let file = self.set.root.join("pool").join("big");
        let big = self.big_name();
        for kib in [4, 64] {
            let rate = scenarios::loopback(Some(&file), 0, kib * 1024)?;
            results.record(
                &format!("7. loopback ceiling: {big} file to socket, {kib} KiB buffer"),
                "MB/s",
                Kind::Pop3d,
                rate,
            );
        }
        let rate = scenarios::loopback(None, self.set.sizes.big_message, 256 * 1024)?;
        results.record(
            &format!("7. loopback ceiling: {big} memory to socket, 256 KiB writes"),
            "MB/s",
            Kind::Pop3d,
            rate,
        );
        Ok(())
    }

    fn plots(&self, results: &Results, kinds: &[Kind]) -> io::Result<()> {
        let download = human_size(self.set.sizes.download_message);
        let concurrent: Vec<_> = kinds
            .iter()
            .map(|&kind| {
                let points = CONCURRENT_CLIENTS
                    .iter()
                    .filter_map(|&n| {
                        results
                            .median(&format!("2. {n} x RETR {download} at once: time per client"), kind)
                            .map(|s| (n as f64, s))
                    })
                    .collect();
                (kind.name(), points)
            })
            .collect();
        report::plot(
            &self.options.out.join("concurrent.png"),
            &format!("Download time of a {download} message vs concurrent downloads"),
            "concurrent downloads",
            &concurrent,
        )?;
        let big = self.big_name();
        let buffer: Vec<_> = BUFFER_SIZES_KIB
            .iter()
            .filter_map(|&kib| {
                results.median(&format!("3. RETR {big} with a {kib} KiB buffer"), Kind::Pop3d).map(|s| (kib as f64, s))
            })
            .collect();
        report::plot(
            &self.options.out.join("buffer.png"),
            &format!("pop3d: RETR time of a {big} message vs buffer size"),
            "RETR buffer (KiB)",
            &[("pop3d", buffer)],
        )
    }
}

fn human_size(octets: u64) -> String {
    if octets >= 1 << 30 {
        format!("{} GiB", octets >> 30)
    } else {
        format!("{} MiB", octets >> 20)
    }
}

/// Gives `path` and everything under it to `user`, since Dovecot refuses
/// to serve mail owned by root.
pub fn chown_tree(path: &Path, user: &str) -> io::Result<()> {
    let status = Command::new("chown").arg("-R").arg(format!("{user}:{user}")).arg(path).status()?;
    if !status.success() {
        return Err(io::Error::other(format!("chown -R {user} {} failed (does the user exist?)", path.display())));
    }
    Ok(())
}

/// Ten thousand held connections need more descriptors than the default.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read or write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
