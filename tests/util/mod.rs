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

/// The repository root (where `data/` and `tests/fixtures/` are).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
