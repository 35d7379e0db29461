//! End-to-end tests of `churn segment` through the real binary, on the bundled sample.

mod util;

use std::sync::Arc;

use arrow::array::{Array, Float64Array};
use churn_core::Column;
use util::{repo, Dir};

/// Computes the sample's features into `dir/features.parquet`.
fn sample_features(dir: &Dir, extra: &[&str]) {
    let config = repo().join("data/sample/churn.toml");
    let mut args = vec![
        "features",
        "--config",
        config.to_str().expect("utf-8 path"),
        "--out",
        "features.parquet",
        "-q",
    ];
    args.extend_from_slice(extra);
    dir.churn(&args).success();
}

fn column(table: &churn_core::Table, name: &str) -> Column {
    table
        .columns()
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn fitting_writes_segments_profiles_and_a_model() {
    let dir = Dir::new();
    sample_features(&dir, &[]);
    let stdout = dir
        .churn(&["segment", "--features", "features.parquet", "--k", "4"])
        .success();
    assert!(stdout.contains("2,000 customers in 4 segments"), "{stdout}");
    assert!(stdout.contains("customers by RFM segment"), "{stdout}");

    let model = dir.join("models/segments-2024-01-01.json");
    let model_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).expect("model saved")).expect("json");
    assert_eq!(model_json["format"], "churn-segments");
    assert_eq!(model_json["fit"]["as_of"], "2024-01-01");
    assert_eq!(model_json["segments"].as_array().map(Vec::len), Some(4));

    let table = churn_features::read_table(&dir.join("segments.parquet")).expect("segments written");
    let names: Vec<&str> = table.columns().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["customer_id", "segment_id", "segment_name", "distance"]);
    assert_eq!(table.num_rows(), 2000);
    let Column::Int64(ids) = column(&table, "segment_id") else {
        panic!("segment_id is int64")
    };
    assert!(ids.iter().all(|&s| (0..4).contains(&s)));
    let Column::Float64(distance) = column(&table, "distance") else {
        panic!("distance is float64")
    };
    assert!(distance.iter().all(|d| d.is_finite() && *d >= 0.0));

    let profiles = std::fs::read_to_string(dir.join("segment_profiles.csv")).expect("profiles");
    let lines: Vec<&str> = profiles.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[0].starts_with("segment_id,segment_name,customers,share_customers,share_revenue,"));
    // Segment ids follow revenue: shares in the profile decrease down the rows.
    let shares: Vec<f64> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(4).and_then(|v| v.parse().ok()).expect("share_revenue"))
        .collect();
    assert!(shares.windows(2).all(|w| w[0] >= w[1]), "{shares:?}");
    assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    let customers: u64 = lines[1..]
        .iter()
        .map(|l| {
            l.split(',')
                .nth(2)
                .and_then(|v| v.parse::<u64>().ok())
                .expect("customers")
        })
        .sum();
    assert_eq!(customers, 2000);
}

#[test]
fn the_same_seed_gives_byte_identical_outputs() {
    let dir = Dir::new();
    sample_features(&dir, &[]);
    for run in ["a", "b"] {
        dir.churn(&[
            "segment",
            "--features",
            "features.parquet",
            "--k",
            "auto",
            "--model-out",
            &format!("{run}/model.json"),
            "--out",
            &format!("{run}/segments.parquet"),
            "-q",
        ])
        .success();
    }
    for file in ["model.json", "segments.parquet", "segment_profiles.csv"] {
        let a = std::fs::read(dir.join(&format!("a/{file}"))).expect("a");
        let b = std::fs::read(dir.join(&format!("b/{file}"))).expect("b");
        // The model path differs by design in the parquet metadata; everything else must not.
        if file == "segments.parquet" {
            let (ta, tb) = (
                churn_features::read_table(&dir.join("a/segments.parquet")).expect("a"),
                churn_features::read_table(&dir.join("b/segments.parquet")).expect("b"),
            );
            assert_eq!(ta.columns(), tb.columns());
        } else {
            assert!(a == b, "{file} differs between two runs with the same seed");
        }
    }
}

#[test]
fn assigning_with_the_saved_model_reproduces_the_fit() {
    let dir = Dir::new();
    sample_features(&dir, &[]);
    dir.churn(&[
        "segment",
        "--features",
        "features.parquet",
        "--model-out",
        "m.json",
        "--out",
        "fit/segments.parquet",
        "-q",
    ])
    .success();
    let stdout = dir
        .churn(&[
            "segment",
            "--features",
            "features.parquet",
            "--model",
            "m.json",
            "--out",
            "assign/segments.parquet",
            "--json",
        ])
        .success();
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("json summary");
    assert_eq!(summary["mode"], "assign");
    let fit = churn_features::read_table(&dir.join("fit/segments.parquet")).expect("fit");
    let assign = churn_features::read_table(&dir.join("assign/segments.parquet")).expect("assign");
    for name in ["customer_id", "segment_id", "segment_name", "distance"] {
        assert_eq!(column(&fit, name), column(&assign, name), "{name}");
    }
    assert_eq!(
        std::fs::read(dir.join("fit/segment_profiles.csv")).expect("fit profiles"),
        std::fs::read(dir.join("assign/segment_profiles.csv")).expect("assign profiles")
    );
}

#[test]
fn a_feature_file_without_a_model_feature_is_an_error_naming_it() {
    let dir = Dir::new();
    sample_features(&dir, &[]);
    dir.write(
        "seg.toml",
        "[segments]\nk = 3\nfeatures = [\"recency_days\", \"log1p(distinct_categories)\"]\n",
    );
    dir.churn(&[
        "segment",
        "--features",
        "features.parquet",
        "--config",
        "seg.toml",
        "--model-out",
        "m.json",
        "-q",
    ])
    .success();
    // The same transactions without the custom feature.
    let tx = repo().join("data/sample/transactions.csv");
    dir.write(
        "plain.toml",
        format!(
            "as_of = \"2024-01-01\"\n[input]\ntransactions = \"{}\"\n[input.columns]\ntimestamp = \"ts\"\norder_id = \"order_id\"\n",
            tx.display()
        ),
    );
    dir.churn(&["features", "--config", "plain.toml", "--out", "plain.parquet", "-q"])
        .success();
    let stderr = dir
        .churn(&[
            "segment",
            "--features",
            "plain.parquet",
            "--model",
            "m.json",
            "--out",
            "new/segments.parquet",
        ])
        .failure();
    assert!(stderr.contains("\"distinct_categories\" is missing"), "{stderr}");
    assert!(!dir.join("new").exists() || !dir.join("new/segments.parquet").exists());
}

#[test]
fn nan_in_a_feature_file_is_rejected_with_its_row_and_customer() {
    let dir = Dir::new();
    sample_features(&dir, &[]);
    let mut table = churn_features::FeatureTable::read_parquet(&dir.join("features.parquet")).expect("read");
    let index = table.batch.schema().index_of("recency_days").expect("column");
    let original = table
        .batch
        .column(index)
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("f64")
        .clone();
    let poisoned: Float64Array = (0..original.len())
        .map(|i| Some(if i == 5 { f64::NAN } else { original.value(i) }))
        .collect();
    let mut columns = table.batch.columns().to_vec();
    columns[index] = Arc::new(poisoned);
    table.batch = arrow::array::RecordBatch::try_new(table.batch.schema(), columns).expect("batch");
    table.write_parquet(&dir.join("nan.parquet")).expect("write");

    let stderr = dir
        .churn(&["segment", "--features", "nan.parquet", "--k", "3"])
        .failure();
    assert!(stderr.contains("column \"recency_days\", row 5"), "{stderr}");
    assert!(stderr.contains("NaN is not a finite number"), "{stderr}");
    assert!(!dir.join("segments.parquet").exists());
    assert!(!dir.join("models").exists());
}

#[test]
fn bad_settings_are_usage_errors() {
    let dir = Dir::new();
    sample_features(&dir, &[]);
    for (args, expected) in [
        (vec!["--k", "1"], "need at least 2 segments"),
        (vec!["--k", "six"], "expected a number of segments or \"auto\""),
    ] {
        let mut full = vec!["segment", "--features", "features.parquet"];
        full.extend(args);
        let run = dir.churn(&full);
        let stderr = run.failure();
        assert_eq!(run.output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
    dir.write("bad.toml", "[segments]\nfeatures = [\"sqrt(frequency)\"]\n");
    let stderr = dir
        .churn(&["segment", "--features", "features.parquet", "--config", "bad.toml"])
        .failure();
    assert!(stderr.contains("unknown transform \"sqrt\""), "{stderr}");
}

#[test]
fn a_file_that_is_not_a_model_is_rejected() {
    let dir = Dir::new();
    sample_features(&dir, &[]);
    dir.write("m.json", "{\"format\": \"something-else\"}");
    let stderr = dir
        .churn(&["segment", "--features", "features.parquet", "--model", "m.json"])
        .failure();
    assert!(
        stderr.contains("is this a segment model written by `churn segment`?"),
        "{stderr}"
    );
    assert!(!dir.join("segments.parquet").exists());
}
