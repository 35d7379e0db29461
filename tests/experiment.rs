//! End-to-end tests of measured retention: `uplift.csv` against a count made here from the
//! transactions, reading nothing at or after the night's as-of, measured once and carried over.

mod util;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDate;
use util::{repo, Dir};

fn sample_config(dir: &Dir, transactions: &Path) {
    util::sample_config(dir, transactions, "");
}

/// A CSV file as rows of named fields.
fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            headers
                .iter()
                .map(String::from)
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

fn manifest(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).expect("manifest")).expect("json")
}

/// Per customer with a row in `[from, to)`: (bought there, net cents there), from a file with the
/// generator's columns (`customer_id, order_id, ts, amount, ...`, no quoting).
fn window_outcomes(transactions: &Path, from: NaiveDate, to: NaiveDate) -> HashMap<String, (bool, i64)> {
    let text = std::fs::read_to_string(transactions).expect("transactions");
    let mut out: HashMap<String, (bool, i64)> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let day = NaiveDate::parse_from_str(&f[2][..10], "%Y-%m-%d").expect("date");
        if day < from || day >= to {
            continue;
        }
        let cents = (f[3].parse::<f64>().expect("amount") * 100.0).round() as i64;
        let e = out.entry(f[0].to_string()).or_default();
        e.0 |= cents > 0;
        e.1 += cents;
    }
    out
}

#[test]
fn uplift_measures_each_ended_window_once_from_rows_before_the_night() {
    let dir = Dir::new();
    let transactions = repo().join("data/sample/transactions.csv");
    sample_config(&dir, &transactions);
    let night = |as_of: &str| {
        dir.churn(&["run", "--config", "churn.toml", "-q", "--as-of", as_of])
            .success();
        std::fs::canonicalize(dir.join("output/current")).expect("current")
    };
    let first = night("2023-09-01");
    // The first night has nothing to measure: uplift.csv is its header.
    let header = std::fs::read_to_string(first.join("uplift.csv")).expect("uplift.csv");
    assert_eq!(header.lines().count(), 1, "{header}");
    // The window [2023-09-01, 2023-11-30) has not ended on 2023-11-29.
    let early = night("2023-11-29");
    assert_eq!(rows(&early.join("uplift.csv")).len(), 0);
    let second = night("2023-12-01");
    let uplift = rows(&second.join("uplift.csv"));
    let run_id = manifest(&first)["run_id"].as_str().expect("run id").to_string();
    assert!(!uplift.is_empty() && uplift.iter().all(|r| r["measured_run"] == run_id));
    assert!(uplift
        .iter()
        .all(|r| r["as_of"] == "2023-09-01" && r["window_end"] == "2023-11-30"));

    // Every cell against a count made here from night 1's two lists and the transactions.
    let outcomes = window_outcomes(
        &transactions,
        NaiveDate::from_ymd_opt(2023, 9, 1).expect("date"),
        NaiveDate::from_ymd_opt(2023, 11, 30).expect("date"),
    );
    // (action, segment) -> [(customers, retained, cents); treatment, control]
    type Cell = [(u64, u64, i64); 2];
    let mut cells: BTreeMap<(String, String), Cell> = BTreeMap::new();
    for (group, file) in [(0, "at_risk.csv"), (1, "holdout.csv")] {
        for c in rows(&first.join(file)) {
            let (bought, cents) = outcomes.get(&c["customer_id"]).copied().unwrap_or_default();
            let action = c["recommended_action"].clone();
            let segment = c["segment"].clone();
            for key in [
                (action.clone(), segment.clone()),
                (action.clone(), "all".into()),
                ("all".into(), segment.clone()),
                ("all".into(), "all".into()),
            ] {
                let cell = &mut cells.entry(key).or_default()[group];
                cell.0 += 1;
                cell.1 += u64::from(bought);
                cell.2 += cents;
            }
        }
    }
    assert_eq!(uplift.len(), cells.len());
    assert_eq!(
        (uplift[0]["action"].as_str(), uplift[0]["segment"].as_str()),
        ("all", "all")
    );
    for row in &uplift {
        let [t, c] = cells[&(row["action"].clone(), row["segment"].clone())];
        let field = |name: &str| row[name].parse::<f64>().unwrap_or_else(|_| panic!("{name} in {row:?}"));
        assert_eq!(
            [
                &row["treatment_customers"],
                &row["control_customers"],
                &row["treatment_retained"],
                &row["control_retained"]
            ],
            [&t.0.to_string(), &c.0.to_string(), &t.1.to_string(), &c.1.to_string()],
            "{row:?}"
        );
        if t.0 == 0 || c.0 == 0 {
            // One group is empty: counts, no comparison.
            assert!(
                row["retained_uplift"].is_empty() && row["incremental_revenue"].is_empty(),
                "{row:?}"
            );
            assert!(!row["note"].is_empty(), "{row:?}");
            continue;
        }
        let uplift = t.1 as f64 / t.0 as f64 - c.1 as f64 / c.0 as f64;
        assert!((field("retained_uplift") - uplift).abs() < 1e-6, "{row:?}");
        let revenue = t.2 as f64 / 100.0 / t.0 as f64 - c.2 as f64 / 100.0 / c.0 as f64;
        assert!(
            (field("revenue_uplift_per_customer") - revenue).abs() < 0.006,
            "{row:?}"
        );
        assert!(
            (field("incremental_revenue") - revenue * t.0 as f64).abs() < 0.01 * t.0 as f64,
            "{row:?}"
        );
        // Intervals exactly when both groups have 30 customers, else a note.
        let enough = t.0 >= 30 && c.0 >= 30;
        assert_eq!(row["retained_uplift_low"].is_empty(), !enough, "{row:?}");
        assert_eq!(row["note"].is_empty(), enough, "{row:?}");
        if enough {
            assert!(field("retained_uplift_low") <= uplift && uplift <= field("retained_uplift_high"));
            assert!(field("revenue_uplift_low") <= revenue + 0.005 && revenue - 0.005 <= field("revenue_uplift_high"));
        }
    }
    let m = manifest(&second);
    assert_eq!(m["uplift"]["measured_tonight"], serde_json::json!([run_id]));
    assert_eq!(m["uplift"]["latest"]["measured_run"], run_id);
    let report = std::fs::read_to_string(second.join("report.html")).expect("report");
    assert!(report.contains("Did it work?"), "the report has the uplift section");

    // Nothing at or after the night's as-of is read: the rows from 2023-12-01 on, changed or
    // gone, give the same uplift.csv.
    let text = std::fs::read_to_string(&transactions).expect("sample");
    let mut before: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains(",2023-12") && !l.contains(",2024-"))
        .collect();
    before.push("C0000001,late-1,2023-12-05T10:00:00Z,999.00,1,books");
    let truncated = dir.write("truncated.csv", before.join("\n") + "\n");
    let other = Dir::new();
    sample_config(&other, &truncated);
    for as_of in ["2023-09-01", "2023-12-01"] {
        other
            .churn(&["run", "--config", "churn.toml", "-q", "--as-of", as_of])
            .success();
    }
    let again = std::fs::canonicalize(other.join("output/current")).expect("current");
    let without_run_id = |rows: Vec<HashMap<String, String>>| {
        rows.into_iter()
            .map(|mut r| {
                r.remove("measured_run");
                r
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        without_run_id(rows(&again.join("uplift.csv"))),
        without_run_id(uplift.clone())
    );

    // The next night carries the measured rows over instead of measuring them again...
    let third = night("2023-12-10");
    assert_eq!(
        std::fs::read(third.join("uplift.csv")).expect("uplift"),
        std::fs::read(second.join("uplift.csv")).expect("uplift")
    );
    let m = manifest(&third);
    assert_eq!(
        (
            m["uplift"]["carried"].as_u64(),
            m["uplift"]["measured_tonight"].as_array().map(Vec::len)
        ),
        (Some(1), Some(0))
    );
    // ...and a lost uplift.csv is measured again, to the same rows.
    std::fs::remove_file(third.join("uplift.csv")).expect("remove");
    let fourth = night("2023-12-11");
    assert_eq!(
        std::fs::read(fourth.join("uplift.csv")).expect("uplift"),
        std::fs::read(second.join("uplift.csv")).expect("uplift")
    );
    assert_eq!(
        manifest(&fourth)["uplift"]["measured_tonight"],
        serde_json::json!([run_id])
    );
}

/// The sample's action table with a cost and a prior uplift per action.
const PRICED_ACTIONS: &str = r#"
[[score.actions]]
band = "high"
rfm_segments = ["Champions", "Loyal", "Can't lose them"]
action = "VIP outreach"
cost = 25.0
expected_uplift = 0.2

[[score.actions]]
band = "high"
action = "win-back offer"
cost = 5.0
expected_uplift = 0.1

[[score.actions]]
band = "medium"
action = "service call"
cost = 8.0
expected_uplift = 0.05

[[score.actions]]
band = "low"
action = "no action"
"#;

/// The list a budget allows, replayed here from `scores.parquet` (every customer's value at risk,
/// band and action): gain = value at risk x prior - cost, positive gains only, highest first and
/// then by id, controls set aside, stopping where the budget ends.
fn replay(run: &Path, contacts: Option<usize>, money: Option<f64>) -> (Vec<String>, Vec<String>) {
    let table = churn_features::read_table(&run.join("scores.parquet")).expect("scores");
    let column = |name: &str| {
        table
            .columns()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("{name}"))
    };
    let texts = |name: &str| match column(name) {
        churn_core::Column::Text(v) => v,
        churn_core::Column::OptionalText(v) => v.into_iter().map(Option::unwrap_or_default).collect(),
        other => panic!("{name}: {other:?}"),
    };
    let values = match column("value_at_risk") {
        churn_core::Column::Float64(v) => v,
        other => panic!("{other:?}"),
    };
    let (ids, bands, actions) = (texts("customer_id"), texts("risk_band"), texts("recommended_action"));
    let prices: HashMap<&str, (f64, f64)> = HashMap::from([
        ("VIP outreach", (25.0, 0.2)),
        ("win-back offer", (5.0, 0.1)),
        ("service call", (8.0, 0.05)),
    ]);
    let mut ranked: Vec<(f64, f64, &String)> = (0..ids.len())
        .filter(|&i| bands[i] != "low")
        .filter_map(|i| {
            let (cost, uplift) = prices.get(actions[i].as_str())?;
            let gain = values[i] * uplift - cost;
            (gain > 0.0).then_some((gain, *cost, &ids[i]))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.2.cmp(b.2)));
    let holdout = churn_score::Holdout {
        share: 0.1,
        salt: "sample-retention".into(),
    };
    let (mut listed, mut held, mut spent) = (Vec::new(), Vec::new(), 0.0);
    for (_, cost, id) in ranked {
        if contacts.is_some_and(|n| listed.len() >= n) || money.is_some_and(|m| spent + cost > m) {
            break;
        }
        if holdout.is_control(id) {
            held.push(id.clone());
        } else {
            spent += cost;
            listed.push(id.clone());
        }
    }
    (listed, held)
}

#[test]
fn a_budget_keeps_the_customers_of_highest_expected_gain_exactly() {
    let ids = |path: &Path| {
        rows(path)
            .into_iter()
            .map(|r| r["customer_id"].clone())
            .collect::<Vec<_>>()
    };
    for (budget, contacts, money) in [
        ("contact_budget = 40", Some(40), None),
        ("budget = 333.0", None, Some(333.0)),
    ] {
        let dir = Dir::new();
        sample_config(&dir, &repo().join("data/sample/transactions.csv"));
        let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
        dir.write("churn.toml", format!("{config}\n{PRICED_ACTIONS}\n[run]\n{budget}\n"));
        let out = dir
            .churn(&["run", "--config", "churn.toml", "--as-of", "2023-12-01"])
            .success();
        assert!(out.contains("ranked by expected gain"), "{out}");
        let run = std::fs::canonicalize(dir.join("output/current")).expect("current");
        let list = rows(&run.join("at_risk.csv"));
        let (listed, held) = replay(&run, contacts, money);
        assert_eq!(ids(&run.join("at_risk.csv")), listed, "{budget}");
        assert_eq!(ids(&run.join("holdout.csv")), held, "{budget}");
        assert!(!listed.is_empty() && !held.is_empty(), "{budget}");
        let header = std::fs::read_to_string(run.join("at_risk.csv")).expect("csv");
        assert!(
            header.starts_with(&churn_score::AT_RISK_GAIN_COLUMNS.join(",")),
            "{budget}"
        );
        assert!(list.iter().all(|r| r["schema_version"] == "4"));
        // The written gain is value at risk x prior - cost, and descends.
        let gains: Vec<f64> = list.iter().map(|r| r["expected_gain"].parse().expect("gain")).collect();
        assert!(gains.windows(2).all(|w| w[0] >= w[1]) && gains.iter().all(|g| *g > 0.0));
        let m = manifest(&run);
        let b = &m["at_risk"]["budget"];
        assert_eq!(m["at_risk"]["customers"], listed.len());
        match (contacts, money) {
            (Some(n), _) => assert_eq!(listed.len(), n),
            (_, Some(limit)) => {
                let spent = b["spent"].as_f64().expect("spent");
                assert!(spent <= limit && spent > limit - 25.0, "{spent}");
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn a_budget_needs_priced_actions_and_one_limit() {
    let dir = Dir::new();
    sample_config(&dir, &repo().join("data/sample/transactions.csv"));
    let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
    dir.write("churn.toml", format!("{config}\n[run]\ncontact_budget = 10\n"));
    let out = dir.churn(&["run", "--config", "churn.toml"]).failure();
    assert!(out.contains("\"VIP outreach\" has no cost"), "{out}");
    dir.write(
        "churn.toml",
        format!("{config}\n{PRICED_ACTIONS}\n[run]\ncontact_budget = 10\nbudget = 5.0\n"),
    );
    let out = dir.churn(&["run", "--config", "churn.toml"]).failure();
    assert!(out.contains("both set"), "{out}");
    assert!(!dir.join("output/current").exists());
}

/// Customers with a purchase line in `[from, to)` in a generated CSV.
fn buyers(transactions: &Path, from: NaiveDate, to: NaiveDate) -> std::collections::HashSet<String> {
    window_outcomes(transactions, from, to)
        .into_iter()
        .filter_map(|(id, (bought, _))| bought.then_some(id))
        .collect()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

/// Night 1 lists customers and holds some out; the generator continues the population with the
/// list treated (a known effect); night 2 measures it. The true effect on the listed customers is
/// known from the same seed generated with all of them treated and with none: their two potential
/// outcomes.
#[test]
fn the_measured_uplift_covers_the_effect_the_generator_planted() {
    let dir = Dir::new();
    let generate = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--customers",
            "4000",
            "--seed",
            "5",
            "--start",
            "2022-01-01",
            "--end",
            "2024-01-01",
            "--mean-days-between-orders",
            "45",
            "--format",
            "csv",
            "--out",
            out,
            "-q",
        ];
        args.extend_from_slice(extra);
        dir.churn(&args).success();
        dir.join(out).join("transactions.csv")
    };
    let first = generate("night1", &[]);
    sample_config(&dir, &first);
    let config = std::fs::read_to_string(dir.join("churn.toml")).expect("config");
    let config = config
        .replace("share = 0.1", "share = 0.4")
        .replace("as_of = \"2024-01-01\"", "");
    dir.write("churn.toml", &config);
    dir.churn(&["run", "--config", "churn.toml", "-q", "--as-of", "2024-01-01"])
        .success();
    let night1 = std::fs::canonicalize(dir.join("output/current")).expect("night 1");

    let treated = "--treated";
    let list = night1.join("at_risk.csv").display().to_string();
    let continued = generate(
        "night2",
        &["--continue-to", "2024-04-15", treated, &list, "--effect", "0.6"],
    );
    // Both potential outcomes of every customer of the list (treated and held out).
    let mut everyone = std::fs::read_to_string(night1.join("at_risk.csv")).expect("list");
    for line in std::fs::read_to_string(night1.join("holdout.csv"))
        .expect("holdout")
        .lines()
        .skip(1)
    {
        everyone.push_str(line);
        everyone.push('\n');
    }
    let all_listed = dir.write("everyone.csv", &everyone);
    let untreated = generate("untreated", &["--continue-to", "2024-04-15"]);
    let all_treated = generate(
        "all-treated",
        &[
            "--continue-to",
            "2024-04-15",
            treated,
            &all_listed.display().to_string(),
            "--effect",
            "0.6",
        ],
    );

    dir.write(
        "churn.toml",
        config.replace(&first.display().to_string(), &continued.display().to_string()),
    );
    dir.churn(&["run", "--config", "churn.toml", "-q", "--as-of", "2024-04-01"])
        .success();
    let night2 = std::fs::canonicalize(dir.join("output/current")).expect("night 2");
    let total = rows(&night2.join("uplift.csv"))
        .into_iter()
        .next()
        .expect("a total row");
    assert_eq!((total["action"].as_str(), total["segment"].as_str()), ("all", "all"));

    let (from, to) = (day(2024, 1, 1), day(2024, 3, 31));
    let (y0, y1) = (buyers(&untreated, from, to), buyers(&all_treated, from, to));
    let listed: Vec<String> = everyone
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or("").to_string())
        .collect();
    let truth = listed
        .iter()
        .map(|id| f64::from(u8::from(y1.contains(id))) - f64::from(u8::from(y0.contains(id))))
        .sum::<f64>()
        / listed.len() as f64;
    let field = |name: &str| {
        total[name]
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("{name}: {total:?}"))
    };
    let (low, high) = (field("retained_uplift_low"), field("retained_uplift_high"));
    eprintln!(
        "true effect {truth:.4}; measured {} [{low}, {high}]",
        total["retained_uplift"]
    );
    assert!(truth > 0.02, "the planted effect is visible: {truth}");
    assert!(
        low <= truth && truth <= high,
        "[{low}, {high}] misses the true effect {truth}"
    );
    // The measured groups are night 1's list and control group, and the control customers were
    // never treated.
    let truth_file = std::fs::read_to_string(dir.join("night2/truth.csv")).expect("truth");
    let holdout = churn_score::Holdout {
        share: 0.4,
        salt: "sample-retention".into(),
    };
    assert!(truth_file
        .lines()
        .skip(1)
        .all(|l| !(l.ends_with(",true,true") || l.ends_with(",true,false")) || !holdout.is_control(&l[..8])));
    assert_eq!(
        field("treatment_customers") as usize + field("control_customers") as usize,
        listed.len()
    );
}

/// The coverage of the retention uplift's 95 % interval, over 40 generated experiments: each
/// lists the customers active in the year before the end, holds half of them out, treats the rest
/// with a known effect, measures the window through the real read of the log and compares the
/// interval with the true effect on the list (both potential outcomes generated from the seed).
#[test]
fn the_retention_interval_covers_the_true_effect_in_about_95_percent_of_experiments() {
    use churn_features::generate::{generate, GenerateParams, OutputFormat, Treatment};
    use churn_features::{read_log, ColumnMapping, FeatureParams, InputSpec};
    use churn_score::uplift::{estimate, GroupOutcomes};

    let (end, window_end, until) = (day(2024, 1, 1), day(2024, 3, 31), day(2024, 4, 1));
    // Per experiment: the interval, and the list's own effect with its size.
    let mut experiments: Vec<(churn_score::uplift::Interval, f64, usize)> = Vec::new();
    for seed in 0..40u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut params = GenerateParams::new(2_000, 100 + seed, day(2022, 1, 1), end);
        params.format = OutputFormat::Csv;
        params.mean_days_between_orders = 40.0;
        params.continue_to = Some(until);
        let world = |name: &str, treated: std::collections::HashSet<String>| {
            let mut p = params.clone();
            p.treatment = Some(Treatment { treated, effect: 0.4 });
            generate(&p, &dir.path().join(name), &mut |_| {})
                .expect("generates")
                .transactions
        };
        let untreated = world("untreated", Default::default());
        let listed: Vec<String> = buyers(&untreated, day(2023, 1, 1), end).into_iter().collect();
        let holdout = churn_score::Holdout {
            share: 0.5,
            salt: format!("coverage-{seed}"),
        };
        let treated: std::collections::HashSet<String> =
            listed.iter().filter(|id| !holdout.is_control(id)).cloned().collect();
        let all_treated = world("all", listed.iter().cloned().collect());
        let experiment = world("experiment", treated.clone());

        let (y0, y1) = (
            buyers(&untreated, end, window_end),
            buyers(&all_treated, end, window_end),
        );
        let effect = listed
            .iter()
            .map(|id| f64::from(u8::from(y1.contains(id))) - f64::from(u8::from(y0.contains(id))))
            .sum::<f64>()
            / listed.len() as f64;

        let input = InputSpec {
            transactions: experiment.display().to_string(),
            columns: ColumnMapping {
                timestamp: "ts".into(),
                order_id: Some("order_id".into()),
                ..ColumnMapping::default()
            },
            ..InputSpec::default()
        };
        let activity = read_log(&input, &FeatureParams::default())
            .expect("reads")
            .activity(end, window_end)
            .expect("window");
        let (mut t, mut c) = (GroupOutcomes::default(), GroupOutcomes::default());
        for id in &listed {
            let (orders, cents) = activity.get(id).unwrap_or((0, 0));
            let group = if treated.contains(id) { &mut t } else { &mut c };
            group.add(orders > 0, cents as f64 / 100.0);
        }
        let interval = estimate(&t, &c).retained_interval.expect("an interval");
        assert!(effect > 0.0, "seed {seed}: the effect is planted ({effect})");
        experiments.push((interval, effect, listed.len()));
    }
    // The true effect of the treatment on such a list, the estimand of an interval built from two
    // independent samples: the listed customers' effects pooled over all 40 populations. (Each
    // list's own effect is covered more often than 95 %: a customer's two outcomes are mostly the
    // same, which a two-sample interval does not know.)
    let listed: usize = experiments.iter().map(|e| e.2).sum();
    let truth = experiments.iter().map(|e| e.1 * e.2 as f64).sum::<f64>() / listed as f64;
    let covered = experiments
        .iter()
        .filter(|(i, _, _)| i.low <= truth && truth <= i.high)
        .count();
    let widths: Vec<f64> = experiments.iter().map(|(i, _, _)| i.high - i.low).collect();
    eprintln!("truth {truth:.4}; covered {covered} of 40");
    // 38 expected; 34 or more happens with probability 0.986 when the coverage is 95 %.
    assert!(
        covered >= 34,
        "the interval covered the true effect {truth:.4} in {covered} of 40 experiments"
    );
    let mean_width = widths.iter().sum::<f64>() / widths.len() as f64;
    assert!(
        mean_width < 0.2,
        "intervals {mean_width:.3} wide on average: too wide to mean anything"
    );
}
