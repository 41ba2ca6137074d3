//! `./run`: the POP3 server. Parses the command line and starts the server;
//! everything else lives in the library.

use std::process::ExitCode;

use pop3d::config::{self, Invocation};
use simplelog::{ColorChoice, ConfigBuilder, TermLogger, TerminalMode};

/// Exit status for a bad command line (as getopts-style tools use).
const USAGE_ERROR: u8 = 2;
/// Printed after the options by `--help`.
const EXIT_STATUS_HELP: &str =
    "\nExit status: 1 if the system refuses to start the server (address in use, open-file limit);\n\
2 for a bad command line, a missing or malformed users file, or the default admin:admin\n\
on a non-loopback --mgmt-addr.\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let program = args.first().map_or("run", String::as_str);
    let config = match config::parse(&args[1..]) {
        Ok(Invocation::Run(config)) => config,
        Ok(Invocation::Help) => {
            print!("{}{EXIT_STATUS_HELP}", config::usage(program));
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Version) => {
            println!("pop3d {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("{program}: {error}");
            eprint!("{}", config::usage(program));
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let log_config =
        ConfigBuilder::new().set_target_level(log::LevelFilter::Off).set_thread_level(log::LevelFilter::Off).build();
    let _ = TermLogger::init(config.log_level, log_config, TerminalMode::Stderr, ColorChoice::Never);
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
