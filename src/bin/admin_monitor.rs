//! `./admin_monitor`: the one-shot MGMT client. Parses the command line and
//! maps outcomes to exit statuses; the client itself lives in the library
//! (`pop3d::mgmt::client`, its command line in `client::command_line`).

use std::io::{self, Write};
use std::process::ExitCode;

use pop3d::mgmt::client::command_line::{self, MonitorInvocation, UsageError};
use pop3d::mgmt::client::{self, ExitStatus};

/// The server answered the command with `-ERR`.
const SERVER_ERROR: u8 = 1;
/// The command line is wrong.
const USAGE_ERROR: u8 = 2;
/// No connection, no login, or no common protocol version.
const CANNOT_RUN: u8 = 3;

fn main() -> ExitCode {
    let program = "admin_monitor";
    let args: Option<Vec<String>> = std::env::args_os().skip(1).map(|arg| arg.into_string().ok()).collect();
    let parsed = args.ok_or(UsageError::NotUtf8).and_then(|args| command_line::parse_args(&args));
    let mut request = match parsed {
        Ok(MonitorInvocation::Run(request)) => request,
        Ok(MonitorInvocation::Help) => {
            print!("{}", command_line::usage(program));
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("{program}: {error} (run {program} -HELP for usage)");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    if let Some(path) = &request.password_file {
        match std::fs::read_to_string(path) {
            Ok(text) => request.password = pop3d::config::secret_of(&text).to_owned(),
            Err(error) => {
                eprintln!("{program}: cannot read {}: {error}", path.display());
                return ExitCode::from(USAGE_ERROR);
            }
        }
    }
    let (stdout, stderr) = (io::stdout(), io::stderr());
    let status = client::run(&request, &mut stdout.lock(), &mut stderr.lock());
    let _ = io::stdout().flush();
    match status {
        Ok(ExitStatus::Success) => ExitCode::SUCCESS,
        Ok(ExitStatus::ServerError) => ExitCode::from(SERVER_ERROR),
        Err(error) => {
            eprintln!("{program}: {error}");
            ExitCode::from(CANNOT_RUN)
        }
    }
}
