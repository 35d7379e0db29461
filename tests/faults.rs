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

/// Whether `program args` succeeds here, so the tests needing it can run. Where it cannot, the test
/// says so and skips, unless the environment variable `require` is set (CI sets it where it can).
fn can_run(program: &str, args: &[&str], require: &str, what: &str) -> bool {
    let ok = Command::new(program).args(args).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but {what} is not available"
        );
        eprintln!("skipped: {what} is not available here");
    }
    ok
}

/// Whether this machine lets an unprivileged process make a private mount namespace.
fn namespaces_available() -> bool {
    can_run(
        "unshare",
        &["--user", "--map-root-user", "--mount", "true"],
        "CHURN_REQUIRE_NAMESPACES",
        "a user and mount namespace (unshare)",
    )
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
    let (_dir, stderr) = second_run_with_read_only("output");
    assert!(stderr.contains("output"), "{stderr}");
}

/// Publishes once, makes `mounted` (a directory of the run) read-only with a bind mount in a private
/// mount namespace, and runs again: the second run must fail with exit 1 and leave the first run
/// current. Returns the directory and the second run's stderr.
fn second_run_with_read_only(mounted: &str) -> (Dir, String) {
    let dir = Dir::new();
    sample_config(&dir, &repo().join("data/sample/transactions.csv"), "");
    in_namespace(
        &dir,
        &format!(
            r#"
        "$CHURN" run --config churn.toml -q && echo 0 > first.code
        cp models/current.json registry.before
        mount --bind {mounted} {mounted}
        mount -o remount,ro,bind {mounted}
        set +e
        "$CHURN" run --config churn.toml --as-of 2024-01-02 -q 2> second.err
        echo $? > second.code
        "#
        ),
    );
    assert_eq!(read_code(&dir, "first.code"), 0);
    let stderr = std::fs::read_to_string(dir.join("second.err")).expect("stderr");
    assert_eq!(read_code(&dir, "second.code"), 1, "{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    let current = assert_current_is_complete(&dir.join("output"));
    assert!(
        current.to_string_lossy().contains("2024-01-01"),
        "{}",
        current.display()
    );
    (dir, stderr)
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

// --- The exit code and the lock tell the truth (one test per fault an operator's machine showed). ---

/// Whether strace can trace and inject here.
fn strace_available() -> bool {
    can_run(
        "strace",
        &["-f", "-o", "/dev/null", "true"],
        "CHURN_REQUIRE_STRACE",
        "strace",
    )
}

/// `churn run` under strace, with the strace options `strace_args` (e.g. a fault to inject).
fn churn_under_strace(dir: &Dir, strace_args: &[&str], churn_args: &[&str]) -> util::Run {
    let output = Command::new("strace")
        .args(["-f", "-o", "/dev/null"])
        .args(strace_args)
        .arg(env!("CARGO_BIN_EXE_churn"))
        .args(churn_args)
        .current_dir(dir.path())
        .env_remove("CHURN_LOG")
        .output()
        .expect("run strace");
    util::Run { output }
}

/// A directory with the sample config and one published run as of 2024-01-01.
fn published_once() -> Dir {
    let dir = Dir::new();
    sample_config(&dir, &repo().join("data/sample/transactions.csv"), "");
    dir.churn(&["run", "--config", "churn.toml", "-q"]).success();
    dir
}

/// Where `current` points.
fn current_target(dir: &Dir) -> PathBuf {
    std::fs::read_link(dir.join("output/current")).expect("current")
}

#[test]
fn a_read_only_models_directory_fails_the_run_before_anything_is_published() {
    if !namespaces_available() {
        return;
    }
    // Models are saved before the switch: a models directory that cannot take them stops the run
    // with `current` where it was, and the registry still names the models in use.
    let (dir, _) = second_run_with_read_only("models");
    assert_eq!(
        std::fs::read(dir.join("models/current.json")).expect("registry"),
        std::fs::read(dir.join("registry.before")).expect("registry before")
    );
    assert!(entries_starting_with(&dir.join("output"), ".").is_empty());
}

#[test]
fn a_summary_that_cannot_be_written_after_publishing_is_exit_5_not_1() {
    let dir = published_once();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = Command::new(env!("CARGO_BIN_EXE_churn"))
        .args(["run", "--config", "churn.toml", "--as-of", "2024-01-02"])
        .current_dir(dir.path())
        .stdout(full)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("published") && stderr.contains("the summary could not be written"),
        "{stderr}"
    );
    // It is published: current is the new run, complete, and the registry names its model.
    let current = assert_current_is_complete(&dir.join("output"));
    assert!(
        current.to_string_lossy().contains("2024-01-02"),
        "{}",
        current.display()
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(current.join("manifest.json")).expect("manifest")).expect("json");
    let registry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("models/current.json")).expect("registry")).expect("json");
    assert_eq!(registry["churn"], manifest["model"]["scoring_model"]);
    assert!(dir
        .join("models")
        .join(manifest["model"]["trained"].as_str().expect("name"))
        .exists());
}

#[test]
fn a_log_that_cannot_be_written_neither_panics_nor_fails_the_run() {
    let dir = published_once();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    // -v logs progress notes, so there is plenty to fail to write.
    let out = Command::new(env!("CARGO_BIN_EXE_churn"))
        .args(["run", "--config", "churn.toml", "--as-of", "2024-01-02", "-v"])
        .current_dir(dir.path())
        .env_remove("CHURN_LOG")
        .stderr(full)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let current = assert_current_is_complete(&dir.join("output"));
    assert!(
        current.to_string_lossy().contains("2024-01-02"),
        "{}",
        current.display()
    );
}

#[test]
fn warnings_in_a_log_file_carry_no_colour_codes() {
    let dir = published_once();
    // An unknown horizon makes no warning; a refused model does: gates that cannot be met.
    let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
    dir.write("churn.toml", format!("{config}\n[gates]\nmin_roc_auc = 0.999\n"));
    let run = dir.churn(&["run", "--config", "churn.toml", "--as-of", "2024-01-02"]);
    let stderr = run.stderr();
    assert!(stderr.contains("is not promoted"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn an_empty_lock_left_by_a_killed_run_does_not_block_the_next() {
    let dir = published_once();
    // A run killed between creating the lock file and writing its pid leaves an empty file.
    dir.write("output/.lock", "");
    dir.churn(&["run", "--config", "churn.toml", "--as-of", "2024-01-02", "-q"])
        .success();
    assert!(!dir.join("output/.lock").exists());
    let current = assert_current_is_complete(&dir.join("output"));
    assert!(current.to_string_lossy().contains("2024-01-02"));
}

#[test]
fn two_runs_at_a_left_lock_never_both_run() {
    if !strace_available() {
        return;
    }
    let dir = published_once();
    let lock = std::fs::canonicalize(dir.join("output")).expect("output").join(".lock");
    // A lock file left by a dead run, and both runs slowed down wherever they remove the lock file
    // (that is where a read-then-remove takeover can be raced).
    dir.write("output/.lock", "1 7\n");
    let config = std::fs::canonicalize(dir.join("churn.toml"))
        .expect("config")
        .display()
        .to_string();
    let spawn = || {
        Command::new("strace")
            .args(["-f", "-o", "/dev/null", "-P"])
            .arg(&lock)
            .args(["-e", "inject=unlink,unlinkat:delay_enter=400000"])
            .arg(env!("CARGO_BIN_EXE_churn"))
            // An absolute config makes every path absolute, as `-P` needs to see them.
            .args(["run", "--config", &config, "--as-of", "2024-01-02", "-q"])
            .current_dir(dir.path())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    let outputs = [a.wait_with_output().expect("wait"), b.wait_with_output().expect("wait")];
    let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
    let stderr: Vec<String> = outputs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    // One publishes; the other publishes after it or finds the lock held (exit 3). Never both at
    // once: that would show as a run failing (exit 1) on the other's cleanup.
    assert!(
        codes.iter().all(|c| matches!(c, Some(0) | Some(3))),
        "{codes:?} {stderr:?}"
    );
    assert!(codes.contains(&Some(0)), "{codes:?} {stderr:?}");
    assert_current_is_complete(&dir.join("output"));
    assert!(entries_starting_with(&dir.join("output"), ".staging-").is_empty());
    assert!(!dir.join("output/.lock").exists());
}

#[test]
fn an_input_rewritten_in_place_with_its_time_put_back_publishes_nothing() {
    let dir = Dir::new();
    let tx = dir.join("tx.csv");
    std::fs::copy(repo().join("data/sample/transactions.csv"), &tx).expect("copy input");
    sample_config(&dir, &tx, "");
    dir.churn(&["run", "--config", "churn.toml", "-q"]).success();
    let before = snapshot(&std::fs::canonicalize(dir.join("output/current")).expect("current"));

    let mut child = Command::new(env!("CARGO_BIN_EXE_churn"))
        .args(["run", "--config", "churn.toml", "--as-of", "2024-01-02", "-v"])
        .current_dir(dir.path())
        .env_remove("CHURN_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Once every snapshot is read (the run logs "segments ready"), change one digit of the file in
    // place: same size, same inode, and the modification time put back.
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.expect("stderr line");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("segments ready") {
            break;
        }
    }
    assert!(seen.contains("segments ready"), "{seen}");
    let modified = std::fs::metadata(&tx).and_then(|m| m.modified()).expect("mtime");
    let mut bytes = std::fs::read(&tx).expect("read");
    let at = bytes.len() / 2
        + bytes[bytes.len() / 2..]
            .iter()
            .position(|b| b.is_ascii_digit())
            .expect("digit");
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&tx, &bytes).expect("rewrite");
    let file = std::fs::OpenOptions::new().write(true).open(&tx).expect("open");
    file.set_modified(modified).expect("put the time back");
    drop(file);
    for line in lines {
        seen.push_str(&line.expect("stderr line"));
        seen.push('\n');
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1), "{seen}");
    assert!(seen.contains("the input changed during the run"), "{seen}");
    let current = assert_current_is_complete(&dir.join("output"));
    assert_eq!(snapshot(&current), before, "the published run changed");
}

#[test]
fn the_models_directory_is_synced_and_a_failed_sync_publishes_nothing() {
    if !strace_available() {
        return;
    }
    let dir = published_once();
    let models = std::fs::canonicalize(dir.join("models")).expect("models");
    let trace = dir.join("fsync.trace");
    let out = Command::new("strace")
        .args(["-f", "-e", "trace=fsync", "-P"])
        .arg(&models)
        .arg("-o")
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_churn"))
        .args(["run", "--config", "churn.toml", "--as-of", "2024-01-02", "-q"])
        .current_dir(dir.path())
        .output()
        .expect("strace");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let traced = std::fs::read_to_string(&trace).expect("trace");
    assert!(
        traced.contains("fsync("),
        "the models directory was never synced:\n{traced}"
    );

    // An I/O error syncing it: the models are not durable, so nothing is published.
    let before = current_target(&dir);
    let registry = std::fs::read(dir.join("models/current.json")).expect("registry");
    let run = churn_under_strace(
        &dir,
        &["-P", &models.display().to_string(), "-e", "inject=fsync:error=EIO"],
        &["run", "--config", "churn.toml", "--as-of", "2024-01-03", "-q"],
    );
    let stderr = run.failure();
    assert_eq!(run.output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot sync the directory"), "{stderr}");
    assert_eq!(current_target(&dir), before);
    assert_eq!(
        std::fs::read(dir.join("models/current.json")).expect("registry"),
        registry
    );
}

#[test]
fn a_failed_sync_of_the_output_directory_after_the_switch_is_exit_5() {
    if !strace_available() {
        return;
    }
    let dir = published_once();
    let output = std::fs::canonicalize(dir.join("output")).expect("output");
    let run = churn_under_strace(
        &dir,
        &["-P", &output.display().to_string(), "-e", "inject=fsync:error=EIO"],
        &["run", "--config", "churn.toml", "--as-of", "2024-01-02", "-q"],
    );
    let stderr = run.stderr();
    assert_eq!(run.output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("published") && stderr.contains("cannot sync the directory"),
        "{stderr}"
    );
    assert!(current_target(&dir).to_string_lossy().contains("2024-01-02"));
    assert_current_is_complete(&dir.join("output"));
}

#[test]
fn leftovers_of_a_killed_run_are_removed_by_the_next() {
    let dir = published_once();
    std::os::unix::fs::symlink("runs/nothing", dir.join("output/.current-killed")).expect("symlink");
    std::fs::create_dir(dir.join("output/.staging-killed")).expect("staging");
    let old = dir.write("models/.churn-old.tmp", "half a model");
    let young = dir.write("models/.churn-young.tmp", "a model being written");
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .and_then(|f| f.set_modified(two_hours_ago))
        .expect("age the temp file");
    dir.churn(&["run", "--config", "churn.toml", "--as-of", "2024-01-02", "-q"])
        .success();
    assert!(entries_starting_with(&dir.join("output"), ".").is_empty());
    assert!(!old.exists(), "an hour-old temp file stays");
    // A young one may belong to a `churn train` at work (it does not take the run lock).
    assert!(young.exists());
}

#[test]
fn sigterm_and_sigint_stop_a_run_and_clean_up() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let dir = published_once();
        let before = current_target(&dir);
        let child = Command::new(env!("CARGO_BIN_EXE_churn"))
            .args(["run", "--config", "churn.toml", "--as-of", "2024-01-02", "-q"])
            .current_dir(dir.path())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let waited = Instant::now();
        while entries_starting_with(&dir.join("output"), ".staging-").is_empty() {
            assert!(waited.elapsed() < Duration::from_secs(60), "no staging directory");
            std::thread::sleep(Duration::from_millis(2));
        }
        let killed = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "SIG{signal}: {stderr}");
        assert!(stderr.contains(&format!("stopped by SIG{signal}")), "{stderr}");
        assert_eq!(current_target(&dir), before);
        assert!(
            entries_starting_with(&dir.join("output"), ".").is_empty(),
            "SIG{signal}: leftovers"
        );
    }
}

#[test]
fn a_model_without_its_checksum_is_refused_unless_accepted() {
    let dir = Dir::new();
    sample_config(&dir, &repo().join("data/sample/transactions.csv"), "");
    dir.churn(&["train", "--config", "churn.toml", "--model-out", "m.json", "-q"])
        .success();
    dir.churn(&["features", "--config", "churn.toml", "--out", "f.parquet", "-q"])
        .success();
    let sealed = std::fs::read_to_string(dir.join("m.json")).expect("model");
    // Removing the key, then changing the intercept: without the rule, the edit would score.
    let unsealed: String = sealed
        .lines()
        .filter(|l| !l.trim_start().starts_with("\"checksum\""))
        .collect::<Vec<_>>()
        .join("\n");
    dir.write("unsealed.json", unsealed);
    let score = |extra: &[&str]| {
        let mut args = vec!["score", "--features", "f.parquet", "--model", "unsealed.json", "-q"];
        args.extend_from_slice(extra);
        dir.churn(&args)
    };
    let stderr = score(&[]).failure();
    assert!(
        stderr.contains("unsealed.json") && stderr.contains("has no \"checksum\""),
        "{stderr}"
    );
    assert!(stderr.contains("--accept-unsealed-models"), "{stderr}");
    assert!(!dir.join("scores.parquet").exists());
    score(&["--accept-unsealed-models"]).success();
    assert!(dir.join("scores.parquet").exists());
}
