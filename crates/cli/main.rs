//! `churn`: customer churn features, segments and scores from a transaction log.
//!
//! `main` is thin: parse, run one command, map the outcome to an exit code. See `commands/` for the
//! commands and `settings.rs` for how flags and `churn.toml` combine.

mod args;
mod commands;
mod config;
mod outputs;
mod printer;
mod publish;
mod report;
mod settings;

use std::process::ExitCode;

use clap::Parser;

// See the workspace manifest for why the binary does not use the system allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit code for an error in the data, the files or the run (the message says which).
const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage or configuration error (clap uses 2 for bad arguments as well).
const EXIT_USAGE: u8 = 2;
/// Exit code when another `churn run` holds the output directory.
const EXIT_LOCKED: u8 = 3;

fn main() -> ExitCode {
    let args = args::Args::parse();
    printer::init_logging(args.global.quiet, args.global.verbose, args.command.serves());
    let json = args.global.json;
    match commands::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed stdout (`churn ... | head`) is not a failure of ours.
            if err.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let is = |f: &dyn Fn(&(dyn std::error::Error + 'static)) -> bool| err.chain().any(f);
            let code = if is(&|c| c.downcast_ref::<publish::LockedError>().is_some()) {
                EXIT_LOCKED
            } else if is(&|c| c.downcast_ref::<publish::PublishedIncomplete>().is_some()) {
                publish::EXIT_PUBLISHED_INCOMPLETE
            } else if is(&|c| c.downcast_ref::<commands::GatesFailed>().is_some()) {
                commands::EXIT_GATES_FAILED
            } else if is(&|c| c.downcast_ref::<settings::ConfigError>().is_some()) {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            };
            printer::error(&err, code, json);
            ExitCode::from(code)
        }
    }
}
