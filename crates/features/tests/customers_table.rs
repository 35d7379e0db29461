//! The customers table beside the transactions: signups start tenure by the documented rule, the
//! orphans are counted both ways, and a bad table is an error at its line and column.

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use chrono::NaiveDate;
use churn_features::{extract_features, read_log, ColumnMapping, CustomersReport, Error, FeatureParams, InputSpec};

/// Snapshot 2024-02-01. Customers a..e bought; f only returned; g and h are only in the table.
const TRANSACTIONS: &str = "customer_id,ts,amount
a,2024-01-11,10
b,2024-01-21,10
c,2024-01-21,10
d,2024-01-21,10
e,2024-01-21,10
f,2024-01-21,-10
";

fn setup(customers: &str) -> (tempfile::TempDir, InputSpec) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("tx.csv"), TRANSACTIONS).expect("write tx");
    std::fs::write(dir.path().join("customers.csv"), customers).expect("write customers");
    let input = InputSpec {
        transactions: dir.path().join("tx.csv").display().to_string(),
        customers: Some(dir.path().join("customers.csv")),
        columns: ColumnMapping {
            timestamp: "ts".into(),
            ..ColumnMapping::default()
        },
        ..InputSpec::default()
    };
    (dir, input)
}

fn params() -> FeatureParams {
    FeatureParams {
        as_of: NaiveDate::from_ymd_opt(2024, 2, 1),
        ..FeatureParams::default()
    }
}

fn tenure(batch: &RecordBatch) -> Vec<(String, f64)> {
    let ids = batch.column(0).as_string::<i32>();
    let tenure = batch
        .column_by_name("tenure_days")
        .expect("tenure")
        .as_primitive::<Float64Type>();
    (0..batch.num_rows())
        .map(|i| (ids.value(i).to_string(), tenure.value(i)))
        .collect()
}

/// Every branch of the rule, hand-computed: a signed up 10 days before its first purchase (tenure
/// from the signup), b after its first purchase (from the purchase), c after the snapshot (not
/// known yet), d with an empty cell, e without a row; f (only a return), g and h have rows but no
/// purchase.
#[test]
fn signups_start_tenure_by_the_documented_rule_and_orphans_are_counted() {
    let (_dir, input) = setup(
        "customer_id,signup_date,plan
a,2024-01-01,gold
b,2024-01-25,
c,2024-03-01,gold
d,,silver
f,2023-06-01,
g,2023-06-01,
h,2023-07-01T12:00:00Z,
",
    );
    let table = extract_features(&input, &params()).expect("extracts");
    assert_eq!(
        tenure(&table.batch),
        [
            ("a".to_string(), 31.0),
            ("b".to_string(), 11.0),
            ("c".to_string(), 11.0),
            ("d".to_string(), 11.0),
            ("e".to_string(), 11.0),
        ]
    );
    let path = input.customers.as_ref().expect("path").display().to_string();
    assert_eq!(
        table.report.customers_table,
        Some(CustomersReport {
            path,
            signup_column: Some("signup_date".into()),
            rows: 7,
            customers_without_row: 1,
            rows_without_purchase: 3,
            signups_missing: 1,
            signups_used: 1,
            signups_after_first_purchase: 1,
            signups_on_or_after_as_of: 1,
        })
    );
    // The single read gives the same, at every snapshot: on 2024-01-20 only a is in the snapshot,
    // and its signup starts its tenure (19 days).
    let log = read_log(&input, &params()).expect("reads");
    assert_eq!(
        log.features(NaiveDate::from_ymd_opt(2024, 2, 1)).expect("S").batch,
        table.batch
    );
    let early = log.features(NaiveDate::from_ymd_opt(2024, 1, 20)).expect("early");
    assert_eq!(tenure(&early.batch), [("a".to_string(), 19.0)]);
    let counts = early.report.customers_table.expect("counted");
    assert_eq!((counts.signups_used, counts.rows_without_purchase), (1, 6));
}

#[test]
fn without_a_signup_column_tenure_is_unchanged_and_orphans_still_counted() {
    let (_dir, with_table) = setup("customer_id,plan\na,gold\nz,silver\n");
    let plain = InputSpec {
        customers: None,
        ..with_table.clone()
    };
    let table = extract_features(&with_table, &params()).expect("extracts");
    assert_eq!(table.batch, extract_features(&plain, &params()).expect("plain").batch);
    let counts = table.report.customers_table.expect("counted");
    assert_eq!(counts.signup_column, None);
    assert_eq!((counts.customers_without_row, counts.rows_without_purchase), (4, 1));
}

#[test]
fn a_named_signup_column_is_used_and_must_exist() {
    let (_dir, input) = setup("customer_id,created_at\na,2024-01-01\n");
    let named = InputSpec {
        signup_column: Some("created_at".into()),
        ..input.clone()
    };
    let table = extract_features(&named, &params()).expect("extracts");
    assert_eq!(tenure(&table.batch)[0], ("a".to_string(), 31.0));
    let missing = InputSpec {
        signup_column: Some("joined".into()),
        ..input
    };
    let err = extract_features(&missing, &params()).expect_err("no such column");
    let message = err.to_string();
    assert!(message.contains("customers.csv"), "{message}");
    assert!(message.contains("input.signup_column = \"joined\""), "{message}");
    assert!(message.contains("created_at"), "{message}");
}

#[test]
fn a_repeated_customer_is_an_error_naming_both_lines() {
    let (_dir, input) = setup("customer_id,signup_date\na,2024-01-01\nb,2024-01-02\na,2024-01-03\n");
    let message = extract_features(&input, &params()).expect_err("repeated").to_string();
    assert!(message.contains("customers.csv"), "{message}");
    assert!(
        message.contains("line 4: customer \"a\" appears again (first on line 2)"),
        "{message}"
    );
}

#[test]
fn a_bad_signup_is_located_by_line_and_column() {
    for (cell, says) in [
        ("2024-13-01", "cannot parse"),
        ("last tuesday", "cannot parse"),
        ("1900-01-01", "signup 1900-01-01"),
    ] {
        let (_dir, input) = setup(&format!("customer_id,signup_date\na,2024-01-01\nb,{cell}\n"));
        match extract_features(&input, &params()).expect_err(cell) {
            Error::BadValue {
                location,
                column,
                reason,
                ..
            } => {
                assert_eq!(location, churn_features::Location::Line(3), "{cell}");
                assert_eq!(column, "signup_date", "{cell}");
                assert!(reason.contains(says), "{cell}: {reason}");
            }
            other => panic!("{cell}: {other}"),
        }
    }
}

/// A Parquet customers table with a date column, as pandas or DuckDB would write it.
#[test]
fn a_parquet_customers_table_with_dates_reads_like_csv() {
    let (dir, input) = setup("customer_id,signup_date\na,2024-01-01\n");
    let path = dir.path().join("customers.parquet");
    let batch = RecordBatch::try_from_iter([
        (
            "customer_id",
            std::sync::Arc::new(arrow::array::StringArray::from(vec!["a", "b"])) as arrow::array::ArrayRef,
        ),
        (
            "signup_date",
            // 2024-01-01 and 2024-01-25.
            std::sync::Arc::new(arrow::array::Date32Array::from(vec![19_723, 19_747])) as _,
        ),
    ])
    .expect("batch");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).expect("create"), batch.schema(), None)
            .expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    let parquet = InputSpec {
        customers: Some(path),
        ..input.clone()
    };
    let table = extract_features(&parquet, &params()).expect("extracts");
    assert_eq!(
        tenure(&table.batch)[..2],
        [("a".to_string(), 31.0), ("b".to_string(), 11.0)]
    );
    let counts = table.report.customers_table.expect("counted");
    assert_eq!((counts.signups_used, counts.signups_after_first_purchase), (1, 1));
}

/// A CSV customers table is read with the transactions' `input.timestamp_format`, as an export
/// from the same system writes its dates one way.
#[test]
fn signups_in_a_csv_table_follow_the_timestamp_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("tx.csv"), "customer_id,ts,amount\na,11/01/2024,10\n").expect("tx");
    std::fs::write(
        dir.path().join("customers.csv"),
        "customer_id,signup_date\na,01/01/2024\n",
    )
    .expect("customers");
    let input = InputSpec {
        transactions: dir.path().join("tx.csv").display().to_string(),
        customers: Some(dir.path().join("customers.csv")),
        timestamp_format: Some("%d/%m/%Y".into()),
        columns: ColumnMapping {
            timestamp: "ts".into(),
            ..ColumnMapping::default()
        },
        ..InputSpec::default()
    };
    let table = extract_features(&input, &params()).expect("extracts");
    assert_eq!(tenure(&table.batch), [("a".to_string(), 31.0)]);
}
