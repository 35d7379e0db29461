//! `churn generate` end to end: determinism and the ground truth's consistency with the data.

mod util;

use std::collections::HashMap;

use util::Dir;

#[test]
fn the_same_seed_gives_byte_identical_files_and_another_seed_does_not() {
    let dir = Dir::new();
    for (out, seed) in [("a", "1"), ("b", "1"), ("c", "2")] {
        dir.churn(&[
            "generate",
            "--customers",
            "300",
            "--seed",
            seed,
            "--out",
            out,
            "--quiet",
        ])
        .success();
    }
    let read = |p: &str| std::fs::read(dir.join(p)).expect("read");
    assert!(read("a/transactions.parquet") == read("b/transactions.parquet"));
    assert!(read("a/truth.parquet") == read("b/truth.parquet"));
    assert!(read("a/transactions.parquet") != read("c/transactions.parquet"));
}

#[test]
fn csv_output_agrees_with_its_ground_truth() {
    let dir = Dir::new();
    let summary = dir
        .churn(&[
            "generate",
            "--customers",
            "400",
            "--seed",
            "9",
            "--format",
            "csv",
            "--out",
            "g",
            "--json",
        ])
        .success();
    let summary: serde_json::Value = serde_json::from_str(summary.trim()).expect("json");
    let tx = std::fs::read_to_string(dir.join("g/transactions.csv")).expect("tx");
    let truth = std::fs::read_to_string(dir.join("g/truth.csv")).expect("truth");
    let mut truth_by_id: HashMap<&str, (&str, &str)> = HashMap::new();
    for line in truth.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        truth_by_id.insert(f[0], (f[1], f[2]));
    }
    assert_eq!(truth_by_id.len(), 400);
    let mut rows = 0u64;
    let mut returns = 0u64;
    let mut first_seen: HashMap<&str, &str> = HashMap::new();
    for line in tx.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        rows += 1;
        let (first, dropout) = truth_by_id[f[0]];
        let amount: f64 = f[3].parse().expect("amount");
        assert!(amount != 0.0 && amount.is_finite());
        if amount < 0.0 {
            returns += 1;
        } else {
            // RFC 3339 timestamps of one format compare correctly as text.
            assert!(f[2] <= dropout, "{} buys at {} after its dropout {dropout}", f[0], f[2]);
        }
        assert!(f[2] < "2024-01-01", "row after the end: {line}");
        first_seen.entry(f[0]).or_insert(f[2]);
        assert!(f[2] >= first, "row before the first purchase: {line}");
    }
    assert_eq!(summary["rows"], rows);
    assert_eq!(summary["returns"], returns);
    // Every customer's first row is its first purchase.
    for (id, ts) in first_seen {
        assert_eq!(ts, truth_by_id[id].0);
    }
    let share = returns as f64 / rows as f64;
    assert!((0.02..=0.04).contains(&share), "return share {share}");
}
