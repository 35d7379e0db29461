//! The one place that writes to the terminal: results to stdout, progress and logs to stderr.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Sends logs to stderr: warnings by default, errors only with `--quiet`, `info` with `-v`, `debug`
/// with `-vv`; `CHURN_LOG` (a tracing filter such as `debug`) overrides all of them.
pub fn init_logging(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHURN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Honours `--quiet` and `--json`, and shows progress only on an interactive stderr.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    quiet: bool,
    json: bool,
    interactive: bool,
}

impl Printer {
    pub fn new(quiet: bool, json: bool) -> Self {
        Printer {
            quiet,
            json,
            interactive: std::io::stderr().is_terminal(),
        }
    }

    fn draw_target(&self) -> ProgressDrawTarget {
        if self.quiet || !self.interactive {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        }
    }

    /// A bar for work of known size.
    pub fn bar(&self, len: u64, unit: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(len), self.draw_target());
        let template = format!("{{spinner}} {{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{eta}} left)");
        bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        bar
    }

    /// A spinner with elapsed time for work of unknown size.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        let spinner = ProgressBar::with_draw_target(None, self.draw_target());
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.set_message(message.to_string());
        spinner.enable_steady_tick(Duration::from_millis(120));
        spinner
    }

    /// Prints a command's result: the human text, or the JSON value with `--json`.
    pub fn result(&self, human: &str, json: &serde_json::Value) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.json {
            serde_json::to_writer(&mut out, json)?;
            writeln!(out)?;
        } else if !self.quiet {
            write!(out, "{human}")?;
        }
        out.flush()
    }
}
