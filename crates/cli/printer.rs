//! The one place that writes to the terminal: results to stdout, progress and logs to stderr.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Sends logs to stderr: warnings by default, errors only with `--quiet`, `info` with `-v`, `debug`
/// with `-vv`; `CHURN_LOG` (a tracing filter such as `debug`) overrides all of them.
pub fn init_logging(quiet: bool, verbose: u8, serving: bool) {
    let default = match (quiet, verbose, serving) {
        (true, _, _) => "error",
        // A cluster process's log is its only output: say what it serves and what fails.
        (false, 0, true) => "info",
        // A driver reports a failed cluster job once, in its error; Ballista's client would log
        // it again (and once per retry) above it.
        (false, 0, false) => "warn,ballista=off,ballista_core=off",
        (false, 1, _) => "info",
        (false, _, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHURN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colour codes only for a person at a terminal, never into a log file, and never when
        // `NO_COLOR` is set (https://no-color.org).
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()))
        // The subscriber's fallback for a failed write is `eprintln!`, which panics when stderr
        // cannot be written (a full log disk): a log that cannot be written is dropped instead,
        // and the job's result does not depend on it.
        .log_internal_errors(false)
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

/// The pipeline's stages as spinners (hidden when the printer hides progress).
pub struct Spinners {
    printer: Printer,
    current: std::sync::Mutex<Option<ProgressBar>>,
}

impl churn_pipeline::Progress for Spinners {
    fn begin(&self, stage: &str) {
        let spinner = self.printer.spinner(stage);
        if let Some(previous) = self.current.lock().ok().and_then(|mut c| c.replace(spinner)) {
            previous.finish_and_clear();
        }
    }

    fn finish(&self) {
        if let Some(spinner) = self.current.lock().ok().and_then(|mut c| c.take()) {
            spinner.finish_and_clear();
        }
    }
}

impl Printer {
    /// The pipeline's progress, drawn by this printer.
    pub fn progress(&self) -> Spinners {
        Spinners {
            printer: *self,
            current: std::sync::Mutex::new(None),
        }
    }
}

/// Reports a failed command: the message (with its causes) on stderr, then, when the error carries
/// several located problems, a table of them; with `--json`, also one object on stdout:
/// `{"error": {"message", "exit_code", "problems": [{"file", "line", "row", "column", "problem"}],
/// "stopped"}}`, so that a scheduler can file the problems without parsing text.
pub fn error(err: &anyhow::Error, exit_code: u8, json: bool) {
    // A data error reaches here directly, or inside the pipeline's error when passed through it.
    let located = err.chain().find_map(|c| {
        c.downcast_ref::<churn_features::Error>().or_else(|| {
            c.downcast_ref::<churn_pipeline::Error>()
                .and_then(churn_pipeline::Error::as_features)
        })
    });
    let problems = located.map(churn_features::Error::problems).unwrap_or_default();
    let stopped = matches!(located, Some(churn_features::Error::Rejected { stopped: true, .. }));
    let mut text = format!("churn: {err:#}\n");
    if problems.len() > 1 {
        text.push_str(&problem_table(&problems));
        if stopped {
            text.push_str("reading stopped at the limit; raise input.max_errors (or --max-errors) to see more\n");
        }
    }
    // Nothing more can be done if stderr is closed.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
    if json {
        let problems: Vec<serde_json::Value> = problems.iter().map(|p| problem_json(p)).collect();
        let value = serde_json::json!({
            "error": {
                "message": format!("{err:#}"),
                "exit_code": exit_code,
                "problems": problems,
                "stopped": stopped,
            }
        });
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, &value);
        let _ = writeln!(out);
    }
}

fn problem_json(problem: &churn_features::Error) -> serde_json::Value {
    let (file, location, column) = problem.place();
    let (line, row) = match location {
        Some(churn_features::Location::Line(n)) => (Some(n), None),
        Some(churn_features::Location::Row(n)) => (None, Some(n)),
        None => (None, None),
    };
    serde_json::json!({
        "file": file.map(|f| f.display().to_string()),
        "line": line,
        "row": row,
        "column": column,
        "problem": problem.reason(),
    })
}

/// The problems as aligned columns: file, line or row, column, what is wrong.
fn problem_table(problems: &[&churn_features::Error]) -> String {
    let rows: Vec<[String; 4]> = problems
        .iter()
        .map(|p| {
            let (file, location, column) = p.place();
            [
                file.map(|f| f.display().to_string()).unwrap_or_default(),
                location.map(|l| l.to_string()).unwrap_or_default(),
                column.unwrap_or_default().to_string(),
                p.reason(),
            ]
        })
        .collect();
    let header = ["file", "where", "column", "problem"].map(String::from);
    let mut widths = [0usize; 3];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::from("\n");
    for row in std::iter::once(&header).chain(&rows) {
        table.push_str(&format!(
            "  {:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        ));
    }
    table.push('\n');
    table
}
