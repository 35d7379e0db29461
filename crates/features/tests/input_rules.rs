//! The input rules of the README's "Data rules" table that the other tests do not already pin.

use std::sync::Arc;

use arrow::array::{
    AsArray, Date32Array, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, TimestampSecondArray,
};
use arrow::datatypes::Float64Type;
use chrono::NaiveDate;
use churn_features::{extract_features, ColumnMapping, FeatureParams, InputSpec};

fn spec(path: &std::path::Path) -> InputSpec {
    InputSpec {
        transactions: path.display().to_string(),
        columns: ColumnMapping {
            timestamp: "ts".into(),
            ..ColumnMapping::default()
        },
        ..InputSpec::default()
    }
}

fn params() -> FeatureParams {
    FeatureParams {
        as_of: NaiveDate::from_ymd_opt(2024, 2, 1),
        ..FeatureParams::default()
    }
}

/// Writes one batch of named columns to a Parquet file.
fn write_parquet(path: &std::path::Path, columns: Vec<(&str, arrow::array::ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(columns).expect("batch");
    let file = std::fs::File::create(path).expect("create");
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

fn recency(batch: &RecordBatch) -> Vec<f64> {
    batch
        .column_by_name("recency_days")
        .expect("recency")
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

#[test]
fn rows_excluded_by_the_where_filter_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    std::fs::write(
        &path,
        "customer_id,ts,amount,kind\nA,2024-01-01,5,sale\nA,2024-01-02,7,test\nB,2024-01-03,1,test\n",
    )
    .expect("write");
    let input = InputSpec {
        filter: Some("kind <> 'test'".into()),
        ..spec(&path)
    };
    let table = extract_features(&input, &params()).expect("extracts");
    assert_eq!(table.report.rows_filtered_out, 2);
    assert_eq!(table.report.rows_used, 1);
    assert_eq!(table.batch.num_rows(), 1);
}

#[test]
fn whitespace_only_ids_are_missing_and_other_ids_are_kept_verbatim() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    std::fs::write(
        &path,
        "customer_id,ts,amount\n   ,2024-01-01,5\n\"\t\",2024-01-01,5\n x ,2024-01-01,5\n",
    )
    .expect("write");
    let table = extract_features(&spec(&path), &params()).expect("extracts");
    assert_eq!(table.report.rows_missing_customer, 2);
    let ids = table.batch.column(0).as_string::<i32>();
    assert_eq!(ids.value(0), " x ");
}

#[test]
fn files_with_different_headers_are_rejected_naming_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.csv"), "customer_id,ts,amount\nA,2024-01-01,5\n").expect("write");
    std::fs::write(dir.path().join("b.csv"), "customer_id,amount,ts\nA,5,2024-01-01\n").expect("write");
    let err = extract_features(&spec(dir.path()), &params()).expect_err("headers differ");
    let message = err.to_string();
    assert!(message.contains("b.csv") && message.contains("a.csv"), "{message}");
}

#[test]
fn a_directory_and_a_glob_read_every_matching_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("2024-01.csv"),
        "customer_id,ts,amount\nA,2024-01-01,5\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("2024-02.csv"),
        "customer_id,ts,amount\nB,2024-01-05,5\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("notes.md"), "not data").expect("write");
    let from_dir = extract_features(&spec(dir.path()), &params()).expect("directory");
    assert_eq!(from_dir.report.files, 2);
    assert_eq!(from_dir.batch.num_rows(), 2);
    let glob = dir.path().join("2024-0*.csv");
    let from_glob = extract_features(&spec(&glob), &params()).expect("glob");
    assert_eq!(from_glob.batch, from_dir.batch);
    let none = dir.path().join("*.parquet");
    assert!(extract_features(&spec(&none), &params()).is_err());
}

#[test]
fn gzip_csv_reads_like_plain_csv() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "customer_id,ts,amount\nA,2024-01-01,5\nB,2024-01-05T10:00:00+02:00,5\n";
    let plain = dir.path().join("tx.csv");
    std::fs::write(&plain, text).expect("write");
    let gz = dir.path().join("tx.csv.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("create"),
        flate2::Compression::default(),
    );
    encoder.write_all(text.as_bytes()).expect("compress");
    encoder.finish().expect("finish");
    let a = extract_features(&spec(&plain), &params()).expect("plain");
    let b = extract_features(&spec(&gz), &params()).expect("gzip");
    assert_eq!(a.batch, b.batch);
}

#[test]
fn a_repeated_daylight_saving_hour_takes_its_first_occurrence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    // London clocks go back at 02:00 BST on 2023-10-29: 01:30 happens at 00:30 and 01:30 UTC.
    std::fs::write(&path, "customer_id,ts,amount\nA,2023-10-29 01:30:00,5\n").expect("write");
    let input = InputSpec {
        timezone: Some(chrono_tz::Europe::London),
        ..spec(&path)
    };
    let as_of = NaiveDate::from_ymd_opt(2023, 10, 30);
    let table = extract_features(
        &input,
        &FeatureParams {
            as_of,
            ..FeatureParams::default()
        },
    )
    .expect("extracts");
    // 2023-10-30 00:00 UTC minus 2023-10-29 00:30 UTC = 23.5 hours.
    assert_eq!(recency(&table.batch), [23.5 / 24.0]);
}

/// Parquet timestamps in seconds with an offset zone, in milliseconds without a zone, and dates all
/// land on the instant they store.
#[test]
fn parquet_timestamp_units_zones_and_dates_are_instants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, ts: arrow::array::ArrayRef| {
        let path = dir.path().join(name);
        write_parquet(
            &path,
            vec![
                ("customer_id", Arc::new(StringArray::from(vec!["A"])) as _),
                ("ts", ts),
                ("amount", Arc::new(Float64Array::from(vec![5.0])) as _),
            ],
        );
        path
    };
    // 2024-01-31 12:00 UTC, three ways.
    let noon_s = 1_706_702_400i64;
    let zoned = write(
        "s.parquet",
        Arc::new(TimestampSecondArray::from(vec![noon_s]).with_timezone("+02:00")),
    );
    let naive_ms = write(
        "ms.parquet",
        Arc::new(TimestampMillisecondArray::from(vec![noon_s * 1000])),
    );
    let date = write("d.parquet", Arc::new(Date32Array::from(vec![19_753])));
    for path in [zoned, naive_ms] {
        let table = extract_features(&spec(&path), &params()).expect("extracts");
        assert_eq!(recency(&table.batch), [0.5], "{}", path.display());
    }
    // Day 19,753 after 1970-01-01 is 2024-01-31: one day before the snapshot.
    let table = extract_features(&spec(&date), &params()).expect("extracts");
    assert_eq!(recency(&table.batch), [1.0]);
}

#[test]
fn text_timestamps_in_parquet_ask_for_an_expression() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.parquet");
    write_parquet(
        &path,
        vec![
            ("customer_id", Arc::new(StringArray::from(vec!["A"])) as _),
            ("ts", Arc::new(StringArray::from(vec!["2024-01-01"])) as _),
            ("amount", Arc::new(Float64Array::from(vec![5.0])) as _),
        ],
    );
    let err = extract_features(&spec(&path), &params()).expect_err("text timestamp");
    assert!(err.to_string().contains("to_timestamp_micros"), "{err}");
}

#[test]
fn a_nan_amount_in_parquet_is_located_by_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nan.parquet");
    write_parquet(
        &path,
        vec![
            ("customer_id", Arc::new(StringArray::from(vec!["A", "B", "C"])) as _),
            ("ts", Arc::new(Date32Array::from(vec![19_700, 19_701, 19_702])) as _),
            ("amount", Arc::new(Float64Array::from(vec![1.0, 2.0, f64::NAN])) as _),
        ],
    );
    let err = extract_features(&spec(&path), &params()).expect_err("NaN");
    let message = err.to_string();
    assert!(message.contains("nan.parquet: row 2, column \"amount\""), "{message}");
    assert!(message.contains("not a finite number"), "{message}");
}

#[test]
fn zero_padded_ids_stay_text_inside_expressions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    std::fs::write(&path, "cust,ts,amount\n007,2024-01-01,5\n7,2024-01-02,5\n").expect("write");
    let mut input = spec(&path);
    input.columns.customer_id = "trim(cust)".into();
    let table = extract_features(&input, &params()).expect("extracts");
    let ids = table.batch.column(0).as_string::<i32>();
    assert_eq!((ids.value(0), ids.value(1)), ("007", "7"));
}

/// This crate's directory as cargo gives it to the running test. The value compiled in can name
/// another checkout: a target directory shared between checkouts reuses a test built in one of them.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

/// A committed fixture from `tests/fixtures/parquet` (see its `make_fixtures.py`).
fn fixture(name: &str) -> std::path::PathBuf {
    manifest_dir().join("../../tests/fixtures/parquet").join(name)
}

fn three_rows(
    dir: &std::path::Path,
    name: &str,
    ids: Vec<Option<&str>>,
    amount: arrow::array::ArrayRef,
) -> std::path::PathBuf {
    let path = dir.join(name);
    write_parquet(
        &path,
        vec![
            ("customer_id", Arc::new(StringArray::from(ids)) as _),
            ("ts", Arc::new(Date32Array::from(vec![19_700, 19_701, 19_702])) as _),
            ("amount", amount),
        ],
    );
    path
}

#[test]
fn parquet_columns_of_the_wrong_type_name_the_type_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = three_rows(
        dir.path(),
        "t.parquet",
        vec![Some("A"), Some("B"), Some("C")],
        Arc::new(StringArray::from(vec!["1", "2", "3"])),
    );
    let err = extract_features(&spec(&path), &params()).expect_err("text amounts");
    assert!(err.to_string().contains("amount must be numeric, found Utf8"), "{err}");
}

#[test]
fn parquet_nulls_in_required_columns_are_all_located_by_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nulls.parquet");
    write_parquet(
        &path,
        vec![
            (
                "customer_id",
                Arc::new(StringArray::from(vec!["A", "B", "C", "D"])) as _,
            ),
            (
                "ts",
                Arc::new(Date32Array::from(vec![Some(19_700), None, Some(19_702), Some(19_703)])) as _,
            ),
            (
                "amount",
                Arc::new(Float64Array::from(vec![Some(1.0), Some(2.0), None, Some(4.0)])) as _,
            ),
        ],
    );
    let err = extract_features(&spec(&path), &params()).expect_err("nulls");
    let places: Vec<String> = err
        .problems()
        .iter()
        .map(|p| {
            let (_, location, column) = p.place();
            format!(
                "{} {}",
                location.map(|l| l.to_string()).unwrap_or_default(),
                column.unwrap_or("")
            )
        })
        .collect();
    assert_eq!(places, ["row 1 ts", "row 2 amount"], "{err}");
}

#[test]
fn parquet_ids_follow_the_text_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let amounts = || Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0])) as arrow::array::ArrayRef;
    // Null and "NULL" are missing: dropped and counted.
    let path = three_rows(
        dir.path(),
        "missing.parquet",
        vec![Some("A"), None, Some("NULL")],
        amounts(),
    );
    let table = extract_features(&spec(&path), &params()).expect("extracts");
    assert_eq!(table.report.customers, 1);
    assert_eq!(table.report.rows_missing_customer, 2);
    // A control character is rejected at its row.
    let path = three_rows(
        dir.path(),
        "tab.parquet",
        vec![Some("A"), Some("B"), Some("C\tD")],
        amounts(),
    );
    let err = extract_features(&spec(&path), &params()).expect_err("tab in an id");
    assert!(
        err.to_string().contains("tab.parquet: row 2, column \"customer_id\""),
        "{err}"
    );
    assert!(err.to_string().contains("U+0009"), "{err}");
}

#[test]
fn parquet_timestamps_before_the_minimum_date_are_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.parquet");
    write_parquet(
        &path,
        vec![
            ("customer_id", Arc::new(StringArray::from(vec!["A", "B"])) as _),
            // Day 0 is 1970-01-01: a zero epoch placeholder.
            ("ts", Arc::new(Date32Array::from(vec![19_700, 0])) as _),
            ("amount", Arc::new(Float64Array::from(vec![1.0, 2.0])) as _),
        ],
    );
    let err = extract_features(&spec(&path), &params()).expect_err("placeholder date");
    assert!(err.to_string().contains("old.parquet: row 1, column \"ts\""), "{err}");
    assert!(err.to_string().contains("before input.min_date (1990-01-01)"), "{err}");
    let lowered = FeatureParams {
        min_date: NaiveDate::from_ymd_opt(1960, 1, 1).expect("date"),
        ..params()
    };
    let table = extract_features(&spec(&path), &lowered).expect("accepted once the minimum is lowered");
    assert_eq!(table.report.customers, 2);
}

#[test]
fn parquet_integer_timestamps_need_an_epoch_unit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("epoch.parquet");
    write_parquet(
        &path,
        vec![
            ("customer_id", Arc::new(StringArray::from(vec!["A"])) as _),
            // 2024-01-31 12:00:00 UTC in milliseconds.
            (
                "ts",
                Arc::new(arrow::array::Int64Array::from(vec![1_706_702_400_000])) as _,
            ),
            ("amount", Arc::new(Float64Array::from(vec![1.0])) as _),
        ],
    );
    let err = extract_features(&spec(&path), &params()).expect_err("no unit");
    assert!(err.to_string().contains("unix_ms"), "{err}");
    let mut input = spec(&path);
    input.timestamp_format = Some("unix_ms".into());
    let table = extract_features(&input, &params()).expect("with a unit");
    assert_eq!(recency(&table.batch), [0.5]);
}

#[test]
fn parquet_decimal_amounts_are_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cents = arrow::array::Decimal128Array::from(vec![1_005i128, 2_010, -15])
        .with_precision_and_scale(12, 2)
        .expect("decimal");
    let path = three_rows(
        dir.path(),
        "dec.parquet",
        vec![Some("A"), Some("A"), Some("A")],
        Arc::new(cents),
    );
    let table = extract_features(&spec(&path), &params()).expect("extracts");
    let monetary = table
        .batch
        .column_by_name("monetary_total")
        .expect("monetary")
        .as_primitive::<Float64Type>()
        .value(0);
    // 10.05 + 20.10 - 0.15, summed in integer cents.
    assert_eq!(monetary, 30.0);
}

#[test]
fn parquet_int96_timestamps_are_read_as_instants() {
    let table = extract_features(&spec(&fixture("int96.parquet")), &params()).expect("extracts");
    // a's last purchase is 2024-01-10 08:30 UTC, b's 2024-01-20 23:59:59 UTC; the snapshot 2024-02-01.
    let expected = [21.0 + 15.5 / 24.0, 11.0 + 1.0 / 86_400.0];
    for (got, want) in recency(&table.batch).iter().zip(expected) {
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }
}

#[test]
fn parquet_page_checksums_are_verified() {
    let good = fixture("checksummed.parquet");
    extract_features(&spec(&good), &params()).expect("the intact file reads");
    let mut bytes = std::fs::read(&good).expect("read fixture");
    // Flip a bit of the value 1234.5 inside the dictionary page (the first place its bytes occur;
    // later copies are statistics, which the checksum does not cover).
    let needle = 1234.5f64.to_le_bytes();
    let at = bytes.windows(8).position(|w| w == needle).expect("value in the page");
    bytes[at] ^= 0x01;
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("flipped.parquet");
    std::fs::write(&bad, bytes).expect("write");
    let err = extract_features(&spec(&bad), &params()).expect_err("a flipped bit must not pass");
    assert!(
        err.to_string().contains("flipped.parquet: is corrupt: row group 0"),
        "{err}"
    );
    assert!(err.to_string().to_lowercase().contains("checksum"), "{err}");
}

#[test]
fn a_zero_byte_parquet_file_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.parquet");
    std::fs::write(&path, b"").expect("write");
    let err = extract_features(&spec(&path), &params()).expect_err("empty");
    assert!(
        err.to_string().contains("empty.parquet: file is empty (0 bytes)"),
        "{err}"
    );
}

/// A file from `tests/fixtures/writers` (see its `make_writers.py`): one log as each library saves it.
fn written_by(name: &str) -> std::path::PathBuf {
    manifest_dir().join("../../tests/fixtures/writers").join(name)
}

fn all_roles(path: &std::path::Path) -> InputSpec {
    InputSpec {
        columns: ColumnMapping {
            timestamp: "ts".into(),
            order_id: Some("order_id".into()),
            quantity: Some("quantity".into()),
            category: Some("category".into()),
            ..ColumnMapping::default()
        },
        ..spec(path)
    }
}

fn f64_column(batch: &RecordBatch, name: &str) -> Vec<f64> {
    arrow::compute::cast(
        batch.column_by_name(name).expect(name),
        &arrow::datatypes::DataType::Float64,
    )
    .expect("cast")
    .as_primitive::<Float64Type>()
    .values()
    .to_vec()
}

/// pyarrow, pandas, Polars and DuckDB encode the same lines as dictionaries, large strings, string
/// views, unsigned and narrow integers, DECIMAL(20, 0) ids, decimals, and timestamps of every unit
/// with and without a zone: each reads to the features of the same lines as CSV, to the bit.
#[test]
fn parquet_as_each_library_writes_it_reads_like_the_csv() {
    let csv = extract_features(&all_roles(&written_by("lines.csv")), &params()).expect("the CSV reads");
    // Hand-computed: customers 313, 42, 7 (byte order); 7 bought 12.50 + 2.25 in order 1001; 42
    // bought 20.00 and returned 5.00 in another order.
    let ids: Vec<&str> = csv.batch.column(0).as_string::<i32>().iter().flatten().collect();
    assert_eq!(ids, ["313", "42", "7"]);
    assert_eq!(f64_column(&csv.batch, "monetary_total"), [30.0, 15.0, 14.75]);
    assert_eq!(f64_column(&csv.batch, "frequency"), [1.0, 1.0, 1.0]);
    for name in [
        "pyarrow.parquet",
        "pyarrow_large.parquet",
        "pandas.parquet",
        "polars.parquet",
        "duckdb.parquet",
    ] {
        let parquet = extract_features(&all_roles(&written_by(name)), &params())
            .unwrap_or_else(|e| panic!("{name} does not read: {e}"));
        assert_eq!(parquet.batch, csv.batch, "{name}");
        assert_eq!(parquet.report.rows_used, 5, "{name}");
    }
}

/// Custom SQL features see the mapped columns whatever their encoding (a dictionary or a string
/// view once panicked in a downcast).
#[test]
fn custom_features_read_every_writers_encoding() {
    let custom = |path: std::path::PathBuf| {
        let params = FeatureParams {
            custom: vec![churn_features::CustomFeature {
                name: "categories".into(),
                sql: "count(DISTINCT category)".into(),
            }],
            ..params()
        };
        let table = extract_features(&all_roles(&path), &params).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        f64_column(&table.batch, "categories")
    };
    assert_eq!(custom(written_by("lines.csv")), [1.0, 2.0, 2.0]);
    for name in ["pyarrow.parquet", "pandas.parquet", "polars.parquet", "duckdb.parquet"] {
        assert_eq!(custom(written_by(name)), [1.0, 2.0, 2.0], "{name}");
    }
    assert_eq!(custom(written_by("pyarrow_large.parquet")), [0.0, 0.0, 0.0]);
}

/// pandas turns an integer id column with a missing value into float64: refused, saying what to do.
#[test]
fn float_ids_are_refused_with_the_pandas_remedy() {
    let err = extract_features(&spec(&written_by("pandas_float_ids.parquet")), &params()).expect_err("float ids");
    let message = err.to_string();
    assert!(
        message.contains("customer_id must be text or an integer column, found Float64"),
        "{message}"
    );
    assert!(message.contains("nullable \"Int64\""), "{message}");
}

/// Order 1001 under customers a and b (lines 2 and 4), 1002 under c twice: one shared order.
const SHARED_ORDER_LOG: &str = "customer_id,order_id,ts,amount
a,1001,2024-01-05,10
c,1002,2024-01-06,5
b,1001,2024-01-07,20
c,1002,2024-01-06,6
,1002,2024-01-08,1
";

#[test]
fn an_order_under_two_customers_is_counted_and_kept_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    std::fs::write(&path, SHARED_ORDER_LOG).expect("write");
    let input = all_roles(&path);
    let input = InputSpec {
        columns: ColumnMapping {
            quantity: None,
            category: None,
            ..input.columns
        },
        ..input
    };
    let table = extract_features(&input, &params()).expect("warns, not refuses");
    assert_eq!(table.report.shared_orders, 1);
    // Each customer keeps their lines: a and b each have one order.
    assert_eq!(f64_column(&table.batch, "frequency"), [1.0, 1.0, 1.0]);
    assert_eq!(f64_column(&table.batch, "monetary_total"), [10.0, 20.0, 11.0]);

    let reject = FeatureParams {
        shared_orders: churn_features::SharedOrders::Reject,
        ..params()
    };
    let message = extract_features(&input, &reject).expect_err("refused").to_string();
    assert!(
        message.starts_with("1 order ids appear under more than one customer"),
        "{message}"
    );
    assert!(
        message.contains("order \"1001\" under customer \"a\" (tx.csv line 2) and customer \"b\" (tx.csv line 4)"),
        "{message}"
    );
}

#[test]
fn shared_orders_in_parquet_are_located_by_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.parquet");
    write_parquet(
        &path,
        vec![
            ("customer_id", Arc::new(StringArray::from(vec!["a", "c", "b"])) as _),
            ("order_id", Arc::new(arrow::array::Int64Array::from(vec![7, 8, 7])) as _),
            ("ts", Arc::new(Date32Array::from(vec![19_700, 19_701, 19_702])) as _),
            ("amount", Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0])) as _),
        ],
    );
    let input = InputSpec {
        columns: ColumnMapping {
            timestamp: "ts".into(),
            order_id: Some("order_id".into()),
            ..ColumnMapping::default()
        },
        ..spec(&path)
    };
    let reject = FeatureParams {
        shared_orders: churn_features::SharedOrders::Reject,
        ..params()
    };
    let message = extract_features(&input, &reject).expect_err("refused").to_string();
    assert!(
        message.contains("order \"7\" under customer \"a\" (tx.parquet row 0) and customer \"b\" (tx.parquet row 2)"),
        "{message}"
    );
}

/// Naive Parquet timestamps are wall-clock times: UTC, or `input.timezone` by the text reader's
/// rule (a repeated hour takes its first occurrence; a time in the gap is rejected at its row).
#[test]
fn naive_parquet_timestamps_are_read_in_the_configured_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, wall: Vec<&str>| {
        let path = dir.path().join(name);
        let micros: Vec<i64> = wall
            .iter()
            .map(|t| {
                chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M")
                    .expect("wall")
                    .and_utc()
                    .timestamp_micros()
            })
            .collect();
        let n = micros.len();
        write_parquet(
            &path,
            vec![
                ("customer_id", Arc::new(StringArray::from(vec!["A"; n])) as _),
                (
                    "ts",
                    Arc::new(arrow::array::TimestampMicrosecondArray::from(micros)) as _,
                ),
                ("amount", Arc::new(Float64Array::from(vec![5.0; n])) as _),
            ],
        );
        path
    };
    let london = |path: &std::path::Path| InputSpec {
        timezone: Some("Europe/London".parse().expect("zone")),
        ..spec(path)
    };
    // 2024-01-31 12:00 in London is 12:00 UTC (winter); the summer's 12:00 is 11:00 UTC; 01:30 on
    // 2023-10-29 happened twice: the first is 00:30 UTC.
    let winter = write("w.parquet", vec!["2024-01-31 12:00"]);
    let table = extract_features(&london(&winter), &params()).expect("extracts");
    assert_eq!(recency(&table.batch), [0.5]);
    let summer = write("s.parquet", vec!["2023-07-01 12:00", "2023-10-29 01:30"]);
    let table = extract_features(&london(&summer), &params()).expect("extracts");
    let tenure = f64_column(&table.batch, "tenure_days");
    let first_us = chrono::NaiveDate::from_ymd_opt(2023, 7, 1)
        .expect("date")
        .and_hms_opt(11, 0, 0)
        .expect("time")
        .and_utc()
        .timestamp_micros();
    let as_of_us = chrono::NaiveDate::from_ymd_opt(2024, 2, 1)
        .expect("date")
        .and_hms_opt(0, 0, 0)
        .expect("time")
        .and_utc()
        .timestamp_micros();
    assert_eq!(tenure, [(as_of_us - first_us) as f64 / 86_400e6]);
    let last_us = as_of_us - (recency(&table.batch)[0] * 86_400e6).round() as i64;
    assert_eq!(
        chrono::DateTime::from_timestamp_micros(last_us)
            .expect("instant")
            .to_rfc3339(),
        "2023-10-29T00:30:00+00:00"
    );
    // Without a zone the same file is UTC.
    let utc = extract_features(&spec(&winter), &params()).expect("extracts");
    assert_eq!(recency(&utc.batch), [0.5]);

    let gap = write("g.parquet", vec!["2024-01-02 10:00", "2023-03-26 01:30"]);
    let message = extract_features(&london(&gap), &params())
        .expect_err("a gap")
        .to_string();
    assert!(message.contains("g.parquet: row 1, column \"ts\""), "{message}");
    assert!(
        message.contains("does not exist in time zone Europe/London"),
        "{message}"
    );
}

/// Text stored as bytes (older Spark and Impala exports): refused with the cast that reads it,
/// and the cast reads it.
#[test]
fn binary_text_is_refused_with_the_cast_that_reads_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bin.parquet");
    write_parquet(
        &path,
        vec![
            (
                "customer_id",
                Arc::new(arrow::array::BinaryArray::from(vec![&b"a"[..], &b"b"[..]])) as _,
            ),
            ("ts", Arc::new(Date32Array::from(vec![19_700, 19_701])) as _),
            ("amount", Arc::new(Float64Array::from(vec![1.0, 2.0])) as _),
        ],
    );
    let message = extract_features(&spec(&path), &params())
        .expect_err("binary ids")
        .to_string();
    assert!(message.contains("CAST(customer_id AS VARCHAR)"), "{message}");
    let cast = InputSpec {
        columns: ColumnMapping {
            customer_id: "CAST(customer_id AS VARCHAR)".into(),
            timestamp: "ts".into(),
            ..ColumnMapping::default()
        },
        ..spec(&path)
    };
    let table = extract_features(&cast, &params()).expect("the cast reads it");
    assert_eq!(table.batch.num_rows(), 2);
}
