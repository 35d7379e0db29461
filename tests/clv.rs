//! End-to-end tests of `churn clv` (and `churn score --clv`) through the real binary: the published
//! CDNOW digits from the raw transactions, parameter recovery on generated BG/NBD data, and errors.

mod util;

use churn_core::Column;
use util::{repo, Dir};

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn cdnow_config(dir: &Dir) {
    let fixture = repo().join("tests/fixtures/cdnow/CDNOW_sample.txt.gz");
    dir.write(
        "cdnow.toml",
        format!(
            r#"
[input]
transactions = "{}"
delimiter = "whitespace"
has_header = false
column_names = ["master_id", "sample_id", "date", "cds", "dollars"]
timestamp_format = "%Y%m%d"
[input.columns]
customer_id = "sample_id"
timestamp = "date"
amount = "dollars"
"#,
            fixture.display()
        ),
    );
}

fn float_column(table: &churn_core::Table, name: &str) -> Vec<f64> {
    match table.columns().iter().find(|(n, _)| n == name) {
        Some((_, Column::Float64(v))) => v.clone(),
        other => panic!("no float column {name}: {other:?}"),
    }
}

fn optional_float_column(table: &churn_core::Table, name: &str) -> Vec<Option<f64>> {
    match table.columns().iter().find(|(n, _)| n == name) {
        Some((_, Column::OptionalFloat64(v))) => v.clone(),
        Some((_, Column::Float64(v))) => v.iter().copied().map(Some).collect(),
        other => panic!("no float column {name}: {other:?}"),
    }
}

fn text_column(table: &churn_core::Table, name: &str) -> Vec<String> {
    match table.columns().iter().find(|(n, _)| n == name) {
        Some((_, Column::Text(v))) => v.clone(),
        other => panic!("no text column {name}: {other:?}"),
    }
}

/// From the raw CDNOW sample (not the summary file): the published BG/NBD and Gamma-Gamma digits
/// (Fader, Hardie & Lee 2005), the holdout's 1,882 actual repeat transactions, and the point check.
#[test]
fn cdnow_sample_gives_the_published_parameters_from_raw_transactions() {
    let dir = Dir::new();
    cdnow_config(&dir);
    let summary = json(
        &dir.churn(&[
            "clv",
            "--config",
            "cdnow.toml",
            "--calibration-end",
            "1997-09-30",
            "--time-unit",
            "week",
            "--model-out",
            "models/clv.json",
            "--out",
            "clv.parquet",
            "--holdout-end",
            "1998-06-30",
            "--json",
        ])
        .success(),
    );
    assert_eq!(summary["customers"], 2357);
    assert_eq!(summary["calibration_start"], "1997-01-01");
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("models/clv.json")).expect("model")).expect("json");
    let get = |section: &str, key: &str| model[section][key].as_f64().unwrap_or(f64::NAN);
    let round = |v: f64, digits: i32| (v * 10f64.powi(digits)).round() / 10f64.powi(digits);
    assert_eq!(
        ["r", "alpha", "a", "b"].map(|k| round(get("bgnbd", k), 3)),
        [0.243, 4.414, 0.793, 2.426]
    );
    assert_eq!(round(get("bgnbd", "log_likelihood"), 1), -9582.4);
    // From unrounded spends the paper's 15.44 comes out exactly (the summary file's rounded
    // spends give 15.448).
    assert_eq!(
        ["p", "q", "gamma"].map(|k| round(get("gamma_gamma", k), 2)),
        [6.25, 3.74, 15.44]
    );
    assert_eq!(model["data"]["repeat_buyers"], 946);
    assert_eq!(model["time_unit"], "week");
    assert_eq!(model["calibration_end"], "1997-09-30");
    assert!(get("bgnbd", "log_likelihood").is_finite());
    assert!(model["bgnbd"]["convergence"]["gradient_norm"].as_f64().expect("norm") < 1e-6);

    // Weeks 40-78: the data README's 1,882 actual repeat transactions.
    let holdout = summary["holdout"].as_array().expect("holdout table");
    assert_eq!(holdout.len(), 8);
    let actual: f64 = holdout.iter().map(|r| r["actual"].as_f64().expect("actual")).sum();
    assert_eq!(actual, 1882.0);
    let customers: u64 = holdout.iter().map(|r| r["customers"].as_u64().expect("n")).sum();
    assert_eq!(customers, 2357);

    // Customer 1 is the published point check: x = 2, t_x = 30.43, T = 38.86.
    let table = churn_features::read_table(&dir.join("clv.parquet")).expect("clv.parquet");
    let names: Vec<&str> = table.columns().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "customer_id",
            "p_alive",
            "expected_purchases_365d",
            "p_no_purchase_365d",
            "expected_spend",
            "clv_365d",
            "p_purchase_30d",
            "p_purchase_90d",
            "p_purchase_365d",
            "next_purchase_days",
            "next_purchase_low_days",
            "next_purchase_high_days"
        ]
    );
    let ids = text_column(&table, "customer_id");
    let row = ids.iter().position(|id| id == "0001").expect("customer 0001");
    let p_alive = float_column(&table, "p_alive")[row];
    assert!((p_alive - 0.7266).abs() < 5e-4, "{p_alive}");
    for name in ["p_alive", "p_no_purchase_365d"] {
        assert!(
            float_column(&table, name).iter().all(|p| (0.0..=1.0).contains(p)),
            "{name}"
        );
    }
    // The next purchase: chances that grow with the window, the year's chance equal to one minus
    // the no-purchase column, and a date (median inside its 80 % interval, within the year)
    // exactly when a purchase within the year is likelier than not.
    let (p30, p90, p365) = (
        float_column(&table, "p_purchase_30d"),
        float_column(&table, "p_purchase_90d"),
        float_column(&table, "p_purchase_365d"),
    );
    let no_purchase = float_column(&table, "p_no_purchase_365d");
    let (median, low, high) = (
        optional_float_column(&table, "next_purchase_days"),
        optional_float_column(&table, "next_purchase_low_days"),
        optional_float_column(&table, "next_purchase_high_days"),
    );
    let mut likely = 0;
    for i in 0..p365.len() {
        assert!(
            0.0 <= p30[i] && p30[i] <= p90[i] && p90[i] <= p365[i] && p365[i] <= 1.0,
            "row {i}"
        );
        assert!((p365[i] - (1.0 - no_purchase[i])).abs() < 1e-12, "row {i}");
        match (low[i], median[i], high[i]) {
            (Some(l), Some(m), Some(h)) => {
                assert!(
                    p365[i] >= 0.5 && 0.0 < l && l < m && m < h && h < 365.0,
                    "row {i}: {l} {m} {h}"
                );
                likely += 1;
            }
            (None, None, None) => assert!(p365[i] < 0.5, "row {i}"),
            other => panic!("row {i}: {other:?}"),
        }
    }
    assert!(likely > 0 && likely < p365.len(), "{likely} of {}", p365.len());
    let clv = float_column(&table, "clv_365d");
    let expected = float_column(&table, "expected_purchases_365d");
    let spend = float_column(&table, "expected_spend");
    for i in 0..clv.len() {
        // Discounting only lowers the undiscounted value, and by less than a year of 10 %.
        let plain = expected[i] * spend[i];
        assert!(
            clv[i] <= plain + 1e-9 && clv[i] >= plain / 1.1,
            "row {i}: {} vs {plain}",
            clv[i]
        );
    }

    // Predicting with the saved model gives the same file.
    dir.churn(&[
        "clv",
        "--config",
        "cdnow.toml",
        "--calibration-end",
        "1997-09-30",
        "--model",
        "models/clv.json",
        "--out",
        "again.parquet",
    ])
    .success();
    let again = churn_features::read_table(&dir.join("again.parquet")).expect("again");
    assert_eq!(float_column(&again, "clv_365d"), clv);
}

/// ROC AUC of `scores` for `positive` labels, by counting pairs (ties count half): the test's own
/// computation, independent of the library's metrics.
fn pairwise_auc(scores: &[f64], positive: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    let pos: Vec<f64> = scores
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(s, _)| *s)
        .collect();
    let neg: Vec<f64> = scores
        .iter()
        .zip(positive)
        .filter(|(_, p)| !**p)
        .map(|(s, _)| *s)
        .collect();
    for p in &pos {
        for n in &neg {
            pairs += 1.0;
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / pairs
}

/// Data generated by the BG/NBD process: the fit lands near the generating parameters, and P(alive)
/// ranks the customers who are truly alive above those who dropped out.
#[test]
fn generated_bgnbd_data_recovers_its_parameters_and_p_alive_ranks_the_living() {
    let dir = Dir::new();
    let generated = json(
        &dir.churn(&[
            "generate",
            "--customers",
            "6000",
            "--seed",
            "11",
            "--process",
            "bg-nbd",
            "--format",
            "csv",
            "--out",
            "gen",
            "--json",
        ])
        .success(),
    );
    let truth = &generated["process"];
    dir.write(
        "gen.toml",
        "[input]\ntransactions = \"gen/transactions.csv\"\n[input.columns]\ntimestamp = \"ts\"\norder_id = \"order_id\"\n",
    );
    dir.churn(&[
        "clv",
        "--config",
        "gen.toml",
        "--calibration-end",
        "2023-12-31",
        "--time-unit",
        "day",
        "--model-out",
        "m.json",
        "--out",
        "clv.parquet",
    ])
    .success();
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("m.json")).expect("model")).expect("json");
    let fitted = |k: &str| model["bgnbd"][k].as_f64().expect("parameter");
    let true_value = |k: &str| truth[k].as_f64().expect("truth");
    for (fit_key, truth_key, tolerance) in [
        ("r", "r", 0.2),
        ("alpha", "alpha_days", 0.25),
        ("a", "a", 0.3),
        ("b", "b", 0.3),
    ] {
        let (f, t) = (fitted(fit_key), true_value(truth_key));
        assert!(
            (f - t).abs() <= tolerance * t,
            "{fit_key}: fitted {f}, generated with {t}"
        );
    }

    let table = churn_features::read_table(&dir.join("clv.parquet")).expect("clv.parquet");
    let ids = text_column(&table, "customer_id");
    let p_alive = float_column(&table, "p_alive");
    let truth_csv = std::fs::read_to_string(dir.join("gen/truth.csv")).expect("truth");
    let alive: std::collections::HashMap<String, bool> = truth_csv
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[0].to_string(), fields[4] == "true")
        })
        .collect();
    let labels: Vec<bool> = ids.iter().map(|id| alive[id]).collect();
    let auc = pairwise_auc(&p_alive, &labels);
    assert!(auc > 0.75, "P(alive) AUC {auc}");
}

#[test]
fn clv_values_risk_in_churn_score_and_a_date_mismatch_is_an_error() {
    let dir = Dir::new();
    let config = repo().join("data/sample/churn.toml").display().to_string();
    dir.churn(&["features", "--config", &config, "--out", "features.parquet"])
        .success();
    dir.churn(&["train", "--config", &config, "--model-out", "model.json"])
        .success();
    // The sample's features are as of 2024-01-01: calibration through 2023-12-31.
    dir.churn(&[
        "clv",
        "--config",
        &config,
        "--calibration-end",
        "2023-12-31",
        "--model-out",
        "clv.json",
        "--out",
        "clv.parquet",
    ])
    .success();
    let summary = json(
        &dir.churn(&[
            "score",
            "--features",
            "features.parquet",
            "--model",
            "model.json",
            "--clv",
            "clv.parquet",
            "--out",
            "scores.parquet",
            "--json",
        ])
        .success(),
    );
    assert_eq!(summary["value_basis"], "clv");
    let scores = churn_features::read_table(&dir.join("scores.parquet")).expect("scores");
    let clv = churn_features::read_table(&dir.join("clv.parquet")).expect("clv");
    let clv_by_id: std::collections::HashMap<String, f64> = text_column(&clv, "customer_id")
        .into_iter()
        .zip(float_column(&clv, "clv_365d"))
        .collect();
    let ids = text_column(&scores, "customer_id");
    let p = float_column(&scores, "churn_probability");
    let value = float_column(&scores, "value_at_risk");
    for i in 0..ids.len() {
        let expected = p[i] * clv_by_id[&ids[i]];
        assert!((value[i] - expected).abs() <= 1e-9 * expected.max(1.0), "{}", ids[i]);
    }

    // Lifetime values of another date are refused, naming both dates.
    dir.churn(&[
        "clv",
        "--config",
        &config,
        "--calibration-end",
        "2023-11-30",
        "--model-out",
        "old.json",
        "--out",
        "old.parquet",
    ])
    .success();
    let err = dir
        .churn(&[
            "score",
            "--features",
            "features.parquet",
            "--model",
            "model.json",
            "--clv",
            "old.parquet",
            "--out",
            "scores2.parquet",
        ])
        .failure();
    assert!(err.contains("2023-12-01") && err.contains("2024-01-01"), "{err}");
    assert!(!dir.join("scores2.parquet").exists());
}

#[test]
fn bad_settings_and_impossible_fits_are_clear_errors() {
    let dir = Dir::new();
    cdnow_config(&dir);
    let err = dir
        .churn(&["clv", "--config", "cdnow.toml", "--time-unit", "month"])
        .failure();
    assert!(err.contains("unknown time unit \"month\""), "{err}");

    // The first day of data: everyone has bought once, nobody twice, so BG/NBD cannot be fitted.
    let err = dir
        .churn(&[
            "clv",
            "--config",
            "cdnow.toml",
            "--calibration-end",
            "1997-01-01",
            "--out",
            "clv.parquet",
        ])
        .failure();
    assert!(err.contains("no customer made a repeat purchase"), "{err}");
    assert!(!dir.join("clv.parquet").exists());

    // Before any data.
    let err = dir
        .churn(&["clv", "--config", "cdnow.toml", "--calibration-end", "1996-06-30"])
        .failure();
    assert!(err.contains("1996-07-01"), "{err}");

    // A damaged model file is refused before any work.
    dir.write("broken.json", r#"{"format": "churn-model", "version": 1}"#);
    let err = dir
        .churn(&["clv", "--config", "cdnow.toml", "--model", "broken.json"])
        .failure();
    assert!(err.contains("expected \"churn-clv\""), "{err}");
}

/// The sample's config with `clv.churn_features` on, reading `transactions`, publishing in the test's
/// directory.
fn churn_features_config(dir: &Dir, name: &str, transactions: &std::path::Path, model_features: &str) {
    dir.write(
        name,
        format!(
            r#"
as_of = "2024-01-01"
[input]
transactions = "{}"
[input.columns]
customer_id = "customer_id"
timestamp = "ts"
amount = "amount"
order_id = "order_id"
{model_features}
[clv]
churn_features = true
[run]
output_dir = "output"
models_dir = "models"
"#,
            transactions.display()
        ),
    );
}

#[test]
fn lifetime_values_become_churn_features_fitted_at_each_snapshot() {
    let dir = Dir::new();
    let sample = repo().join("data/sample/transactions.csv");
    churn_features_config(&dir, "cf.toml", &sample, "");
    let trained = json(
        &dir.churn(&["train", "--config", "cf.toml", "--model-out", "model.json", "--json"])
            .success(),
    );
    let columns: Vec<&str> = trained["coefficients"]
        .as_array()
        .expect("coefficients")
        .iter()
        .map(|c| c["column"].as_str().expect("column"))
        .collect();
    assert!(columns.contains(&"recency_days"), "{columns:?}");
    assert!(columns.contains(&"p_alive"), "{columns:?}");
    assert!(columns.contains(&"log1p(expected_purchases_365d)"), "{columns:?}");

    // The training snapshot is 2024-01-01 - 90 days = 2023-10-03: its features must be what
    // `churn clv` computes with calibration through 2023-10-02. The model's scaler holds their mean.
    assert_eq!(trained["training_snapshot"], "2023-10-03");
    dir.churn(&[
        "clv",
        "--config",
        "cf.toml",
        "--calibration-end",
        "2023-10-02",
        "--model-out",
        "c1.json",
        "--out",
        "c1.parquet",
    ])
    .success();
    let clv = churn_features::read_table(&dir.join("c1.parquet")).expect("clv");
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).expect("model")).expect("json");
    let scaler_mean = |column: &str| {
        let j = columns.iter().position(|c| *c == column).expect("column");
        model["scaler"]["mean"][j].as_f64().expect("mean")
    };
    let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len() as f64;
    let p_alive = mean(float_column(&clv, "p_alive"));
    let expected = mean(
        float_column(&clv, "expected_purchases_365d")
            .into_iter()
            .map(f64::ln_1p)
            .collect(),
    );
    assert_eq!(
        trained["customers"].as_u64(),
        Some(float_column(&clv, "p_alive").len() as u64)
    );
    assert!((scaler_mean("p_alive") - p_alive).abs() < 1e-12, "{p_alive}");
    assert!(
        (scaler_mean("log1p(expected_purchases_365d)") - expected).abs() < 1e-12,
        "{expected}"
    );

    // Scoring needs the lifetime values of the scored date, from the same transactions.
    dir.churn(&["features", "--config", "cf.toml", "--out", "features.parquet"])
        .success();
    let score = |clv: Option<&str>, out: &str| {
        let mut args = vec![
            "score",
            "--features",
            "features.parquet",
            "--model",
            "model.json",
            "--out",
            out,
        ];
        if let Some(clv) = clv {
            args.extend(["--clv", clv]);
        }
        dir.churn(&args)
    };
    let err = score(None, "scores.parquet").failure();
    assert!(err.contains("p_alive") && err.contains("--clv"), "{err}");
    dir.churn(&[
        "clv",
        "--config",
        "cf.toml",
        "--calibration-end",
        "2023-12-31",
        "--out",
        "s.parquet",
        "--model-out",
        "s.json",
    ])
    .success();
    score(Some("s.parquet"), "scores.parquet").success();
    let scores = churn_features::read_table(&dir.join("scores.parquet")).expect("scores");
    assert!(float_column(&scores, "churn_probability")
        .iter()
        .all(|p| p.is_finite() && (0.0..=1.0).contains(p)));

    // Lifetime values of other transactions (one row fewer) are refused by their fingerprint.
    let text = std::fs::read_to_string(&sample).expect("sample");
    let shorter = dir.write("other.csv", &text[..text.trim_end().rfind('\n').expect("lines") + 1]);
    churn_features_config(&dir, "other.toml", &shorter, "");
    dir.churn(&[
        "clv",
        "--config",
        "other.toml",
        "--calibration-end",
        "2023-12-31",
        "--out",
        "other.parquet",
        "--model-out",
        "other.json",
    ])
    .success();
    let err = score(Some("other.parquet"), "scores2.parquet").failure();
    assert!(err.contains("other transactions"), "{err}");
    assert!(!dir.join("scores2.parquet").exists());

    // The nightly job reuses the fit at S for value at risk and publishes it.
    dir.churn(&["run", "--config", "cf.toml"]).success();
    let manifest = json(&std::fs::read_to_string(dir.join("output/current/manifest.json")).expect("manifest"));
    assert!(
        manifest["clv"]["total_clv"].as_f64().is_some_and(|v| v > 0.0),
        "{manifest}"
    );
    assert_eq!(manifest["at_risk"]["value_basis"], "clv");
    let published = churn_features::read_table(&dir.join("output/current/clv.parquet")).expect("published");
    assert_eq!(
        float_column(&published, "p_alive"),
        float_column(
            &churn_features::read_table(&dir.join("s.parquet")).expect("s"),
            "p_alive"
        )
    );
}

#[test]
fn lifetime_value_inputs_need_churn_features_on() {
    let dir = Dir::new();
    let sample = repo().join("data/sample/transactions.csv");
    churn_features_config(
        &dir,
        "cf.toml",
        &sample,
        "[model]\nfeatures = [\"recency_days\", \"p_alive\"]",
    );
    // A configured list is taken as written: with churn_features on, it may name p_alive.
    dir.churn(&["train", "--config", "cf.toml", "--model-out", "model.json"])
        .success();
    let text = std::fs::read_to_string(dir.join("cf.toml")).expect("config");
    dir.write(
        "off.toml",
        text.replace("churn_features = true", "churn_features = false"),
    );
    let run = dir.churn(&["train", "--config", "off.toml", "--model-out", "off.json"]);
    let err = run.failure();
    assert_eq!(run.output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("p_alive") && err.contains("churn_features = true"),
        "{err}"
    );
}

#[test]
fn a_customer_whose_rows_are_all_returns_is_neither_scored_nor_valued() {
    // The snapshot and the purchase histories must agree on who is a customer, or value at risk
    // would have no value for someone it scores.
    let dir = Dir::new();
    let mut text = std::fs::read_to_string(repo().join("data/sample/transactions.csv")).expect("sample");
    text.push_str("RETURNS-ONLY,R-1,2023-06-01T10:00:00Z,-20.00,1,home\n");
    let transactions = dir.write("transactions.csv", text);
    churn_features_config(&dir, "churn.toml", &transactions, "");
    dir.churn(&["run", "--config", "churn.toml"]).success();
    let scores = churn_features::read_table(&dir.join("output/current/scores.parquet")).expect("scores");
    assert!(!text_column(&scores, "customer_id").contains(&"RETURNS-ONLY".to_string()));
    let clv = churn_features::read_table(&dir.join("output/current/clv.parquet")).expect("clv");
    assert_eq!(text_column(&clv, "customer_id"), text_column(&scores, "customer_id"));
}
