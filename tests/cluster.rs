//! `churn` on a real Ballista cluster: a scheduler and two executors started from this binary as
//! child processes on 127.0.0.1 (free ports, bounded waits, killed at the end), and the same
//! commands run locally and through them.

#![cfg(feature = "cluster")]

mod util;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::{sample_config, Dir};

/// How long a cluster process may take to open its port (a debug build starts in well under a
/// second; the margin is for a loaded CI machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A scheduler and executors, killed when dropped.
struct Cluster {
    scheduler_port: u16,
    scheduler: Child,
    executors: Vec<Executor>,
    logs: PathBuf,
}

struct Executor {
    child: Child,
    work_dir: PathBuf,
}

/// `n` ports free right now (held together while they are chosen, so they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("address").port())
        .collect()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, logs: &Path) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status}: {}", read_logs(logs));
        }
        assert!(
            started.elapsed() < START_TIMEOUT,
            "{what} did not open port {port}: {}",
            read_logs(logs)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_logs(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push_str(&format!(
            "\n--- {}\n{}",
            entry.path().display(),
            std::fs::read_to_string(entry.path()).unwrap_or_default()
        ));
    }
    out
}

fn spawn(args: &[String], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_churn"))
        .args(args)
        .env("CHURN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start a cluster process")
}

impl Cluster {
    fn start(dir: &Dir, executors: usize) -> Cluster {
        let logs = dir.join("cluster-logs");
        std::fs::create_dir_all(&logs).expect("logs");
        let ports = free_ports(1 + 2 * executors);
        let scheduler_port = ports[0];
        let mut scheduler = spawn(
            &[
                "cluster".into(),
                "scheduler".into(),
                "--port".into(),
                scheduler_port.to_string(),
                // A killed executor is noticed within seconds rather than the default half minute.
                "--executor-timeout".into(),
                "6".into(),
            ],
            &logs.join("scheduler.log"),
        );
        wait_for_port(scheduler_port, &mut scheduler, "the scheduler", &logs);
        let mut cluster = Cluster {
            scheduler_port,
            scheduler,
            executors: Vec::new(),
            logs: logs.clone(),
        };
        for i in 0..executors {
            let (port, grpc) = (ports[1 + 2 * i], ports[2 + 2 * i]);
            let work_dir = dir.join(&format!("executor-{i}"));
            let mut child = spawn(
                &[
                    "cluster".into(),
                    "executor".into(),
                    "--scheduler".into(),
                    format!("127.0.0.1:{scheduler_port}"),
                    "--port".into(),
                    port.to_string(),
                    "--grpc-port".into(),
                    grpc.to_string(),
                    "--concurrent-tasks".into(),
                    "2".into(),
                    "--work-dir".into(),
                    work_dir.display().to_string(),
                ],
                &logs.join(format!("executor-{i}.log")),
            );
            wait_for_port(port, &mut child, &format!("executor {i}"), &logs);
            cluster.executors.push(Executor { child, work_dir });
        }
        cluster
    }

    fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.scheduler_port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self
            .executors
            .iter_mut()
            .map(|e| &mut e.child)
            .chain(std::iter::once(&mut self.scheduler))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A generated Parquet log of `customers` customers in `dir/name/`, and its config `dir/churn.toml`.
fn generated(dir: &Dir, customers: u64) -> PathBuf {
    dir.churn(&[
        "generate",
        "--customers",
        &customers.to_string(),
        "--seed",
        "11",
        "--out",
        "log",
    ])
    .success();
    let tx = dir.join("log/transactions.parquet");
    sample_config(dir, &tx, "");
    tx
}

/// `churn features --config CONFIG --out OUT [--cluster URL] EXTRA...` in `dir`.
fn features(dir: &Dir, config: &str, out: &str, cluster: Option<&str>, extra: &[&str]) -> util::Run {
    let mut args = vec!["features", "--config", config, "--out", out];
    if let Some(url) = cluster {
        args.extend(["--cluster", url]);
    }
    args.extend_from_slice(extra);
    dir.churn(&args)
}

fn files_equal(a: &Path, b: &Path) {
    let (x, y) = (
        std::fs::read(a).unwrap_or_else(|e| panic!("{}: {e}", a.display())),
        std::fs::read(b).unwrap_or_else(|e| panic!("{}: {e}", b.display())),
    );
    assert!(x == y, "{} and {} differ", a.display(), b.display());
}

/// Every file a run publishes, apart from those that carry the run's id and timings.
const RUN_FILES: [&str; 8] = [
    "features.parquet",
    "segments.parquet",
    "scores.parquet",
    "at_risk.csv",
    "holdout.csv",
    "changes.csv",
    "segment_profiles.csv",
    "clv.parquet",
];

#[test]
fn features_and_run_through_a_cluster_equal_the_local_ones() {
    let dir = Dir::new();
    generated(&dir, 3000);
    let cluster = Cluster::start(&dir, 2);
    let url = cluster.url();

    features(&dir, "churn.toml", "local.parquet", None, &["-q"]).success();
    features(&dir, "churn.toml", "cluster.parquet", Some(&url), &["-q"]).success();
    files_equal(&dir.join("local.parquet"), &dir.join("cluster.parquet"));

    let run = |out: &str, extra: &[&str]| {
        let models = format!("{out}-models");
        let mut args = vec![
            "run",
            "--config",
            "churn.toml",
            "--output-dir",
            out,
            "--models-dir",
            &models,
            "-q",
        ];
        args.extend_from_slice(extra);
        dir.churn(&args).success();
    };
    run("local", &[]);
    // The config's [engine] table works as the flag does.
    let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
    dir.write("cluster.toml", format!("{config}\n[engine]\ncluster = \"{url}\"\n"));
    let models = "cluster-models";
    dir.churn(&[
        "run",
        "--config",
        "cluster.toml",
        "--output-dir",
        "cluster",
        "--models-dir",
        models,
        "-q",
    ])
    .success();
    for file in RUN_FILES {
        files_equal(
            &dir.join(&format!("local/current/{file}")),
            &dir.join(&format!("cluster/current/{file}")),
        );
    }
    let manifest = |run: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join(&format!("{run}/current/manifest.json"))).expect("manifest");
        serde_json::from_str(&text).expect("json")
    };
    assert_eq!(
        manifest("cluster")["settings"]["input"]["cluster"],
        serde_json::json!(url)
    );
    assert!(manifest("local")["settings"]["input"].get("cluster").is_none());
    // The executors did the reading: their shuffle files are there.
    let shuffled = cluster
        .executors
        .iter()
        .filter(|e| std::fs::read_dir(&e.work_dir).is_ok_and(|mut d| d.next().is_some()))
        .count();
    assert!(
        shuffled > 0,
        "no executor wrote shuffle files: {}",
        read_logs(&cluster.logs)
    );
}

#[test]
fn an_unreachable_scheduler_fails_the_run_and_leaves_current_alone() {
    let dir = Dir::new();
    generated(&dir, 300);
    dir.churn(&["run", "--config", "churn.toml", "-q"]).success();
    let before = std::fs::read_link(dir.join("output/current")).expect("current");
    let port = free_ports(1)[0];
    let run = dir.churn(&[
        "run",
        "--config",
        "churn.toml",
        "--cluster",
        &format!("df://127.0.0.1:{port}"),
    ]);
    let stderr = run.failure();
    assert_eq!(run.output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach the scheduler at df://127.0.0.1:{port}")),
        "{stderr}"
    );
    assert_eq!(std::fs::read_link(dir.join("output/current")).expect("current"), before);
    assert!(util::entries_starting_with(&dir.join("output"), ".").is_empty());

    // A malformed address is a usage error that names the setting.
    let run = features(&dir, "churn.toml", "f.parquet", Some("127.0.0.1:50050"), &[]);
    let stderr = run.failure();
    assert_eq!(run.output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--cluster") && stderr.contains("df://HOST:PORT"),
        "{stderr}"
    );
    assert!(!dir.join("f.parquet").exists());
}

#[test]
fn a_scheduler_without_executors_fails_the_run_instead_of_hanging() {
    let dir = Dir::new();
    generated(&dir, 300);
    let cluster = Cluster::start(&dir, 0);
    let started = Instant::now();
    let run = features(&dir, "churn.toml", "f.parquet", Some(&cluster.url()), &[]);
    let stderr = run.failure();
    assert_eq!(run.output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has no executor to run the job"), "{stderr}");
    assert!(
        stderr.contains("churn cluster executor --scheduler 127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "it waited {:?}",
        started.elapsed()
    );
    assert!(!dir.join("f.parquet").exists());
}

/// A job that fails on the executors (here a custom feature dividing by zero, which only the
/// execution finds) fails the command with the engine's reason and publishes nothing.
#[test]
fn a_job_failing_on_the_cluster_fails_the_run_cleanly() {
    let dir = Dir::new();
    generated(&dir, 300);
    dir.churn(&["run", "--config", "churn.toml", "-q"]).success();
    let before = std::fs::read_link(dir.join("output/current")).expect("current");
    let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
    dir.write(
        "churn.toml",
        format!("{config}\n[[features.custom]]\nname = \"broken\"\nsql = \"sum(1 / (CAST(quantity AS BIGINT) - CAST(quantity AS BIGINT)))\"\n"),
    );
    let cluster = Cluster::start(&dir, 1);
    let run = dir.churn(&["run", "--config", "churn.toml", "--cluster", &cluster.url()]);
    let stderr = run.failure();
    assert_eq!(run.output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("features.custom.broken") && stderr.contains("DivideByZero"),
        "{stderr}"
    );
    // Ballista logs the failed job too; the driver says it once, in its error.
    assert!(!stderr.contains("ERROR Job"), "{stderr}");
    assert_eq!(std::fs::read_link(dir.join("output/current")).expect("current"), before);
    assert!(util::entries_starting_with(&dir.join("output"), ".").is_empty());
}

/// `churn features --json` without its timing.
fn summary(run: &util::Run) -> serde_json::Value {
    let mut json: serde_json::Value = serde_json::from_str(&run.success()).expect("json summary");
    json.as_object_mut().expect("object").remove("seconds");
    json
}

/// Text input goes through the project's own reader on the executors (its plan node travels
/// through the cluster's codecs): the same features and the same row counts, also with a row
/// filter, which makes the driver count the rows by a second query.
#[test]
fn csv_input_through_a_cluster_equals_the_local_run() {
    let dir = Dir::new();
    let cluster = Cluster::start(&dir, 2);
    let tx = util::repo().join("data/sample/transactions.csv");
    sample_config(&dir, &tx, "");
    let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
    dir.write(
        "filtered.toml",
        config.replace("[input]\n", "[input]\nwhere = \"category <> 'books'\"\n"),
    );
    for config in ["churn.toml", "filtered.toml"] {
        let local = features(&dir, config, "local.parquet", None, &["--json"]);
        let remote = features(&dir, config, "cluster.parquet", Some(&cluster.url()), &["--json"]);
        let (mut a, mut b) = (summary(&local), summary(&remote));
        for json in [&mut a, &mut b] {
            json.as_object_mut().expect("object").remove("output");
        }
        assert_eq!(a, b, "{config}");
        files_equal(&dir.join("local.parquet"), &dir.join("cluster.parquet"));
    }
    let filtered = summary(&features(&dir, "filtered.toml", "f.parquet", None, &["--json"]));
    assert!(filtered["rows"]["filtered_by_where"].as_u64() > Some(0), "{filtered}");
}

/// A malformed CSV read on the executors is reported as a local run reports it: every bad line
/// with its file, line and column, exit 1, nothing written.
#[test]
fn a_malformed_csv_on_a_cluster_is_reported_with_file_line_and_column() {
    let dir = Dir::new();
    let cluster = Cluster::start(&dir, 1);
    let mut text = std::fs::read_to_string(util::repo().join("data/sample/transactions.csv")).expect("tx");
    text.push_str("C0000001,2023-12-31 10:00:00,not-a-number,O-X,1,books\n");
    text.push_str("C0000002,2023-13-45 10:00:00,12.50,O-Y,1,books\n");
    let lines = text.lines().count();
    let broken = dir.write("broken.csv", text);
    sample_config(&dir, &broken, "");
    let local = features(&dir, "churn.toml", "local.parquet", None, &[]);
    let remote = features(&dir, "churn.toml", "cluster.parquet", Some(&cluster.url()), &[]);
    let (local_err, remote_err) = (local.failure(), remote.failure());
    assert_eq!(remote.output.status.code(), Some(1), "{remote_err}");
    assert_eq!(local_err, remote_err);
    assert!(
        remote_err.contains(&format!("broken.csv: line {}, column \"amount\"", lines - 1)),
        "{remote_err}"
    );
    assert!(remote_err.contains(&format!("line {lines}  amount")), "{remote_err}");
    assert!(!dir.join("cluster.parquet").exists());
}

/// An executor killed while the job runs: Ballista either runs its tasks again on the other
/// executor (then the outputs equal the local run's) or fails the job (then the run fails with
/// exit 1 and the previous run stays current). Either way nothing half-done is published.
#[test]
fn an_executor_killed_mid_job_leaves_a_correct_run_or_a_clean_failure() {
    let dir = Dir::new();
    // Large enough that the debug build's job runs for seconds, so the kill lands inside it.
    generated(&dir, 40_000);
    // Last night's run, then tonight's locally beside it from the same history: the reference.
    dir.churn(&["run", "--config", "churn.toml", "--as-of", "2023-12-01", "-q"])
        .success();
    let local = ["--output-dir", "local", "--models-dir", "local-models", "-q"];
    for as_of in [&["--as-of", "2023-12-01"][..], &[]] {
        let mut args = vec!["run", "--config", "churn.toml"];
        args.extend_from_slice(as_of);
        args.extend_from_slice(&local);
        dir.churn(&args).success();
    }
    let before = std::fs::read_link(dir.join("output/current")).expect("current");
    // Ballista sometimes loses track of a stage whose executor died (its tasks are reset but never
    // launched again): the driver's time bound ends such a run, with an error naming the setting.
    let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
    dir.write(
        "churn.toml",
        format!("{config}\n[engine]\ncluster_timeout_minutes = 2\n"),
    );

    let mut cluster = Cluster::start(&dir, 2);
    let mut run = Command::new(env!("CARGO_BIN_EXE_churn"))
        .args(["run", "--config", "churn.toml", "-q", "--cluster", &cluster.url()])
        .current_dir(dir.path())
        .env_remove("CHURN_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the run");
    // Kill executor 0 as soon as it has written a shuffle file: it is mid-job.
    let started = Instant::now();
    let victim = &mut cluster.executors[0];
    let mut killed = false;
    while started.elapsed() < Duration::from_secs(300) {
        if let Ok(Some(_)) = run.try_wait() {
            break;
        }
        if has_files(&victim.work_dir) {
            victim.child.kill().expect("kill the executor");
            victim.child.wait().expect("reap the executor");
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        killed,
        "the job ended before executor 0 wrote anything: {}",
        read_logs(&cluster.logs)
    );
    let output = wait_bounded(run, Duration::from_secs(600));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.code() {
        Some(0) => {
            eprintln!(
                "the job survived the executor's death ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
            // Retried on the survivor: the same outputs as the local run.
            for file in RUN_FILES {
                files_equal(
                    &dir.join(&format!("local/current/{file}")),
                    &dir.join(&format!("output/current/{file}")),
                );
            }
        }
        Some(1) => {
            eprintln!("the job failed cleanly: {stderr}");
            assert!(stderr.contains("cluster"), "the error names the cluster: {stderr}");
            assert_eq!(std::fs::read_link(dir.join("output/current")).expect("current"), before);
            assert!(util::entries_starting_with(&dir.join("output"), ".").is_empty());
        }
        other => panic!("exit {other:?}: {stderr}\n{}", read_logs(&cluster.logs)),
    }
}

/// The scheduler killed while the job runs: the driver loses the job and must say so, exit 1,
/// with nothing published, rather than wait for it.
#[test]
fn a_scheduler_killed_mid_job_fails_the_run_cleanly() {
    let dir = Dir::new();
    generated(&dir, 20_000);
    dir.churn(&["run", "--config", "churn.toml", "--as-of", "2023-12-01", "-q"])
        .success();
    let before = std::fs::read_link(dir.join("output/current")).expect("current");
    let mut cluster = Cluster::start(&dir, 1);
    let run = Command::new(env!("CARGO_BIN_EXE_churn"))
        .args(["run", "--config", "churn.toml", "-q", "--cluster", &cluster.url()])
        .current_dir(dir.path())
        .env_remove("CHURN_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the run");
    let started = Instant::now();
    while !has_files(&cluster.executors[0].work_dir) {
        assert!(started.elapsed() < Duration::from_secs(300), "the job never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.scheduler.kill().expect("kill the scheduler");
    cluster.scheduler.wait().expect("reap the scheduler");
    let output = wait_bounded(run, Duration::from_secs(300));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.code() {
        Some(1) => {
            eprintln!("the run failed cleanly: {stderr}");
            assert!(stderr.contains("cluster: the job on df://127.0.0.1:"), "{stderr}");
            assert_eq!(std::fs::read_link(dir.join("output/current")).expect("current"), before);
        }
        // The job had ended and its result was being fetched from the executor, which needs no
        // scheduler: then the run is whole.
        Some(0) => {
            eprintln!("the job had finished before the scheduler died");
            util::assert_complete(&dir.join("output/current"));
        }
        other => panic!("exit {other:?}: {stderr}"),
    }
    assert!(util::entries_starting_with(&dir.join("output"), ".").is_empty());
}

fn has_files(dir: &Path) -> bool {
    walk(dir).next().is_some()
}

fn walk(dir: &Path) -> Box<dyn Iterator<Item = PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Box::new(std::iter::empty());
    };
    Box::new(entries.flatten().flat_map(|e| {
        let path = e.path();
        if path.is_dir() {
            walk(&path)
        } else {
            Box::new(std::iter::once(path))
        }
    }))
}

/// Waits for `child`, killing it after `limit`.
fn wait_bounded(mut child: Child, limit: Duration) -> std::process::Output {
    let started = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("run output");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("run output");
            panic!(
                "the run did not end within {limit:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
