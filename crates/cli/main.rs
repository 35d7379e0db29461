//! `churn`: customer churn features, segments and scores from a transaction log.
//!
//! `main` is thin: parse, run one command, map the outcome to an exit code. See `commands/` for the
//! commands and `settings.rs` for how flags and `churn.toml` combine.

mod args;
mod commands;
mod outputs;
mod printer;
mod settings;

use std::process::ExitCode;

use clap::Parser;

/// Exit code for an error in the data, the files or the run (the message says which).
const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage or configuration error (clap uses 2 for bad arguments as well).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args = args::Args::parse();
    printer::init_logging(args.global.quiet);
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
            eprintln!("churn: {err:#}");
            let usage = err
                .chain()
                .any(|cause| cause.downcast_ref::<settings::ConfigError>().is_some());
            ExitCode::from(if usage { EXIT_USAGE } else { EXIT_FAILURE })
        }
    }
}
