//! The version-2 features (each customer's own rhythm and trend) against hand-computed values, with
//! their edge cases: one order, all orders on one day, returns only, lines without an order id.
//! `tests/properties.rs` checks the same columns against the SQL reference on random logs.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type};
use chrono::NaiveDate;
use churn_features::{extract_features, ColumnMapping, FeatureParams, InputSpec, FEATURE_SET_VERSION};

fn features(csv: &str, order_id: bool) -> arrow::array::RecordBatch {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    std::fs::write(&path, csv).expect("write");
    let input = InputSpec {
        transactions: path.display().to_string(),
        columns: ColumnMapping {
            timestamp: "ts".into(),
            order_id: order_id.then(|| "order_id".into()),
            ..ColumnMapping::default()
        },
        ..InputSpec::default()
    };
    let params = FeatureParams {
        as_of: NaiveDate::from_ymd_opt(2024, 7, 1),
        ..FeatureParams::default()
    };
    let batch = extract_features(&input, &params).expect("extracts").batch;
    // The SQL reference (window functions and `median` over the raw rows) agrees to the bit.
    let reference = churn_features::extract_features_by_sql(&input, &params).expect("extracts by SQL");
    assert_eq!(reference.batch, batch);
    batch
}

fn floats(batch: &arrow::array::RecordBatch, name: &str) -> Vec<Option<f64>> {
    let column = batch.column_by_name(name).expect(name).as_primitive::<Float64Type>();
    (0..column.len())
        .map(|i| column.is_valid(i).then(|| column.value(i)))
        .collect()
}

fn ints(batch: &arrow::array::RecordBatch, name: &str) -> Vec<i64> {
    batch
        .column_by_name(name)
        .expect(name)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

const LOG: &str = "customer_id,order_id,ts,amount
a,o1,2024-01-10 09:00:00,10.00
a,o2,2024-01-10 18:00:00,20.00
a,o3,2024-01-20 12:00:00,5.00
a,o4,2024-02-19 12:00:00,40.00
a,o4,2024-02-20 12:00:00,-5.00
a,o5,2024-05-01 00:00:00,7.50
b,o6,2024-06-01 10:00:00,3.00
b,o6,2024-06-01 10:00:00,4.00
c,o7,2024-03-01 08:00:00,1.00
c,o8,2024-03-01 20:00:00,2.00
d,o9,2024-03-01 08:00:00,-9.00
e,o10,2023-12-01 23:00:00,1.00
e,o11,2023-12-02 01:00:00,1.00
e,o12,2023-12-04 12:00:00,1.00
e,o13,2023-12-08 12:00:00,1.00
e,o14,2023-12-16 12:00:00,1.00
e,o15,2024-07-01 00:00:00,1.00
";

#[test]
fn rhythm_and_trend_match_hand_computed_values() {
    let batch = features(LOG, true);
    // d has returns only: not a customer of the snapshot. Rows: a, b, c, e.
    let ids: Vec<&str> = batch.column(0).as_string::<i32>().iter().flatten().collect();
    assert_eq!(ids, ["a", "b", "c", "e"]);
    // a buys on Jan 10 (twice), Jan 20, Feb 19 and May 1: gaps of 10, 30 and 72 days, median 30.
    // b: one order; c: two orders on one day, no gap; e: Dec 1 (23:00), 2 (01:00, the next
    // calendar day), 4, 8 and 16 (the row on S is after the snapshot): gaps 1, 2, 4, 8, median 3.
    assert_eq!(floats(&batch, "typical_gap_days"), [Some(30.0), None, None, Some(3.0)]);
    // a: 61 days since May 1 against a 30-day rhythm; e: S - Dec 16 12:00 = 197.5 days against 3.
    let overdue = floats(&batch, "overdue_ratio");
    assert_eq!(overdue[1..3], [None, None]);
    assert!((overdue[0].expect("a") - 61.0 / 30.0).abs() < 1e-12, "{overdue:?}");
    assert!((overdue[3].expect("e") - 197.5 / 3.0).abs() < 1e-12, "{overdue:?}");
    // [S - 180 d, S - 90 d) = [2024-01-03, 2024-04-02): a's o1..o4 (the return on o4 nets),
    // c's two orders; b bought after it, e before it.
    assert_eq!(ints(&batch, "orders_prev_90d"), [4, 0, 2, 0]);
    assert_eq!(
        floats(&batch, "spend_prev_90d"),
        [Some(70.0), Some(0.0), Some(3.0), Some(0.0)]
    );
    assert_eq!(ints(&batch, "orders_90d"), [1, 1, 0, 0]);
    assert_eq!(FEATURE_SET_VERSION, "2");

    // Without order ids each purchase line is an order, but the rhythm is of purchase days: c's
    // two lines on one day still give no gap, and a's two orders on Jan 10 one day.
    let batch = features(LOG, false);
    assert_eq!(floats(&batch, "typical_gap_days"), [Some(30.0), None, None, Some(3.0)]);
    assert_eq!(ints(&batch, "orders_prev_90d"), [4, 0, 2, 0]);
    assert_eq!(ints(&batch, "frequency"), [5, 2, 2, 5]);
}
