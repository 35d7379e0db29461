//! End-to-end tests of `churn train`, `churn score` and `churn explain` through the real binary.

mod util;

use util::{repo, Dir};

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn sample_config() -> String {
    repo().join("data/sample/churn.toml").display().to_string()
}

/// Trains on the bundled sample into `dir/model.json`; returns the JSON summary.
fn train_sample(dir: &Dir) -> serde_json::Value {
    json(
        &dir.churn(&[
            "train",
            "--config",
            &sample_config(),
            "--model-out",
            "model.json",
            "--json",
        ])
        .success(),
    )
}

/// Computes the bundled sample's features into `dir/features.parquet`.
fn sample_features(dir: &Dir) {
    dir.churn(&[
        "features",
        "--config",
        &sample_config(),
        "--out",
        "features.parquet",
        "-q",
    ])
    .success();
}

#[test]
fn training_on_the_sample_evaluates_out_of_time_and_finds_the_direction_of_recency() {
    let dir = Dir::new();
    let summary = train_sample(&dir);
    assert_eq!(summary["as_of"], "2024-01-01");
    assert_eq!(summary["training_snapshot"], "2023-10-03");
    assert_eq!(summary["evaluation_fit_snapshot"], "2023-07-05");
    let evaluation = &summary["evaluation"];
    for set in ["model", "recency_baseline", "rfm_baseline"] {
        let auc = evaluation[set]["roc_auc"].as_f64().expect("auc");
        assert!(auc > 0.6 && auc <= 1.0, "{set}: {auc}");
    }
    assert_eq!(evaluation["calibration"].as_array().map(Vec::len), Some(10));
    // The generator's customers who have not bought for long are the ones who dropped out.
    let recency = summary["coefficients"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["column"] == "recency_days"))
        .and_then(|c| c["coefficient"].as_f64())
        .expect("recency coefficient");
    assert!(recency > 0.0, "recency coefficient {recency}");

    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).expect("model")).expect("json");
    assert_eq!(model["format"], "churn-model");
    assert_eq!(model["horizon_days"], 90);
    assert_eq!(
        model["training"]["label_window"],
        serde_json::json!(["2023-10-03", "2024-01-01"])
    );
    assert!(model["training"]["input_fingerprint"]
        .as_str()
        .is_some_and(|f| f.starts_with("blake3:")));
    assert!(model["evaluation"]["model"]["brier"].as_f64().is_some());
}

#[test]
fn labels_on_a_hand_built_log_count_a_purchase_exactly_at_the_cutoff() {
    // S = 2024-03-01, H = 30: training snapshot C = 2024-01-31, labels from [2024-01-31, 2024-03-01);
    // evaluation fit on 2024-01-01 with labels from [2024-01-01, 2024-01-31).
    let dir = Dir::new();
    let mut csv = String::from("customer_id,timestamp,amount\n");
    // 24 customers with two December purchases, so both snapshots hold them.
    for i in 0..24 {
        csv.push_str(&format!("k{i:02},2023-12-0{},10.00\n", 1 + i % 9));
        csv.push_str(&format!("k{i:02},2023-12-1{},12.00\n", i % 9));
        match i % 4 {
            // Buys exactly at the training cutoff: not churned at 2024-01-31.
            0 => csv.push_str(&format!("k{i:02},2024-01-31T00:00:00,5.00\n")),
            // Buys one second before it: counts for the earlier window only.
            1 => csv.push_str(&format!("k{i:02},2024-01-30T23:59:59,5.00\n")),
            // Buys in February.
            2 => csv.push_str(&format!("k{i:02},2024-02-15,5.00\n")),
            // Never again.
            _ => {}
        }
    }
    dir.write("tx.csv", csv);
    dir.write(
        "churn.toml",
        "as_of = \"2024-03-01\"\nhorizon_days = 30\n[input]\ntransactions = \"tx.csv\"\n[model]\nmin_per_class = 1\n",
    );
    let summary = json(
        &dir.churn(&["train", "--config", "churn.toml", "--model-out", "m.json", "--json"])
            .success(),
    );
    assert_eq!(summary["training_snapshot"], "2024-01-31");
    // At 2024-01-31: groups 0 and 2 bought in [01-31, 03-01); groups 1 and 3 churned.
    assert_eq!(summary["customers"], 24);
    assert_eq!(summary["churners"], 12);
    // At 2024-01-01 (evaluation fit): groups 1 bought in [01-01, 01-31); the rest churned.
    let evaluation = &summary["evaluation"];
    assert_eq!(evaluation["customers"], 24);
    assert_eq!(evaluation["churners"], 12);
}

#[test]
fn scoring_writes_every_customer_and_a_sorted_escaped_at_risk_list() {
    let dir = Dir::new();
    train_sample(&dir);
    sample_features(&dir);
    dir.churn(&[
        "segment",
        "--features",
        "features.parquet",
        "--k",
        "4",
        "--model-out",
        "seg.json",
        "-q",
    ])
    .success();
    let summary = json(
        &dir.churn(&[
            "score",
            "--features",
            "features.parquet",
            "--model",
            "model.json",
            "--segment-model",
            "seg.json",
            "--out",
            "out/scores.parquet",
            "--json",
        ])
        .success(),
    );
    assert_eq!(summary["customers"], 2000);
    let scores = churn_features::read_table(&dir.join("out/scores.parquet")).expect("scores");
    assert_eq!(scores.num_rows(), 2000);
    let names: Vec<&str> = scores.columns().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "customer_id",
            "churn_probability",
            "risk_band",
            "value_at_risk",
            "segment",
            "rfm_segment",
            "recommended_action",
            "reason_1",
            "reason_2",
            "reason_3",
            "p_purchase_30d",
            "p_purchase_90d",
            "p_purchase_horizon",
            "p_purchase_365d",
            "next_purchase_date",
            "next_purchase_low_date",
            "next_purchase_high_date",
            "overdue_days"
        ]
    );
    let churn_core::Column::Float64(p) = &scores.columns()[1].1 else {
        panic!("probabilities are float64")
    };
    assert!(p.iter().all(|p| *p > 0.0 && *p < 1.0));

    let text = std::fs::read_to_string(dir.join("out/at_risk.csv")).expect("at_risk.csv");
    assert!(!text.starts_with('\u{feff}') && !text.contains('\r'));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len() as u64, summary["at_risk"].as_u64().expect("count"));
    let values: Vec<f64> = rows.iter().map(|r| r[3].parse().expect("value")).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "sorted by value at risk");
    assert!(rows.iter().all(|r| &r[2] != "low" && !r[4].is_empty() && &r[12] == "3"));
    check_next_purchase(&dir, &scores, &rows);
}

/// The next-purchase columns of a `churn score` without lifetime values: the churn model's rhythm.
/// Checked against the definitions: the horizon's chance is 1 - churn probability, the chances
/// grow with the window, a date exactly when the year's chance is at least one half (with low <
/// median < high), the list's date is the snapshot plus the median's whole days, and
/// `overdue_days` is recency minus the typical gap (at least 0) from the feature file.
fn check_next_purchase(dir: &Dir, scores: &churn_core::Table, rows: &[csv::StringRecord]) {
    use churn_core::Column;
    assert_eq!(
        scores
            .metadata()
            .iter()
            .find(|(k, _)| k == "churn.next_purchase_model")
            .map(|(_, v)| v.as_str()),
        Some("rhythm")
    );
    let column = |t: &churn_core::Table, name: &str| -> Vec<Option<f64>> {
        match t.columns().iter().find(|(n, _)| n == name) {
            Some((_, Column::OptionalFloat64(v))) => v.clone(),
            Some((_, Column::Float64(v))) => v.iter().copied().map(Some).collect(),
            Some((_, Column::Int64(v))) => v.iter().map(|&x| Some(x as f64)).collect(),
            // Dates as days since 1970-01-01.
            Some((_, Column::OptionalDate(v))) => v.iter().map(|d| d.map(f64::from)).collect(),
            other => panic!("{name}: {other:?}"),
        }
    };
    let ids = |t: &churn_core::Table| match &t.columns()[0].1 {
        Column::Text(ids) => ids.clone(),
        other => panic!("ids: {other:?}"),
    };
    let p = column(scores, "churn_probability");
    let chances: Vec<Vec<Option<f64>>> = [
        "p_purchase_30d",
        "p_purchase_90d",
        "p_purchase_horizon",
        "p_purchase_365d",
    ]
    .iter()
    .map(|c| column(scores, c))
    .collect();
    let [median, low, high] = [
        "next_purchase_date",
        "next_purchase_low_date",
        "next_purchase_high_date",
    ]
    .map(|c| column(scores, c));
    let epoch = chrono::NaiveDate::default();
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    let s_days = (as_of - epoch).num_days() as f64;
    let mut dated = 0;
    for row in 0..scores.num_rows() {
        let c: Vec<f64> = chances
            .iter()
            .map(|c| c[row].expect("every customer has chances"))
            .collect();
        let p = p[row].expect("probability");
        // The sample's horizon is 90 days: the 90-day chance is the horizon's.
        assert!(
            (c[2] - (1.0 - p)).abs() < 1e-12 && c[1] == c[2],
            "row {row}: {c:?} vs {p}"
        );
        assert!(
            0.0 < c[0] && c[0] <= c[1] && c[1] <= c[3] && c[3] < 1.0,
            "row {row}: {c:?}"
        );
        match (median[row], low[row], high[row]) {
            (Some(m), Some(l), Some(h)) => {
                dated += 1;
                // Whole days: the interval's ends may fall on the median's day.
                assert!(
                    c[3] >= 0.5 && s_days <= l && l <= m && m <= h && h <= s_days + 365.0 && l < h,
                    "row {row}"
                );
            }
            (None, None, None) => assert!(c[3] < 0.5, "row {row}"),
            other => panic!("row {row}: {other:?}"),
        }
    }
    assert!(dated > 0 && dated < scores.num_rows(), "{dated} dated");

    let features = churn_features::read_table_columns(
        &dir.path().join("features.parquet"),
        &["customer_id", "recency_days", "typical_gap_days"],
    )
    .expect("features");
    let by_id = |t: &churn_core::Table, values: Vec<Option<f64>>| -> std::collections::HashMap<String, Option<f64>> {
        ids(t).into_iter().zip(values).collect()
    };
    let recency = by_id(&features, column(&features, "recency_days"));
    let gap = by_id(&features, column(&features, "typical_gap_days"));
    let median = by_id(scores, median);
    let (mut unlikely, mut overdue) = (0, 0);
    for r in rows {
        let id = churn_score::unescape_formula(&r[0]);
        let expected_date = match median[id] {
            Some(date) => (epoch + chrono::Duration::days(date as i64)).to_string(),
            None => {
                unlikely += 1;
                "unlikely".to_string()
            }
        };
        assert_eq!(&r[10], expected_date, "{id}");
        let expected_overdue = gap[id].map_or(String::new(), |g| {
            let days = (recency[id].expect("recency") - g).max(0.0).floor() as i64;
            overdue += usize::from(days > 0);
            days.to_string()
        });
        assert_eq!(&r[11], expected_overdue, "{id}");
    }
    assert!(unlikely > 0 && overdue > 0, "{unlikely} unlikely, {overdue} overdue");
}

#[test]
fn formula_like_ids_are_escaped_in_the_csv_only() {
    let dir = Dir::new();
    let mut csv = String::from("customer_id,timestamp,amount\n");
    for i in 0..60 {
        let id = if i == 0 {
            "=HYPERLINK(\"http://x\")".to_string()
        } else {
            format!("c{i:02}")
        };
        let quoted = id.replace('"', "\"\"");
        csv.push_str(&format!("\"{quoted}\",2023-0{}-10,{}.00\n", 1 + i % 6, 10 + i));
        if i % 2 == 0 {
            csv.push_str(&format!("\"{quoted}\",2023-10-1{},20.00\n", i % 8));
        }
        if i % 3 == 0 {
            csv.push_str(&format!("\"{quoted}\",2023-12-2{},20.00\n", i % 8));
        }
    }
    dir.write("tx.csv", csv);
    dir.write(
        "churn.toml",
        "as_of = \"2024-01-01\"\nhorizon_days = 60\n[input]\ntransactions = \"tx.csv\"\n[model]\nmin_per_class = 1\n[score]\nbands = { by = \"top_share\", medium = 1.0, high = 0.5 }\n",
    );
    dir.churn(&["train", "--config", "churn.toml", "--model-out", "m.json", "-q"])
        .success();
    dir.churn(&["features", "--config", "churn.toml", "--out", "f.parquet", "-q"])
        .success();
    dir.churn(&[
        "score",
        "--config",
        "churn.toml",
        "--features",
        "f.parquet",
        "--model",
        "m.json",
        "-q",
    ])
    .success();
    let text = std::fs::read_to_string(dir.join("at_risk.csv")).expect("csv");
    assert!(text.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{text}");
    assert!(!text.lines().any(|l| l.starts_with('=')));
    let scores = churn_features::read_table(&dir.join("scores.parquet")).expect("scores");
    let churn_core::Column::Text(ids) = &scores.columns()[0].1 else {
        panic!("ids are text")
    };
    assert!(
        ids.contains(&"=HYPERLINK(\"http://x\")".to_string()),
        "the Parquet file keeps the raw id"
    );
}

#[test]
fn a_feature_file_without_a_model_input_is_an_error_naming_it() {
    let dir = Dir::new();
    dir.write(
        "custom.toml",
        "[model]\nfeatures = [\"recency_days\", \"log1p(distinct_categories)\"]\n",
    );
    // The sample config has the custom feature; train with it, then score a file without it.
    let config = std::fs::read_to_string(repo().join("data/sample/churn.toml")).expect("config");
    let tx = repo().join("data/sample/transactions.csv").display().to_string();
    let with_custom = config.replace("transactions.csv", &tx)
        + "\n[model]\nfeatures = [\"recency_days\", \"log1p(distinct_categories)\"]\n";
    dir.write("with.toml", with_custom);
    dir.churn(&["train", "--config", "with.toml", "--model-out", "m.json", "-q"])
        .success();
    dir.write(
        "plain.toml",
        format!("as_of = \"2024-01-01\"\n[input]\ntransactions = \"{tx}\"\n[input.columns]\ntimestamp = \"ts\"\norder_id = \"order_id\"\n"),
    );
    dir.churn(&["features", "--config", "plain.toml", "--out", "plain.parquet", "-q"])
        .success();
    let stderr = dir
        .churn(&["score", "--features", "plain.parquet", "--model", "m.json"])
        .failure();
    assert!(stderr.contains("\"distinct_categories\" is missing"), "{stderr}");
    assert!(!dir.join("scores.parquet").exists() && !dir.join("at_risk.csv").exists());
}

#[test]
fn too_short_a_history_says_how_much_is_needed() {
    let dir = Dir::new();
    let stderr = dir
        .churn(&[
            "train",
            "--config",
            &sample_config(),
            "--horizon-days",
            "400",
            "--model-out",
            "m.json",
        ])
        .failure();
    assert!(stderr.contains("needs at least 800 days of history"), "{stderr}");
    assert!(!dir.join("m.json").exists());
}

/// A model of an earlier build has no rhythm: it still scores, and the next-purchase cells are
/// empty (never made up), with `none` in the scores' metadata.
#[test]
fn a_model_without_a_rhythm_scores_without_next_purchase_figures() {
    let dir = Dir::new();
    train_sample(&dir);
    let mut model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).expect("model")).expect("json");
    let object = model.as_object_mut().expect("object");
    assert!(object.remove("rhythm").is_some(), "the sample's model has a rhythm");
    object.remove("checksum");
    dir.write("old.json", serde_json::to_string_pretty(&model).expect("json"));
    sample_features(&dir);
    dir.churn(&[
        "score",
        "--features",
        "features.parquet",
        "--model",
        "old.json",
        "--accept-unsealed-models",
        "--out",
        "scores.parquet",
        "--at-risk",
        "at_risk.csv",
        "-q",
    ])
    .success();
    let scores = churn_features::read_table(&dir.join("scores.parquet")).expect("scores");
    assert!(scores
        .metadata()
        .iter()
        .any(|(k, v)| k == "churn.next_purchase_model" && v == "none"));
    for name in ["p_purchase_30d", "p_purchase_365d", "next_purchase_date"] {
        match scores.columns().iter().find(|(n, _)| n == name) {
            Some((_, churn_core::Column::OptionalFloat64(v))) => assert!(v.iter().all(Option::is_none), "{name}"),
            Some((_, churn_core::Column::OptionalDate(v))) => assert!(v.iter().all(Option::is_none), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let text = std::fs::read_to_string(dir.join("at_risk.csv")).expect("csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert!(!rows.is_empty());
    // No date without a model for it; the days overdue need only the features.
    assert!(rows.iter().all(|r| r[10].is_empty() && &r[12] == "3"));
    assert!(rows.iter().any(|r| !r[11].is_empty()));
}

#[test]
fn explain_shows_contributions_and_rejects_unknown_customers() {
    let dir = Dir::new();
    train_sample(&dir);
    sample_features(&dir);
    let out = json(
        &dir.churn(&[
            "explain",
            "C0000200",
            "--features",
            "features.parquet",
            "--model",
            "model.json",
            "--json",
        ])
        .success(),
    );
    let contributions = out["contributions"].as_array().expect("contributions");
    assert_eq!(contributions.len(), 11);
    // The contributions and the intercept add up to the log-odds of the probability.
    let log_odds: f64 = contributions
        .iter()
        .map(|c| c["log_odds"].as_f64().expect("number"))
        .sum::<f64>()
        + out["intercept"].as_f64().expect("intercept");
    let p = out["churn_probability"].as_f64().expect("p");
    assert!((1.0 / (1.0 + (-log_odds).exp()) - p).abs() < 1e-9);
    // The reasons are the ones `churn score` writes for the customer.
    dir.churn(&[
        "score",
        "--features",
        "features.parquet",
        "--model",
        "model.json",
        "--out",
        "scores.parquet",
        "-q",
    ])
    .success();
    let scores = churn_features::read_table(&dir.join("scores.parquet")).expect("scores");
    let text = |name: &str| match scores.columns().iter().find(|(n, _)| n == name) {
        Some((_, churn_core::Column::OptionalText(v))) => v.clone(),
        Some((_, churn_core::Column::Text(v))) => v.iter().cloned().map(Some).collect(),
        other => panic!("{name}: {other:?}"),
    };
    let row = text("customer_id")
        .iter()
        .position(|id| id.as_deref() == Some("C0000200"))
        .expect("scored");
    let written: Vec<String> = ["reason_1", "reason_2", "reason_3"]
        .iter()
        .filter_map(|c| text(c)[row].clone().filter(|r| !r.is_empty()))
        .collect();
    let explained: Vec<String> = out["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r.as_str().expect("text").to_string())
        .collect();
    assert!(!written.is_empty(), "the sample customer has reasons to compare");
    assert_eq!(explained, written);
    // So is the next purchase.
    let float = |name: &str| match scores.columns().iter().find(|(n, _)| n == name) {
        Some((_, churn_core::Column::OptionalFloat64(v))) => v[row],
        other => panic!("{name}: {other:?}"),
    };
    let next = &out["next_purchase"]["outlook"];
    for (ours, theirs) in [
        ("p_30d", "p_purchase_30d"),
        ("p_90d", "p_purchase_90d"),
        ("p_365d", "p_purchase_365d"),
    ] {
        assert_eq!(next[ours].as_f64(), float(theirs), "{ours}");
    }
    let date = match scores.columns().iter().find(|(n, _)| n == "next_purchase_date") {
        Some((_, churn_core::Column::OptionalDate(v))) => v[row],
        other => panic!("next_purchase_date: {other:?}"),
    };
    let explained = out["next_purchase"]["dates"][0].as_str().map(|d| {
        let d: chrono::NaiveDate = d.parse().expect("date");
        (d - chrono::NaiveDate::default()).num_days() as i32
    });
    assert!(explained.is_some(), "the sample customer has a date: {out}");
    assert_eq!(explained, date);
    assert_eq!(out["overdue_days"].as_f64(), float("overdue_days"));

    let stderr = dir
        .churn(&[
            "explain",
            "nobody",
            "--features",
            "features.parquet",
            "--model",
            "model.json",
        ])
        .failure();
    assert!(
        stderr.contains("customer \"nobody\" is not in features.parquet"),
        "{stderr}"
    );
}

#[test]
fn a_snapshot_never_reads_rows_at_or_after_its_date() {
    // Two logs that agree before 2024-01-31 and differ from it on: the training snapshot's
    // features must be identical, whatever happens afterwards.
    let dir = Dir::new();
    let before = "customer_id,timestamp,amount\na,2023-11-02,10.00\na,2024-01-30T23:59:59,20.00\nb,2023-12-24,5.00\n";
    dir.write("a.csv", before);
    dir.write(
        "b.csv",
        format!("{before}a,2024-01-31T00:00:00,999.00\nb,2024-02-10,-5.00\nc,2024-02-11,7.00\n"),
    );
    for name in ["a", "b"] {
        dir.churn(&[
            "features",
            "--input",
            &format!("{name}.csv"),
            "--as-of",
            "2024-01-31",
            "--out",
            &format!("{name}.parquet"),
            "-q",
        ])
        .success();
    }
    let a = churn_features::FeatureTable::read_parquet(&dir.join("a.parquet")).expect("a");
    let b = churn_features::FeatureTable::read_parquet(&dir.join("b.parquet")).expect("b");
    assert_eq!(a.batch, b.batch);
}

#[test]
fn explicit_labels_from_the_customers_table_train_with_a_holdout_evaluation() {
    let dir = Dir::new();
    let mut tx = String::from("customer_id,timestamp,amount\n");
    let mut customers = String::from("customer_id,plan,cancelled\n");
    for i in 0..80 {
        tx.push_str(&format!("s{i:02},2023-0{}-1{},{}.00\n", 1 + i % 8, i % 10, 20 + i));
        // Cancellations follow spend, noisily: the model has something to find.
        let cancelled = if (i + i / 7) % 3 == 0 { "yes" } else { "no" };
        customers.push_str(&format!("s{i:02},basic,{cancelled}\n"));
    }
    dir.write("tx.csv", tx);
    dir.write("customers.csv", &customers);
    dir.write(
        "churn.toml",
        "as_of = \"2024-01-01\"\nhorizon_days = 90\n[input]\ntransactions = \"tx.csv\"\ncustomers = \"customers.csv\"\n\
         [model]\nmin_per_class = 1\nlabel_column = \"cancelled\"\nholdout_share = 0.25\n",
    );
    let summary = json(
        &dir.churn(&["train", "--config", "churn.toml", "--model-out", "m.json", "--json"])
            .success(),
    );
    assert_eq!(summary["labels"], "explicit");
    assert_eq!(summary["customers"], 80);
    let expected = (0..80).filter(|i| (i + i / 7) % 3 == 0).count() as u64;
    assert_eq!(summary["churners"], expected);
    assert_eq!(summary["evaluation"]["method"], "holdout");
    assert_eq!(summary["evaluation"]["customers"], 20);

    // A customer of the snapshot without a row in the table has no label: an error naming it.
    dir.write("customers.csv", customers.replace("s42,basic,", "t42,basic,"));
    let stderr = dir
        .churn(&["train", "--config", "churn.toml", "--model-out", "m2.json"])
        .failure();
    assert!(
        stderr.contains("customer \"s42\" has no row in the customers table"),
        "{stderr}"
    );
    assert!(!dir.join("m2.json").exists());
}
