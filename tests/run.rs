//! End-to-end tests of `churn run`: outputs, stability across nights, determinism, locking, failure
//! and kill safety, gates. Each test runs the real binary in a scratch directory.

mod util;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use churn_core::Column;
use util::{assert_complete, entries_starting_with, repo, Dir};

/// A config for the bundled sample in `dir` (outputs and models inside `dir`), plus `extra` TOML.
fn sample_config(dir: &Dir, extra: &str) {
    util::sample_config(dir, &repo().join("data/sample/transactions.csv"), extra);
}

fn text(table: &churn_core::Table, name: &str) -> Vec<String> {
    match table.columns().iter().find(|(n, _)| n == name).map(|(_, c)| c) {
        Some(Column::Text(v)) => v.clone(),
        Some(Column::OptionalText(v)) => v.iter().map(|s| s.clone().unwrap_or_default()).collect(),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn a_run_publishes_every_output_with_a_manifest() {
    let dir = Dir::new();
    sample_config(&dir, "");
    let manifest: serde_json::Value =
        serde_json::from_str(&dir.churn(&["run", "--config", "churn.toml", "--json"]).success()).expect("json");
    let current = dir.join("output/current");
    assert!(std::fs::symlink_metadata(&current)
        .expect("current")
        .file_type()
        .is_symlink());
    assert_complete(&current);
    assert_eq!(manifest["as_of"], "2024-01-01");
    assert_eq!(manifest["model"]["promoted"], true);
    // The run encodes its features.parquet ahead of writing: the same bytes `churn features` writes.
    dir.churn(&["features", "--config", "churn.toml", "--out", "alone.parquet", "-q"])
        .success();
    assert!(
        std::fs::read(current.join("features.parquet")).expect("run's")
            == std::fs::read(dir.join("alone.parquet")).expect("alone"),
        "features.parquet differs from churn features' file"
    );
    assert_eq!(manifest["customers"], 2000);
    assert_eq!(
        manifest["inputs"][0]["bytes"],
        std::fs::metadata(repo().join("data/sample/transactions.csv"))
            .expect("tx")
            .len()
    );
    // The manifest's hashes are those of the published files.
    for (name, entry) in manifest["outputs"].as_object().expect("outputs") {
        let bytes = std::fs::read(current.join(name)).expect("output");
        assert_eq!(
            entry["hash"],
            format!("blake3:{}", blake3::hash(&bytes).to_hex()),
            "{name}"
        );
    }
    let header = std::fs::read_to_string(current.join("at_risk.csv")).expect("csv");
    assert!(header.starts_with(
        "customer_id,churn_probability,risk_band,value_at_risk,segment,rfm_segment,recommended_action,reason_1,reason_2,reason_3,\
         expected_next_purchase,overdue_days,schema_version\n"
    ));
    let scores = churn_features::read_table(&current.join("scores.parquet")).expect("scores");
    assert_eq!(scores.num_rows(), 2000);
    // With [clv] configured, value at risk is churn probability x the customer's 365-day CLV.
    assert_eq!(manifest["at_risk"]["value_basis"], "clv");
    let clv_model = manifest["clv"]["model"].as_str().expect("clv model");
    assert!(dir.join(&format!("models/{clv_model}")).is_file(), "{clv_model}");
    let clv = churn_features::read_table(&current.join("clv.parquet")).expect("clv");
    let floats = |t: &churn_core::Table, name: &str| match t.columns().iter().find(|(n, _)| n == name) {
        Some((_, Column::Float64(v))) => v.clone(),
        other => panic!("{name}: {other:?}"),
    };
    let clv_by_id: std::collections::HashMap<String, f64> = text(&clv, "customer_id")
        .into_iter()
        .zip(floats(&clv, "clv_365d"))
        .collect();
    let (ids, p, value) = (
        text(&scores, "customer_id"),
        floats(&scores, "churn_probability"),
        floats(&scores, "value_at_risk"),
    );
    for i in 0..ids.len() {
        assert!(
            (value[i] - p[i] * clv_by_id[&ids[i]]).abs() < 1e-9 * value[i].max(1.0),
            "{}",
            ids[i]
        );
    }
    // With [clv], the next purchase is the BG/NBD posterior's: the same figures as clv.parquet.
    let optional = |t: &churn_core::Table, name: &str| match t.columns().iter().find(|(n, _)| n == name) {
        Some((_, Column::OptionalFloat64(v))) => v.clone(),
        Some((_, Column::Float64(v))) => v.iter().copied().map(Some).collect(),
        other => panic!("{name}: {other:?}"),
    };
    assert!(scores
        .metadata()
        .iter()
        .any(|(k, v)| k == "churn.next_purchase_model" && v == "bg-nbd"));
    let clv_row: std::collections::HashMap<String, usize> = text(&clv, "customer_id")
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    for name in ["p_purchase_30d", "p_purchase_90d", "p_purchase_365d"] {
        let (ours, theirs) = (optional(&scores, name), optional(&clv, name));
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(ours[i], theirs[clv_row[id]], "{name} of {id}");
        }
    }
    // The dates are as-of plus the whole days of clv.parquet's.
    let as_of_days =
        (chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date") - chrono::NaiveDate::default()).num_days();
    let mut dated = 0;
    for (date, days) in [
        ("next_purchase_date", "next_purchase_days"),
        ("next_purchase_low_date", "next_purchase_low_days"),
        ("next_purchase_high_date", "next_purchase_high_days"),
    ] {
        let ours = match scores.columns().iter().find(|(n, _)| n == date) {
            Some((_, Column::OptionalDate(v))) => v.clone(),
            other => panic!("{date}: {other:?}"),
        };
        let theirs = optional(&clv, days);
        for (i, id) in ids.iter().enumerate() {
            let expected = theirs[clv_row[id]].map(|d| (as_of_days + d.floor() as i64) as i32);
            assert_eq!(ours[i], expected, "{date} of {id}");
            dated += usize::from(expected.is_some());
        }
    }
    assert!(dated > 0);
    // Profiles carry each segment's churn rate in the training window.
    let profiles = std::fs::read_to_string(current.join("segment_profiles.csv")).expect("profiles");
    let header: Vec<&str> = profiles.lines().next().expect("header").split(',').collect();
    let column = header
        .iter()
        .position(|h| *h == "churn_rate")
        .expect("churn_rate column");
    for line in profiles.lines().skip(1) {
        let rate: f64 = line
            .split(',')
            .nth(column)
            .and_then(|v| v.parse().ok())
            .expect("a churn rate");
        assert!((0.0..=1.0).contains(&rate), "{line}");
    }
    assert!(!dir.join("output/.lock").exists());
    let registry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("models/current.json")).expect("registry"))
            .expect("json");
    assert!(dir
        .join("models")
        .join(registry["churn"].as_str().expect("churn"))
        .is_file());
}

#[test]
fn the_next_night_keeps_segment_ids_and_lists_the_changes() {
    let dir = Dir::new();
    sample_config(&dir, "");
    dir.churn(&["run", "--config", "churn.toml", "-q"]).success();
    let first = std::fs::canonicalize(dir.join("output/current")).expect("first run");
    dir.churn(&["run", "--config", "churn.toml", "--as-of", "2024-01-20", "-q"])
        .success();
    let second = std::fs::canonicalize(dir.join("output/current")).expect("second run");
    assert_ne!(first, second);
    assert_complete(&first);

    let read = |run: &Path, file: &str| churn_features::read_table(&run.join(file)).expect(file);
    let (seg1, seg2) = (read(&first, "segments.parquet"), read(&second, "segments.parquet"));
    // Assigned with the same model: the model file and the id-to-name mapping are unchanged.
    assert_eq!(
        seg1.metadata().iter().find(|(k, _)| k == "churn.segment_model"),
        seg2.metadata().iter().find(|(k, _)| k == "churn.segment_model")
    );
    let names = |t: &churn_core::Table| -> HashMap<String, String> {
        text(t, "customer_id")
            .into_iter()
            .zip(text(t, "segment_name"))
            .collect()
    };
    let (before, after) = (names(&seg1), names(&seg2));

    // changes.csv against an independent comparison of the two runs' outputs: on the list means
    // at risk and not in the sample's control group, which is never on it.
    let holdout = churn_score::Holdout {
        share: 0.1,
        salt: "sample-retention".into(),
    };
    let bands = |t: &churn_core::Table| -> HashMap<String, String> {
        text(t, "customer_id")
            .into_iter()
            .zip(text(t, "risk_band"))
            .map(|(id, band)| {
                let listed = if holdout.is_control(&id) {
                    "low".to_string()
                } else {
                    band
                };
                (id, listed)
            })
            .collect()
    };
    let (b1, b2) = (
        bands(&read(&first, "scores.parquet")),
        bands(&read(&second, "scores.parquet")),
    );
    let mut expected: Vec<(String, String)> = Vec::new();
    for (id, band) in &b2 {
        if band != "low" && b1.get(id).is_none_or(|b| b == "low") {
            expected.push((id.clone(), "entered_at_risk".into()));
        }
        if before.get(id).is_some_and(|old| old != &after[id]) {
            expected.push((id.clone(), "segment_changed".into()));
        }
    }
    for (id, band) in &b1 {
        if band != "low" && b2.get(id).is_none_or(|b| b == "low") {
            expected.push((id.clone(), "left_at_risk".into()));
        }
    }
    expected.sort();
    let csv = std::fs::read_to_string(second.join("changes.csv")).expect("changes");
    let mut got: Vec<(String, String)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            (
                f.next().unwrap_or_default().to_string(),
                f.next().unwrap_or_default().to_string(),
            )
        })
        .collect();
    got.sort();
    assert!(!expected.is_empty(), "nineteen days later someone's risk changes");
    assert_eq!(got, expected);
}

#[test]
fn the_same_inputs_give_byte_identical_outputs() {
    let dir = Dir::new();
    sample_config(&dir, "");
    for out in ["a", "b"] {
        dir.churn(&[
            "run",
            "--config",
            "churn.toml",
            "--output-dir",
            out,
            "--models-dir",
            &format!("{out}-models"),
            "-q",
        ])
        .success();
    }
    for file in [
        "features.parquet",
        "segments.parquet",
        "scores.parquet",
        "at_risk.csv",
        "changes.csv",
        "segment_profiles.csv",
        "clv.parquet",
    ] {
        let a = std::fs::read(dir.join(&format!("a/current/{file}"))).expect("a");
        let b = std::fs::read(dir.join(&format!("b/current/{file}"))).expect("b");
        assert!(a == b, "{file} differs");
    }
}

#[test]
fn a_held_lock_exits_with_the_lock_code_and_touches_nothing() {
    let dir = Dir::new();
    sample_config(&dir, "");
    dir.churn(&["run", "--config", "churn.toml", "-q"]).success();
    let before = std::fs::read_link(dir.join("output/current")).expect("current");
    // A live holder: this test process holds the flock (its pid in the file is for people).
    let holder = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("output/.lock"))
        .expect("lock file");
    holder.lock().expect("flock");
    std::fs::write(dir.join("output/.lock"), "4242 7\n").expect("pid");
    let run = dir.churn(&["run", "--config", "churn.toml", "--as-of", "2024-01-05"]);
    let stderr = run.failure();
    assert_eq!(run.output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("another churn run (pid 4242)"), "{stderr}");
    assert_eq!(std::fs::read_link(dir.join("output/current")).expect("current"), before);
    // Once the holder is gone, the file left behind (whatever it says) is no lock.
    drop(holder);
    dir.churn(&["run", "--config", "churn.toml", "--as-of", "2024-01-05", "-q"])
        .success();
}

#[test]
fn a_failed_run_leaves_the_previous_run_current_and_no_staging() {
    let dir = Dir::new();
    sample_config(&dir, "");
    dir.churn(&["run", "--config", "churn.toml", "-q"]).success();
    let before = std::fs::read_link(dir.join("output/current")).expect("current");
    // The next night's export is broken.
    let mut broken = std::fs::read_to_string(repo().join("data/sample/transactions.csv")).expect("tx");
    broken.push_str("C0000001,2023-12-31 10:00:00,not-a-number,O-X,1,books\n");
    dir.write("broken.csv", broken);
    let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
    let tx = repo().join("data/sample/transactions.csv");
    dir.write(
        "churn.toml",
        config.replace(&format!("{:?}", tx.display().to_string()), "\"broken.csv\""),
    );
    let stderr = dir.churn(&["run", "--config", "churn.toml"]).failure();
    assert!(stderr.contains("broken.csv"), "{stderr}");
    assert_eq!(std::fs::read_link(dir.join("output/current")).expect("current"), before);
    let leftovers = entries_starting_with(&dir.join("output"), ".");
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A first run that fails on its input leaves no empty output directory behind.
#[test]
fn a_first_run_that_fails_leaves_no_output_directory() {
    let dir = Dir::new();
    util::sample_config(&dir, &dir.join("missing.csv"), "");
    let stderr = dir.churn(&["run", "--config", "churn.toml"]).failure();
    assert!(stderr.contains("missing.csv"), "{stderr}");
    assert!(!dir.join("output").exists(), "{stderr}");
}

#[test]
fn a_killed_run_never_leaves_a_broken_current() {
    let dir = Dir::new();
    sample_config(&dir, "");
    dir.churn(&["run", "--config", "churn.toml", "-q"]).success();
    // Kill runs at different moments; whatever the moment, current is a complete run.
    for (i, delay_ms) in [30u64, 150, 400, 800, 1500].into_iter().enumerate() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_churn"))
            .args([
                "run",
                "--config",
                "churn.toml",
                "--as-of",
                &format!("2024-01-{:02}", 2 + i),
                "-q",
            ])
            .current_dir(dir.path())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let current = std::fs::canonicalize(dir.join("output/current")).expect("current resolves");
        assert_complete(&current);
    }
    // The kernel released the killed run's lock; the next run cleans up its staging directories.
    dir.churn(&["run", "--config", "churn.toml", "--as-of", "2024-01-10", "-q"])
        .success();
    assert_complete(&dir.join("output/current"));
    let leftovers = entries_starting_with(&dir.join("output"), ".staging");
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_model_that_fails_its_gates_is_not_promoted() {
    let dir = Dir::new();
    sample_config(&dir, "");
    dir.churn(&["run", "--config", "churn.toml", "-q"]).success();
    let registry = std::fs::read_to_string(dir.join("models/current.json")).expect("registry");
    sample_config(&dir, "");
    let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
    dir.write("churn.toml", format!("{config}\n[gates]\nmin_roc_auc = 0.99\n"));
    let manifest: serde_json::Value = serde_json::from_str(
        &dir.churn(&["run", "--config", "churn.toml", "--as-of", "2024-01-08", "--json"])
            .success(),
    )
    .expect("json");
    assert_eq!(manifest["model"]["promoted"], false);
    assert!(manifest["model"]["refusals"][0]
        .as_str()
        .is_some_and(|r| r.contains("below gates.min_roc_auc")));
    // The churn model and the segments stay; the lifetime-value model is refitted every night
    // (it has no gates, only its convergence check).
    let registry_json = |text: &str| serde_json::from_str::<serde_json::Value>(text).expect("registry json");
    let (before, after) = (
        registry_json(&registry),
        registry_json(&std::fs::read_to_string(dir.join("models/current.json")).expect("registry")),
    );
    assert_eq!(
        (&before["churn"], &before["segments"]),
        (&after["churn"], &after["segments"])
    );
    assert!(
        after["clv"].as_str().is_some_and(|f| f.starts_with("clv-2024-01-08-")),
        "{after}"
    );
    // With fail_exit_code the run still publishes, and says so with exit code 4.
    dir.write(
        "churn.toml",
        format!("{config}\n[gates]\nmin_roc_auc = 0.99\nfail_exit_code = true\n"),
    );
    let run = dir.churn(&["run", "--config", "churn.toml", "--as-of", "2024-01-09"]);
    assert_eq!(run.output.status.code(), Some(4), "{}", run.stderr());
    assert!(std::fs::canonicalize(dir.join("output/current"))
        .expect("current")
        .ends_with(
            std::fs::read_link(dir.join("output/current"))
                .expect("link")
                .file_name()
                .expect("name")
        ));
}

#[test]
fn an_unknown_config_key_fails_with_its_name() {
    let dir = Dir::new();
    sample_config(&dir, "");
    let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
    dir.write("churn.toml", format!("{config}\n[run]\noutput_directory = \"x\"\n"));
    let run = dir.churn(&["run", "--config", "churn.toml"]);
    let stderr = run.failure();
    assert_eq!(run.output.status.code(), Some(2));
    assert!(stderr.contains("unknown field `output_directory`"), "{stderr}");
    assert!(!dir.join("output").exists());
}

#[test]
fn two_concurrent_runs_never_interleave() {
    let dir = Dir::new();
    sample_config(&dir, "");
    let spawn = |as_of: &str| {
        Command::new(env!("CARGO_BIN_EXE_churn"))
            .args(["run", "--config", "churn.toml", "--as-of", as_of, "-q"])
            .current_dir(dir.path())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn("2024-01-01"), spawn("2024-01-02"));
    let (a, b) = (a.wait_with_output().expect("a"), b.wait_with_output().expect("b"));
    let codes = [a.status.code(), b.status.code()];
    // Either the second started after the first finished (both publish), or it found the lock.
    assert!(codes.iter().all(|c| matches!(c, Some(0) | Some(3))), "{codes:?}");
    assert!(codes.contains(&Some(0)), "{codes:?}");
    for out in [&a, &b] {
        if out.status.code() == Some(3) {
            assert!(String::from_utf8_lossy(&out.stderr).contains("another churn run"));
        }
    }
    assert_complete(&dir.join("output/current"));
    assert!(!dir.join("output/.lock").exists());
}

/// `history.csv` rows as (column -> value) maps.
fn history(run: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(run.join("history.csv")).expect("history.csv");
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.expect("row").iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// The history is derived from the published manifests night by night: one night per as-of date
/// (a rerun replaces its date), the figures equal to the manifest's and to a count over the
/// run's own files, rebuilt when lost, and drawn in the report.
#[test]
fn the_history_follows_the_published_runs_night_by_night() {
    let dir = Dir::new();
    sample_config(&dir, "");
    let night = |as_of: &str| {
        dir.churn(&["run", "--config", "churn.toml", "--as-of", as_of, "-q"])
            .success();
        std::fs::canonicalize(dir.join("output/current")).expect("current")
    };
    let first = night("2023-12-01");
    let rows = history(&first);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first.join("manifest.json")).expect("manifest")).expect("json");
    let all = &rows[0];
    assert_eq!(all["segment"], "all");
    assert_eq!(all["as_of"], "2023-12-01");
    assert_eq!(all["customers"], manifest["customers"].to_string());
    assert_eq!(all["at_risk_customers"], manifest["at_risk"]["customers"].to_string());
    let churn_rate = manifest["model"]["training_churners"].as_f64().expect("churners")
        / manifest["model"]["training_customers"].as_f64().expect("customers");
    assert_eq!(all["churn_rate"], format!("{churn_rate:.6}"));
    // The repeat-purchase rate, counted from the published features.
    let features = churn_features::FeatureTable::read_parquet(&first.join("features.parquet")).expect("features");
    let frequency = features
        .to_frame()
        .expect("frame")
        .required("frequency")
        .expect("frequency");
    let repeat = frequency.iter().filter(|&&f| f >= 2.0).count() as f64 / frequency.len() as f64;
    assert_eq!(all["repeat_purchase_rate"], format!("{repeat:.6}"));
    // Segments add up to the total.
    let segments: Vec<_> = rows.iter().filter(|r| r["segment"] != "all").collect();
    assert_eq!(segments.len() as u64, manifest["segments"]["k"].as_u64().expect("k"));
    let sum = |name: &str| {
        segments
            .iter()
            .map(|r| r[name].parse::<u64>().expect("count"))
            .sum::<u64>()
    };
    assert_eq!(sum("customers").to_string(), all["customers"]);
    assert_eq!(sum("at_risk_customers").to_string(), all["at_risk_customers"]);
    let report = std::fs::read_to_string(first.join("report.html")).expect("report");
    assert!(report.contains("id=\"over-time\"") && report.contains("The series start with this run"));

    night("2024-01-01");
    let rerun = night("2023-12-01");
    let nights: Vec<(String, String)> = history(&rerun)
        .iter()
        .filter(|r| r["segment"] == "all")
        .map(|r| (r["as_of"].clone(), r["run_id"].clone()))
        .collect();
    let run_id = |run: &Path| {
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).expect("manifest")).expect("json");
        m["run_id"].as_str().expect("run id").to_string()
    };
    assert_eq!(nights.len(), 2, "{nights:?}");
    assert_eq!(
        nights[0],
        ("2023-12-01".to_string(), run_id(&rerun)),
        "the rerun replaces its date"
    );
    assert_eq!(nights[1].0, "2024-01-01");
    let report = std::fs::read_to_string(rerun.join("report.html")).expect("report");
    assert!(
        report.contains("data-chart=\"history-churn_rate\""),
        "a chart per figure"
    );
    assert!(
        report.contains("class=\"mark\""),
        "the refitted segments of the second night are marked"
    );

    // Lost everywhere: the next run derives the same history from the manifests.
    let before = history(&rerun);
    for entry in std::fs::read_dir(dir.join("output/runs")).expect("runs") {
        let _ = std::fs::remove_file(entry.expect("entry").path().join("history.csv"));
    }
    let again = night("2023-12-01");
    let after = history(&again);
    let without_run_ids = |rows: &[std::collections::HashMap<String, String>]| {
        rows.iter()
            .filter(|r| r["as_of"] != "2023-12-01")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(without_run_ids(&after), without_run_ids(&before));
    assert_eq!(after.len(), before.len());
}

/// The control group: stable by customer id and salt, never on the list, never entering it in
/// changes.csv, and in holdout.csv exactly as the list would have held it.
#[test]
fn the_holdout_is_kept_off_the_list_night_after_night() {
    let ids = |path: &Path| -> Vec<String> {
        let mut reader = csv::Reader::from_path(path).expect("csv");
        reader.records().map(|r| r.expect("row")[0].to_string()).collect()
    };
    let dir = Dir::new();
    // Without a holdout: the whole list.
    sample_config(&dir, "");
    let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
    assert!(config.contains("\nshare = 0.1\n"), "the sample holds out 10 %");
    dir.write("churn.toml", config.replace("share = 0.1", "share = 0"));
    dir.churn(&["run", "--config", "churn.toml", "-q", "--output-dir", "whole"])
        .success();
    let whole = ids(&dir.join("whole/current/at_risk.csv"));
    assert!(!dir.join("whole/current/holdout.csv").exists());

    dir.write("churn.toml", config.clone());
    dir.churn(&["run", "--config", "churn.toml", "-q"]).success();
    let listed = ids(&dir.join("output/current/at_risk.csv"));
    let held = ids(&dir.join("output/current/holdout.csv"));
    let holdout = churn_score::Holdout {
        share: 0.1,
        salt: "sample-retention".into(),
    };
    assert!(!held.is_empty() && held.iter().all(|id| holdout.is_control(id)));
    assert!(listed.iter().all(|id| !holdout.is_control(id)));
    // The list without a holdout, split in two, in the same order.
    let (treated, control): (Vec<String>, Vec<String>) = whole.iter().cloned().partition(|id| !holdout.is_control(id));
    assert_eq!((listed.clone(), held.clone()), (treated, control));
    let header = |path: &Path| {
        std::fs::read_to_string(path)
            .expect("csv")
            .lines()
            .next()
            .map(str::to_string)
    };
    assert_eq!(
        header(&dir.join("output/current/holdout.csv")),
        header(&dir.join("output/current/at_risk.csv"))
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("output/current/manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(manifest["holdout"]["customers"], held.len());
    assert_eq!(manifest["at_risk"]["customers"], listed.len());
    let report = std::fs::read_to_string(dir.join("output/current/report.html")).expect("report");
    assert!(report.contains("held out as the control group"));

    // The next night: the same customers held out, none of them entering the list.
    dir.churn(&["run", "--config", "churn.toml", "-q", "--as-of", "2024-01-15"])
        .success();
    let next_held = ids(&dir.join("output/current/holdout.csv"));
    assert!(next_held.iter().all(|id| holdout.is_control(id)));
    let mut reader = csv::Reader::from_path(dir.join("output/current/changes.csv")).expect("changes");
    for row in reader.records() {
        let row = row.expect("row");
        assert!(
            !(holdout.is_control(&row[0]) && row[1].contains("at_risk")),
            "a control customer in changes.csv: {row:?}"
        );
    }
}
