//! `churn features` end to end: the README quick start, the real public data sets, and bad input.

mod util;

use util::{repo, Dir};

const CONFIG: &str = r#"
[input]
transactions = "tx.csv"
[input.columns]
customer_id = "customer_id"
timestamp = "ts"
amount = "amount"
"#;

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).expect("stdout is one JSON object")
}

#[test]
fn the_readme_quick_start_runs_on_the_sample() {
    let dir = Dir::new();
    let config = repo().join("data/sample/churn.toml");
    let out = dir.join("features.parquet");
    let stdout = dir
        .churn(&[
            "features",
            "--config",
            config.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--json",
        ])
        .success();
    let summary = json(&stdout);
    assert_eq!(summary["as_of"], "2024-01-01");
    assert_eq!(summary["rows"]["read"], 22_724);
    assert!(
        summary["customers"].as_u64().is_some_and(|n| n > 1_000 && n <= 2_000),
        "{summary}"
    );
    assert!(out.exists());
}

#[test]
fn the_same_input_gives_a_byte_identical_feature_file() {
    let dir = Dir::new();
    let config = repo().join("data/sample/churn.toml");
    let config = config.to_str().expect("utf-8");
    dir.churn(&["features", "--config", config, "--out", "a.parquet", "--quiet"])
        .success();
    dir.churn(&[
        "features",
        "--config",
        config,
        "--out",
        "b.parquet",
        "--quiet",
        "--threads",
        "1",
    ])
    .success();
    let a = std::fs::read(dir.join("a.parquet")).expect("a");
    let b = std::fs::read(dir.join("b.parquet")).expect("b");
    assert!(a == b, "outputs differ between runs");
}

/// The CDNOW master file (whitespace separated, zero-padded string ids, YYYYMMDD dates, no order ids)
/// against an independent computation of the same features written directly in this test.
#[test]
fn cdnow_master_matches_an_independent_computation() {
    use std::collections::BTreeMap;
    use std::io::Read;

    let dir = Dir::new();
    let fixture = repo().join("tests/fixtures/cdnow/CDNOW_master.txt.gz");
    dir.write(
        "cdnow.toml",
        format!(
            r#"
as_of = "1997-10-01"
[input]
transactions = "{}"
delimiter = "whitespace"
timestamp_format = "%Y%m%d"
[input.columns]
customer_id = "customer_id"
timestamp = "date"
amount = "dollar_value"
quantity = "number_of_cds"
"#,
            fixture.display()
        ),
    );
    let stdout = dir
        .churn(&["features", "--config", "cdnow.toml", "--out", "f.parquet", "--json"])
        .success();
    let summary = json(&stdout);

    // The reference: parse the text by hand, aggregate in a BTreeMap (byte order of ids).
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&fixture).expect("fixture"))
        .read_to_string(&mut text)
        .expect("gunzip");
    let as_of = chrono::NaiveDate::from_ymd_opt(1997, 10, 1).expect("date");
    #[derive(Default)]
    struct Agg {
        purchases: i64,
        cents: i64,
        last: Option<chrono::NaiveDate>,
        first: Option<chrono::NaiveDate>,
    }
    let mut reference: BTreeMap<String, Agg> = BTreeMap::new();
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        rows += 1;
        let date = chrono::NaiveDate::parse_from_str(f[1], "%Y%m%d").expect("date");
        if date >= as_of {
            continue;
        }
        let amount: f64 = f[3].parse().expect("amount");
        let agg = reference.entry(f[0].to_string()).or_default();
        agg.cents += (amount * 100.0).round() as i64;
        if amount > 0.0 {
            agg.purchases += 1;
            agg.last = agg.last.max(Some(date));
            agg.first = Some(agg.first.map_or(date, |d| d.min(date)));
        }
    }
    reference.retain(|_, a| a.purchases > 0);
    assert_eq!(summary["rows"]["read"], rows);
    assert_eq!(summary["rows"]["read"], 69_659);
    assert_eq!(summary["customers"], reference.len() as u64);

    // Compare every customer through the Parquet file, read back with the library.
    let table = churn_features::FeatureTable::read_parquet(&dir.join("f.parquet")).expect("read back");
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, Int64Type};
    let batch = &table.batch;
    let ids = batch.column_by_name("customer_id").expect("ids").as_string::<i32>();
    let frequency = batch
        .column_by_name("frequency")
        .expect("f")
        .as_primitive::<Int64Type>();
    let monetary = batch
        .column_by_name("monetary_total")
        .expect("m")
        .as_primitive::<Float64Type>();
    let recency = batch
        .column_by_name("recency_days")
        .expect("r")
        .as_primitive::<Float64Type>();
    let tenure = batch
        .column_by_name("tenure_days")
        .expect("t")
        .as_primitive::<Float64Type>();
    for (i, (id, agg)) in reference.iter().enumerate() {
        assert_eq!(ids.value(i), id, "row {i}: ids in byte order, zero padding kept");
        assert_eq!(frequency.value(i), agg.purchases, "{id} frequency");
        assert_eq!(monetary.value(i), agg.cents as f64 / 100.0, "{id} monetary_total");
        let days = |d: Option<chrono::NaiveDate>| (as_of - d.expect("purchase")).num_days() as f64;
        assert_eq!(recency.value(i), days(agg.last), "{id} recency");
        assert_eq!(tenure.value(i), days(agg.first), "{id} tenure");
    }
}

/// The first 20,000 lines of Online Retail II: a header with a space in a column name, amounts as an
/// expression, a row filter, missing customer ids and real duplicate rows. Reference numbers were
/// computed independently with Python's csv module (see the closing note of the issue).
#[test]
fn online_retail_reads_with_an_expression_mapping() {
    let dir = Dir::new();
    let fixture = repo().join("tests/fixtures/online_retail_ii/online_retail_II_first_20000.csv.gz");
    dir.write(
        "retail.toml",
        format!(
            r#"
as_of = "2010-01-01"
[input]
transactions = "{}"
where = "Invoice NOT LIKE 'A%'"
[input.columns]
customer_id = '"Customer ID"'
timestamp = "InvoiceDate"
amount = "Quantity * Price"
order_id = "Invoice"
"#,
            fixture.display()
        ),
    );
    let stdout = dir
        .churn(&["features", "--config", "retail.toml", "--out", "f.parquet", "--json"])
        .success();
    let summary = json(&stdout);
    assert_eq!(summary["rows"]["read"], 20_000);
    assert_eq!(summary["rows"]["missing_customer_id"], 4_849);
    assert_eq!(summary["rows"]["duplicate"], 207);
    assert_eq!(summary["customers"], 560);

    let table = churn_features::FeatureTable::read_parquet(&dir.join("f.parquet")).expect("read back");
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, Int64Type};
    let batch = &table.batch;
    let ids = batch.column_by_name("customer_id").expect("ids").as_string::<i32>();
    let row = (0..batch.num_rows())
        .find(|&i| ids.value(i) == "13085")
        .expect("customer 13085");
    // Four invoices with purchases, net 1,096.80 after the cancellation lines.
    assert_eq!(
        batch
            .column_by_name("frequency")
            .expect("f")
            .as_primitive::<Int64Type>()
            .value(row),
        4
    );
    assert_eq!(
        batch
            .column_by_name("monetary_total")
            .expect("m")
            .as_primitive::<Float64Type>()
            .value(row),
        1096.8
    );
}

#[test]
fn a_missing_column_names_the_columns_found_and_writes_nothing() {
    let dir = Dir::new();
    dir.write("churn.toml", CONFIG);
    dir.write("tx.csv", "customer_id,timestamp,amount\nA,2024-01-01,1.00\n");
    let stderr = dir
        .churn(&["features", "--config", "churn.toml", "--out", "f.parquet"])
        .failure();
    assert!(stderr.contains("tx.csv"), "{stderr}");
    assert!(stderr.contains("no column \"ts\""), "{stderr}");
    assert!(stderr.contains("customer_id, timestamp, amount"), "{stderr}");
    assert!(!dir.join("f.parquet").exists());
}

#[test]
fn a_bad_timestamp_is_reported_on_its_physical_line_after_blank_lines_and_quoted_newlines() {
    let dir = Dir::new();
    dir.write("churn.toml", CONFIG);
    // Line 1 header, 2 data, 3 blank, 4-5 one record with a quoted newline, 6 blank, 7 the bad value.
    dir.write(
        "tx.csv",
        "customer_id,ts,amount,note\nA,2024-01-01,1.00,\n\nB,2024-01-02,2.00,\"two\nlines\"\n\r\nC,2024-02-30,3.00,\n",
    );
    let stderr = dir
        .churn(&["features", "--config", "churn.toml", "--out", "f.parquet"])
        .failure();
    assert!(stderr.contains("tx.csv: line 7, column \"ts\""), "{stderr}");
    assert!(stderr.contains("2024-02-30"), "{stderr}");
    assert!(!dir.join("f.parquet").exists());
}

#[test]
fn a_nan_amount_is_rejected_with_its_line() {
    let dir = Dir::new();
    dir.write("churn.toml", CONFIG);
    dir.write("tx.csv", "customer_id,ts,amount\nA,2024-01-01,1.00\nB,2024-01-02,NaN\n");
    let stderr = dir
        .churn(&["features", "--config", "churn.toml", "--out", "f.parquet"])
        .failure();
    assert!(stderr.contains("line 3, column \"amount\""), "{stderr}");
    assert!(stderr.contains("not a finite number"), "{stderr}");
    assert!(!dir.join("f.parquet").exists());
}

#[test]
fn an_invalid_amount_from_an_expression_is_located_too() {
    let dir = Dir::new();
    dir.write(
        "churn.toml",
        "[input]\ntransactions = \"tx.csv\"\n[input.columns]\ncustomer_id = \"c\"\ntimestamp = \"t\"\namount = \"q * p\"\n",
    );
    dir.write("tx.csv", "c,t,q,p\nA,2024-01-01,1,2.5\nB,2024-01-02,,3\n");
    let stderr = dir
        .churn(&["features", "--config", "churn.toml", "--out", "f.parquet"])
        .failure();
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("amount = q * p"), "{stderr}");
}

#[test]
fn an_empty_file_is_rejected() {
    let dir = Dir::new();
    dir.write("churn.toml", CONFIG);
    dir.write("tx.csv", "");
    let stderr = dir
        .churn(&["features", "--config", "churn.toml", "--out", "f.parquet"])
        .failure();
    assert!(stderr.contains("tx.csv: file is empty"), "{stderr}");
    assert!(!dir.join("f.parquet").exists());
}

#[test]
fn a_header_only_file_is_rejected() {
    let dir = Dir::new();
    dir.write("churn.toml", CONFIG);
    dir.write("tx.csv", "customer_id,ts,amount\n");
    let stderr = dir
        .churn(&["features", "--config", "churn.toml", "--out", "f.parquet"])
        .failure();
    assert!(stderr.contains("has a header but no data rows"), "{stderr}");
    assert!(!dir.join("f.parquet").exists());
}

#[test]
fn a_wrong_field_count_names_the_line_and_hints_at_the_delimiter() {
    let dir = Dir::new();
    dir.write("churn.toml", CONFIG);
    dir.write(
        "tx.csv",
        "customer_id,ts,amount\nA,2024-01-01,1.00\nB;2024-01-02;2.00\n",
    );
    let stderr = dir
        .churn(&["features", "--config", "churn.toml", "--out", "f.parquet"])
        .failure();
    assert!(stderr.contains("line 3: has 1 fields, expected 3"), "{stderr}");
    assert!(stderr.contains("delimiter"), "{stderr}");
}

fn generated_parquet(dir: &Dir) -> std::path::PathBuf {
    dir.churn(&[
        "generate",
        "--customers",
        "50",
        "--seed",
        "3",
        "--out",
        "gen",
        "--quiet",
    ])
    .success();
    dir.join("gen/transactions.parquet")
}

#[test]
fn a_truncated_parquet_file_is_rejected_and_nothing_is_written() {
    let dir = Dir::new();
    let parquet = generated_parquet(&dir);
    let bytes = std::fs::read(&parquet).expect("read");
    dir.write("cut.parquet", &bytes[..bytes.len() / 2]);
    dir.write(
        "churn.toml",
        "[input]\ntransactions = \"cut.parquet\"\n[input.columns]\ncustomer_id = \"customer_id\"\ntimestamp = \"ts\"\namount = \"amount\"\n",
    );
    let stderr = dir
        .churn(&["features", "--config", "churn.toml", "--out", "f.parquet"])
        .failure();
    assert!(stderr.contains("cut.parquet"), "{stderr}");
    assert!(stderr.contains("not a readable Parquet file"), "{stderr}");
    assert!(!dir.join("f.parquet").exists());
}

#[test]
fn a_csv_file_named_parquet_is_called_out() {
    let dir = Dir::new();
    dir.write("tx.parquet", "customer_id,ts,amount\nA,2024-01-01,1.00\n");
    let stderr = dir
        .churn(&["features", "--input", "tx.parquet", "--out", "f.parquet"])
        .failure();
    assert!(stderr.contains("PAR1"), "{stderr}");
}

#[test]
fn generated_parquet_reads_with_the_generator_mapping() {
    let dir = Dir::new();
    generated_parquet(&dir);
    dir.write(
        "churn.toml",
        "[input]\ntransactions = \"gen/transactions.parquet\"\n[input.columns]\ncustomer_id = \"customer_id\"\ntimestamp = \"ts\"\namount = \"amount\"\norder_id = \"order_id\"\n",
    );
    let summary = json(
        &dir.churn(&["features", "--config", "churn.toml", "--out", "f.parquet", "--json"])
            .success(),
    );
    assert_eq!(summary["customers"], 50);
    // The default snapshot is the day after the last transaction, which is before the period's end.
    let as_of = summary["as_of"].as_str().expect("as_of");
    assert!(("2023-12-02".."2024-01-02").contains(&as_of), "{as_of}");
}

#[test]
fn a_typo_in_the_config_is_a_usage_error() {
    let dir = Dir::new();
    dir.write("churn.toml", "[input]\ntransaction = \"tx.csv\"\n");
    let run = dir.churn(&["features", "--config", "churn.toml"]);
    let stderr = run.failure();
    assert_eq!(run.output.status.code(), Some(2));
    assert!(stderr.contains("unknown field `transaction`"), "{stderr}");
}
