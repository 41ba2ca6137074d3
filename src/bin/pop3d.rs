//! `./run`: the POP3 server. Parses the command line and starts the server;
//! everything else lives in the library.

use std::io::BufRead;
use std::process::ExitCode;

use pop3d::accounts::password::PasswordScheme;
use pop3d::config::{self, ServerInvocation};
use simplelog::{format_description, ColorChoice, ConfigBuilder, TermLogger, TerminalMode};

/// jemalloc without per-thread caches: the pool runs thousands of threads,
/// and with no cache in each, the memory a burst of sessions used goes back
/// to the system after the burst (the README's "Reliability" section has
/// the measurements).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc reads its options from this symbol (a C string) when it starts.
#[export_name = "_rjem_malloc_conf"]
static JEMALLOC_OPTIONS: &std::ffi::c_char = {
    let options: &std::ffi::CStr = c"tcache:false";
    // SAFETY: the pointer comes from a 'static C string literal.
    unsafe { &*options.as_ptr() }
};

/// Exit status for a bad command line (as getopts-style tools use).
const USAGE_ERROR: u8 = 2;
/// Printed after the options by `--help`.
const EXIT_STATUS_HELP: &str =
    "\nConfiguration file: --config FILE holds 'key = value' lines whose keys are the long\n\
options above (max-connections = 500, tls-cert = /etc/ssl/pop3d.pem), flags as yes or no;\n\
'#' starts a comment line; listen and port stand for <ip> and <port>. The command line wins.\n\
Secrets need not be on the command line: admin-password-file = FILE (its first line) with\n\
admin-user = NAME, and POP3 accounts in users-file = FILE. SIGHUP reloads the certificate,\n\
the users file and the live settings; SIGTERM or SIGINT stops the server gracefully.\n\
\nExit status: 1 if the system refuses to start the server (address in use, open-file limit);\n\
2 for a bad command line or configuration file, a missing or malformed users file, or the\n\
default admin:admin on a non-loopback --mgmt-addr.\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let program = args.first().map_or("run", String::as_str);
    let config = match config::parse(&args[1..]) {
        Ok(ServerInvocation::Run(config)) => config,
        Ok(ServerInvocation::Help) => {
            print!("{}{EXIT_STATUS_HELP}", config::usage(program));
            return ExitCode::SUCCESS;
        }
        Ok(ServerInvocation::Version) => {
            println!("pop3d {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(ServerInvocation::HashPassword(scheme)) => return hash_password(program, scheme),
        Err(error) => {
            eprintln!("{program}: {error}");
            if error.shows_usage() {
                eprint!("{}", config::usage(program));
            }
            return ExitCode::from(USAGE_ERROR);
        }
    };
    // The logger passes everything; the level lives in `log`'s own filter,
    // which a reload (SIGHUP) can change.
    let _ = TermLogger::init(log::LevelFilter::Trace, log_config(), TerminalMode::Stderr, ColorChoice::Never);
    log::set_max_level(config.log_level);
    match pop3d::app::start(&config) {
        Ok(running) => {
            running.run_until_signal();
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{program}: {error}");
            ExitCode::from(error.exit_status())
        }
    }
}

/// Every log line starts with its full RFC 3339 time, date and zone
/// included (`2026-12-02T04:50:01.123+01:00`), which people can read and
/// fail2ban's date detection finds; then the level and the message. The
/// zone is the local one (from the TZ variable or /etc/localtime), read
/// here, while the process still has one thread, as reading it soundly
/// requires; if it cannot be read, lines are in UTC (`+00:00`).
fn log_config() -> simplelog::Config {
    let mut builder = ConfigBuilder::new();
    builder
        .set_target_level(log::LevelFilter::Off)
        .set_thread_level(log::LevelFilter::Off)
        .set_time_level(log::LevelFilter::Error)
        .set_time_format_custom(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
        ));
    match builder.set_time_offset_to_local() {
        Ok(local) => local.build(),
        Err(utc) => utc.build(),
    }
}

/// `--hash-password`: one password line on stdin (so it stays out of the
/// shell history and the process list), its users-file form on stdout.
fn hash_password(program: &str, scheme: PasswordScheme) -> ExitCode {
    let mut line = String::new();
    if let Err(error) = std::io::stdin().lock().read_line(&mut line) {
        eprintln!("{program}: cannot read the password from stdin: {error}");
        return ExitCode::from(USAGE_ERROR);
    }
    let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    if password.is_empty() {
        eprintln!("{program}: --hash-password reads a non-empty password from stdin");
        return ExitCode::from(USAGE_ERROR);
    }
    println!("{}", scheme.field(password));
    ExitCode::SUCCESS
}
