//! Faults during `churn run` and between commands, with the real binary in a child process: a full
//! disk, a read-only output directory, the input replaced mid-run, a model corrupted between
//! `churn train` and `churn score`. (A kill at any moment and two runs at once are in `run.rs`.)
//!
//! Each test proves the same property: the previous published run is intact and readable, nothing
//! partial is visible under `current`, and the exit code and message say what happened.
//!
//! The disk and read-only tests need a mount: they run inside `unshare --user --map-root-user
//! --mount` (a private mount namespace, no real privileges needed where user namespaces are on),
//! with a small tmpfs as the output directory. Where that is not possible they say so and skip;
//! `CHURN_REQUIRE_NAMESPACES=1` makes that a failure instead (CI sets it where it can).

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use util::{assert_complete, entries_starting_with, repo, sample_config, Dir};

/// Every file of a published run with its bytes, by name.
fn snapshot(run: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(run)
        .expect("run directory")
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("readable"))
        })
        .collect();
    files.sort();
    files
}

/// `current` in `output`: it resolves, it is complete, and its manifest and scores open.
fn assert_current_is_complete(output: &Path) -> PathBuf {
    let current = std::fs::canonicalize(output.join("current")).expect("current resolves");
    assert_complete(&current);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(current.join("manifest.json")).expect("manifest")).expect("json");
    assert!(manifest["customers"].as_u64().is_some_and(|n| n > 0), "{manifest}");
    churn_features::read_table(&current.join("scores.parquet")).expect("scores.parquet reads");
    current
}

/// Whether this machine lets an unprivileged process make a private mount namespace.
fn namespaces_available() -> bool {
    let ok = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CHURN_REQUIRE_NAMESPACES").is_none(),
            "CHURN_REQUIRE_NAMESPACES is set but unshare cannot make a mount namespace"
        );
        eprintln!("skipped: no user and mount namespaces here (unshare failed)");
    }
    ok
}

/// Runs `script` with bash in a private mount namespace, in `dir`, with `$CHURN` set.
fn in_namespace(dir: &Dir, script: &str) {
    let status = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "bash", "-euc", script])
        .current_dir(dir.path())
        .env("CHURN", env!("CARGO_BIN_EXE_churn"))
        .env_remove("CHURN_LOG")
        .status()
        .expect("run unshare");
    assert!(status.success(), "the namespace script failed: {status:?}");
}

fn read_code(dir: &Dir, name: &str) -> i32 {
    std::fs::read_to_string(dir.join(name))
        .expect("exit code file")
        .trim()
        .parse()
        .expect("exit code")
}

#[test]
fn a_full_disk_fails_the_run_and_keeps_the_previous_one() {
    if !namespaces_available() {
        return;
    }
    let dir = Dir::new();
    sample_config(&dir, &repo().join("data/sample/transactions.csv"), "");
    // One run of the sample publishes about 720 KiB: the tmpfs holds one run and part of another.
    // The state after the failure is copied out of the namespace before its mount disappears.
    in_namespace(
        &dir,
        r#"
        mkdir -p output before after
        mount -t tmpfs -o size=1100k tmpfs output
        "$CHURN" run --config churn.toml -q && echo 0 > first.code
        cp -a output/. before/
        set +e
        "$CHURN" run --config churn.toml --as-of 2024-01-02 -q 2> second.err
        echo $? > second.code
        set -e
        cp -a output/. after/
        "#,
    );
    assert_eq!(read_code(&dir, "first.code"), 0);
    let stderr = std::fs::read_to_string(dir.join("second.err")).expect("stderr");
    assert_eq!(read_code(&dir, "second.code"), 1, "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let before = assert_current_is_complete(&dir.join("before"));
    let after = assert_current_is_complete(&dir.join("after"));
    assert_eq!(before.file_name(), after.file_name(), "current moved");
    assert_eq!(snapshot(&before), snapshot(&after), "the published run changed");
    // The failed run cleaned up after itself: no staging directory, no lock.
    let leftovers = entries_starting_with(&dir.join("after"), ".");
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_read_only_output_directory_fails_the_run_and_keeps_the_previous_one() {
    if !namespaces_available() {
        return;
    }
    let dir = Dir::new();
    sample_config(&dir, &repo().join("data/sample/transactions.csv"), "");
    in_namespace(
        &dir,
        r#"
        "$CHURN" run --config churn.toml -q && echo 0 > first.code
        mount --bind output output
        mount -o remount,ro,bind output
        set +e
        "$CHURN" run --config churn.toml --as-of 2024-01-02 -q 2> second.err
        echo $? > second.code
        "#,
    );
    assert_eq!(read_code(&dir, "first.code"), 0);
    let stderr = std::fs::read_to_string(dir.join("second.err")).expect("stderr");
    assert_eq!(read_code(&dir, "second.code"), 1, "{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(stderr.contains("output"), "{stderr}");
    let current = assert_current_is_complete(&dir.join("output"));
    assert!(
        current.to_string_lossy().contains("2024-01-01"),
        "{}",
        current.display()
    );
}

#[test]
fn an_input_replaced_during_a_run_publishes_nothing() {
    let dir = Dir::new();
    let tx = dir.join("tx.csv");
    std::fs::copy(repo().join("data/sample/transactions.csv"), &tx).expect("copy input");
    sample_config(&dir, &tx, "");
    dir.churn(&["run", "--config", "churn.toml", "-q"]).success();
    let before = snapshot(&std::fs::canonicalize(dir.join("output/current")).expect("current"));

    let child = Command::new(env!("CARGO_BIN_EXE_churn"))
        .args(["run", "--config", "churn.toml", "--as-of", "2024-01-02", "-q"])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // The run stamps its input before it takes the lock: once the lock exists, replace the file the
    // way an export job does (write elsewhere, rename over).
    let lock = dir.join("output/.lock");
    let waited = Instant::now();
    while !lock.exists() {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the run never took its lock"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut newer = std::fs::read(&tx).expect("read input");
    newer.extend_from_slice(b"C0000001,O-NEW,2023-12-31T10:00:00Z,5.00,1,books\n");
    dir.write("tx.csv.part", newer);
    std::fs::rename(dir.join("tx.csv.part"), &tx).expect("replace input");

    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the input changed during the run"), "{stderr}");
    assert!(stderr.contains("tx.csv"), "{stderr}");
    let current = assert_current_is_complete(&dir.join("output"));
    assert_eq!(snapshot(&current), before, "the published run changed");
    assert!(!lock.exists(), "the lock was left behind");
    // Once the export is complete, the next run publishes.
    dir.churn(&["run", "--config", "churn.toml", "--as-of", "2024-01-02", "-q"])
        .success();
}

#[test]
fn a_model_corrupted_between_train_and_score_is_refused() {
    let dir = Dir::new();
    sample_config(&dir, &repo().join("data/sample/transactions.csv"), "");
    dir.churn(&["train", "--config", "churn.toml", "--model-out", "m.json", "-q"])
        .success();
    dir.churn(&["features", "--config", "churn.toml", "--out", "f.parquet", "-q"])
        .success();
    let score = |model: &str| {
        dir.churn(&[
            "score",
            "--features",
            "f.parquet",
            "--model",
            model,
            "--out",
            "s.parquet",
            "--at-risk",
            "a.csv",
            "-q",
        ])
    };
    score("m.json").success();
    std::fs::remove_file(dir.join("s.parquet")).expect("remove");
    std::fs::remove_file(dir.join("a.csv")).expect("remove");

    let good = std::fs::read_to_string(dir.join("m.json")).expect("model");
    // A single changed digit in the intercept still parses as JSON: the checksum catches it.
    let at = good.find("\"intercept\": ").expect("intercept") + "\"intercept\": ".len() + 3;
    let mut flipped = good.clone().into_bytes();
    flipped[at] = if flipped[at] == b'7' { b'8' } else { b'7' };
    let truncated = &good[..good.len() / 2];
    for (name, bytes) in [
        ("flipped.json", flipped),
        ("truncated.json", truncated.as_bytes().to_vec()),
    ] {
        dir.write(name, bytes);
        let stderr = score(name).failure();
        assert!(stderr.contains(name), "{stderr}");
        assert!(
            !dir.join("s.parquet").exists() && !dir.join("a.csv").exists(),
            "{name}: output written"
        );
        if name == "flipped.json" {
            assert!(stderr.contains("checksum mismatch"), "{stderr}");
        }
    }
}
