//! A temporary directory and a wrapper around the real `churn` binary, shared by the end-to-end tests.

#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory that disappears with the test.
pub struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().expect("create temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Writes `content` to `name` and returns the path.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, content).expect("write test file");
        path
    }

    /// Runs `churn` with `args` in this directory.
    pub fn churn(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_churn"))
            .args(args)
            .current_dir(self.path())
            .env_remove("CHURN_LOG")
            .output()
            .expect("run churn");
        Run { output }
    }
}

/// The repository root (where `data/` and `tests/fixtures/` are), as cargo gives it to the running
/// test: the value compiled in can name another checkout when a target directory shared between
/// checkouts reuses a test built in one of them.
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from)
}

/// Writes `churn.toml` in `dir`: the bundled sample's config reading `transactions`, publishing to
/// `output/` and `models/` inside `dir`, with `extra` top-level TOML first.
pub fn sample_config(dir: &Dir, transactions: &Path, extra: &str) {
    let config = std::fs::read_to_string(repo().join("data/sample/churn.toml")).expect("sample config");
    let config = config.replace(
        "\"transactions.csv\"",
        &format!("{:?}", transactions.display().to_string()),
    );
    // The sample publishes to the repository root; tests publish inside their own directory.
    let config = config.split("\n[run]").next().unwrap_or_default().to_string();
    // Top-level keys must precede the tables.
    dir.write("churn.toml", format!("{extra}\n{config}"));
}

/// Names in `dir` starting with `prefix` (staging directories, locks).
pub fn entries_starting_with(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

/// Asserts that a published run directory holds every output of `churn run`.
pub fn assert_complete(run: &Path) {
    for file in [
        "features.parquet",
        "segments.parquet",
        "scores.parquet",
        "at_risk.csv",
        "changes.csv",
        "segment_profiles.csv",
        "uplift.csv",
        "history.csv",
        "clv.parquet",
        "report.html",
        "manifest.json",
        "_SUCCESS",
    ] {
        assert!(run.join(file).is_file(), "{} lacks {file}", run.display());
    }
}

pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Asserts success and returns stdout.
    pub fn success(&self) -> String {
        assert!(
            self.output.status.success(),
            "churn failed: {:?}\nstderr:\n{}",
            self.output.status,
            self.stderr()
        );
        self.stdout()
    }

    /// Asserts a clean failure (non-zero, not a panic) and returns stderr.
    pub fn failure(&self) -> String {
        let code = self.output.status.code();
        assert!(
            code.is_some_and(|c| c != 0 && c != 101),
            "expected a clean failure, got {code:?}\nstderr:\n{}",
            self.stderr()
        );
        assert!(
            !self.stderr().contains("panicked"),
            "churn panicked:\n{}",
            self.stderr()
        );
        self.stderr()
    }
}
