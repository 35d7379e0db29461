//! Every v1 feature against values computed by hand on a small fixture (see the comments beside each
//! row), from CSV and from Parquet; plus the population rule, the counters and the output round trip.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema, TimeUnit};
use chrono::NaiveDate;
use churn_features::{extract_features, ColumnMapping, FeatureParams, FeatureTable, InputSpec};

/// As of 2024-04-01: S-30d = 2024-03-02, S-90d = 2024-01-02, S-365d = 2023-04-02.
const FIXTURE: &str = "\
customer_id,order_id,ts,amount,quantity,category
A,o1,2023-01-15 10:00:00,100.00,1,x
A,o1,2023-01-15 10:00:00,50.00,2,y
A,o2,2024-01-02 00:00:00,20.00,1,x
A,o2,2024-01-02 00:00:00,-5.00,1,x
A,o3,2024-03-31T23:59:59Z,10.10,1,x
A,o4,2024-04-01 00:00:00,999.00,1,x
B,,2024-03-15,7.00,1,z
B,,2024-03-15,7.00,1,z
B,o9,2024-02-01,-3.00,1,z
C,o8,2024-01-01 08:00:00,10.00,1,x
C,o5,2024-01-01T23:59:59+00:00,40.00,1,x
,o6,2024-02-01,5.00,1,x
D,o7,2024-02-10,-8.00,1,x
";

const DAY_SECONDS: f64 = 86_400.0;

fn as_of() -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(2024, 4, 1)
}

fn mapping() -> ColumnMapping {
    ColumnMapping {
        customer_id: "customer_id".into(),
        timestamp: "ts".into(),
        amount: "amount".into(),
        order_id: Some("order_id".into()),
        quantity: Some("quantity".into()),
        category: Some("category".into()),
    }
}

fn extract(path: &std::path::Path, params: FeatureParams) -> FeatureTable {
    let input = InputSpec {
        transactions: path.display().to_string(),
        columns: mapping(),
        ..InputSpec::default()
    };
    extract_features(&input, &params).expect("fixture extracts")
}

fn params() -> FeatureParams {
    FeatureParams {
        as_of: as_of(),
        ..FeatureParams::default()
    }
}

fn f64_col(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let col = batch.column_by_name(name).expect(name).as_primitive::<Float64Type>();
    (0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i))).collect()
}

fn i64_col(batch: &RecordBatch, name: &str) -> Vec<i64> {
    batch
        .column_by_name(name)
        .expect(name)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

fn i32_col(batch: &RecordBatch, name: &str) -> Vec<i32> {
    batch
        .column_by_name(name)
        .expect(name)
        .as_primitive::<Int32Type>()
        .values()
        .to_vec()
}

fn str_col(batch: &RecordBatch, name: &str) -> Vec<String> {
    let col = batch.column_by_name(name).expect(name).as_string::<i32>();
    (0..col.len()).map(|i| col.value(i).to_string()).collect()
}

fn assert_close(actual: &[Option<f64>], expected: &[Option<f64>], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        match (a, e) {
            (Some(a), Some(e)) => assert!((a - e).abs() <= 1e-9 * e.abs().max(1.0), "{what}[{i}]: {a} != {e}"),
            (None, None) => {}
            _ => panic!("{what}[{i}]: {a:?} != {e:?}"),
        }
    }
}

fn check_fixture_features(table: &FeatureTable) {
    let batch = &table.batch;
    // D has only a return and the blank id is missing: neither is in the snapshot.
    assert_eq!(str_col(batch, "customer_id"), ["A", "B", "C"]);
    // A: last purchase 1 s before S; B: 2024-03-15; C: 90 days and 1 s before S.
    assert_close(
        &f64_col(batch, "recency_days"),
        &[Some(1.0 / DAY_SECONDS), Some(17.0), Some(90.0 + 1.0 / DAY_SECONDS)],
        "recency",
    );
    // A: o1, o2, o3 (o4 is at S). B: two order-less rows are two orders; the o9 return is no order.
    // C: two orders on the same day.
    assert_eq!(i64_col(batch, "frequency"), [3, 2, 2]);
    // A: 100 + 50 + 20 - 5 + 10.10; B: 7 + 7 - 3 (the duplicate is kept); C: 10 + 40.
    assert_close(
        &f64_col(batch, "monetary_total"),
        &[Some(175.10), Some(11.0), Some(50.0)],
        "monetary_total",
    );
    assert_close(
        &f64_col(batch, "monetary_avg_order"),
        &[Some(175.10 / 3.0), Some(5.5), Some(25.0)],
        "avg order",
    );
    // A: first purchase 2023-01-15 10:00; 2023-01-15 to 2024-01-15 is 365 days, then 17 + 29 + 31
    // days to 2024-04-01 (leap February), so 442 days minus 10 hours. C: 2024-01-01 08:00.
    let tenure_a = 442.0 - 10.0 / 24.0;
    let tenure_c = 90.0 + 16.0 / 24.0;
    assert_close(
        &f64_col(batch, "tenure_days"),
        &[Some(tenure_a), Some(17.0), Some(tenure_c)],
        "tenure",
    );
    assert_close(
        &f64_col(batch, "spend_30d"),
        &[Some(10.10), Some(14.0), Some(0.0)],
        "spend_30d",
    );
    // The o2 rows sit exactly on S - 90 days and count; C's rows are one second earlier and do not.
    assert_close(
        &f64_col(batch, "spend_90d"),
        &[Some(25.10), Some(11.0), Some(0.0)],
        "spend_90d",
    );
    assert_close(
        &f64_col(batch, "spend_365d"),
        &[Some(25.10), Some(11.0), Some(50.0)],
        "spend_365d",
    );
    assert_eq!(i64_col(batch, "orders_90d"), [2, 2, 0]);
    let between_a = (tenure_a - 1.0 / DAY_SECONDS) / 2.0;
    let between_c = (16.0 * 3600.0 - 1.0) / DAY_SECONDS;
    assert_close(
        &f64_col(batch, "avg_days_between_orders"),
        &[Some(between_a), Some(0.0), Some(between_c)],
        "between",
    );
    assert_close(
        &f64_col(batch, "return_ratio"),
        &[Some(5.0 / 180.10), Some(3.0 / 14.0), Some(0.0)],
        "return_ratio",
    );
    // Three customers: the best scores 1 + floor(5 * 2 / 3) = 4, the middle 2, the worst 1.
    assert_eq!(i32_col(batch, "r_score"), [4, 2, 1]);
    // Frequencies 3, 2, 2: the tie shares the lowest score.
    assert_eq!(i32_col(batch, "f_score"), [4, 1, 1]);
    assert_eq!(i32_col(batch, "m_score"), [4, 1, 2]);
    assert_eq!(str_col(batch, "rfm_segment"), ["Champions", "Hibernating", "Lost"]);
}

#[test]
fn every_v1_feature_matches_hand_computed_values_from_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    std::fs::write(&path, FIXTURE).expect("write fixture");
    let table = extract(&path, params());
    check_fixture_features(&table);
    assert_eq!(table.as_of, as_of().expect("date"));
    let report = &table.report;
    assert_eq!(report.rows_read, 13);
    assert_eq!(report.rows_missing_customer, 1);
    assert_eq!(report.rows_on_or_after_as_of, 1);
    assert_eq!(report.rows_duplicate, 1);
    assert_eq!(report.rows_used, 11);
    assert_eq!(report.customers, 3);
    assert_eq!(report.customers_without_purchase, 1);
}

#[test]
fn dropping_duplicates_removes_the_repeated_order_less_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    std::fs::write(&path, FIXTURE).expect("write fixture");
    let table = extract(
        &path,
        FeatureParams {
            drop_duplicates: true,
            ..params()
        },
    );
    assert_eq!(i64_col(&table.batch, "frequency"), [3, 1, 2]);
    assert_close(
        &f64_col(&table.batch, "monetary_total"),
        &[Some(175.10), Some(4.0), Some(50.0)],
        "monetary_total",
    );
    assert_eq!(table.report.rows_used, 10);
}

#[test]
fn skipping_the_duplicate_count_changes_nothing_but_the_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    std::fs::write(&path, FIXTURE).expect("write fixture");
    let table = extract(
        &path,
        FeatureParams {
            count_duplicates: false,
            ..params()
        },
    );
    check_fixture_features(&table);
    assert_eq!(table.batch, extract(&path, params()).batch);
    assert_eq!(table.report.rows_duplicate, 0);
    assert_eq!(table.report.rows_used, 11);
    // Dropping duplicates needs the grouping, so it still happens.
    let dropped = extract(
        &path,
        FeatureParams {
            count_duplicates: false,
            drop_duplicates: true,
            ..params()
        },
    );
    assert_eq!(dropped.report.rows_used, 10);
}

/// Writes the fixture as Parquet with typed columns, parsing it independently of the crate.
fn fixture_as_parquet(path: &std::path::Path) {
    let mut ids = Vec::new();
    let mut orders = Vec::new();
    let mut ts = Vec::new();
    let mut amounts = Vec::new();
    let mut quantities = Vec::new();
    let mut categories = Vec::new();
    for line in FIXTURE.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        ids.push((!f[0].is_empty()).then(|| f[0].to_string()));
        orders.push((!f[1].is_empty()).then(|| f[1].to_string()));
        let text = f[2].trim_end_matches('Z').replace("+00:00", "").replace('T', " ");
        let naive = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| {
                chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
            })
            .expect("fixture timestamp");
        ts.push(naive.and_utc().timestamp_micros());
        amounts.push(f[3].parse::<f64>().expect("amount"));
        quantities.push(f[4].parse::<i64>().expect("quantity"));
        categories.push(f[5].to_string());
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, true),
        Field::new("order_id", DataType::Utf8, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("amount", DataType::Float64, false),
        Field::new("quantity", DataType::Int64, false),
        Field::new("category", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from(orders)),
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(Int64Array::from(quantities)),
            Arc::new(StringArray::from(categories)),
        ],
    )
    .expect("batch");
    let file = std::fs::File::create(path).expect("create");
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

#[test]
fn csv_and_parquet_inputs_give_identical_features() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("tx.csv");
    std::fs::write(&csv, FIXTURE).expect("write fixture");
    let parquet = dir.path().join("tx.parquet");
    fixture_as_parquet(&parquet);
    let from_csv = extract(&csv, params());
    let from_parquet = extract(&parquet, params());
    check_fixture_features(&from_parquet);
    assert_eq!(from_csv.batch, from_parquet.batch);
    assert_eq!(from_csv.report.rows_read, from_parquet.report.rows_read);
}

#[test]
fn the_feature_file_round_trips_with_its_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("tx.csv");
    std::fs::write(&csv, FIXTURE).expect("write fixture");
    let table = extract(&csv, params());
    let out = dir.path().join("features.parquet");
    table.write_parquet(&out).expect("write");
    let back = FeatureTable::read_parquet(&out).expect("read");
    assert_eq!(back.batch, table.batch);
    assert_eq!(back.as_of, table.as_of);
    assert_eq!(back.fingerprint, table.fingerprint);
    assert!(table.fingerprint.starts_with("blake3:"));
    // The fingerprint follows the content, not the name.
    let copy = dir.path().join("copy.csv");
    std::fs::copy(&csv, &copy).expect("copy");
    assert_eq!(churn_features::fingerprint(&[copy]).expect("hash"), table.fingerprint);
    // Nothing but the output is left behind in the directory.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn the_default_as_of_is_the_day_after_the_last_transaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("tx.csv");
    std::fs::write(&csv, FIXTURE).expect("write fixture");
    let table = extract(&csv, FeatureParams::default());
    // The last row is A's o4 at 2024-04-01 00:00.
    assert_eq!(table.as_of, NaiveDate::from_ymd_opt(2024, 4, 2).expect("date"));
    assert_eq!(table.report.rows_on_or_after_as_of, 0);
}

#[test]
fn ids_are_compared_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("tx.csv");
    std::fs::write(
        &csv,
        "customer_id,ts,amount\n007,2024-01-01,1\n7,2024-01-01,1\n7 ,2024-01-01,1\nb,2024-01-01,1\nB,2024-01-01,1\n",
    )
    .expect("write");
    let input = InputSpec {
        transactions: csv.display().to_string(),
        columns: ColumnMapping {
            timestamp: "ts".into(),
            ..ColumnMapping::default()
        },
        ..InputSpec::default()
    };
    let table = extract_features(&input, &params()).expect("extracts");
    assert_eq!(str_col(&table.batch, "customer_id"), ["007", "7", "7 ", "B", "b"]);
}

#[test]
fn custom_sql_features_follow_the_v1_and_v2_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("tx.csv");
    std::fs::write(&csv, FIXTURE).expect("write fixture");
    let input = InputSpec {
        transactions: csv.display().to_string(),
        columns: mapping(),
        ..InputSpec::default()
    };
    let params = FeatureParams {
        custom: vec![
            churn_features::CustomFeature {
                name: "categories".into(),
                sql: "count(DISTINCT category)".into(),
            },
            churn_features::CustomFeature {
                name: "max_line".into(),
                sql: "max(amount)".into(),
            },
        ],
        ..params()
    };
    let table = extract_features(&input, &params).expect("extracts");
    let names: Vec<String> = table.batch.schema().fields().iter().map(|f| f.name().clone()).collect();
    // Custom features follow the version-1 and version-2 columns.
    assert_eq!(&names[..16], churn_features::V1_COLUMNS);
    assert_eq!(&names[16..20], churn_features::V2_COLUMNS);
    assert_eq!(&names[20..], ["categories", "max_line"]);
    assert_close(
        &f64_col(&table.batch, "categories"),
        &[Some(2.0), Some(1.0), Some(1.0)],
        "categories",
    );
    assert_close(
        &f64_col(&table.batch, "max_line"),
        &[Some(100.0), Some(7.0), Some(40.0)],
        "max_line",
    );
}
