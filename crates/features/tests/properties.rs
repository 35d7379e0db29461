//! Invariants on random transaction logs: every feature finite, `frequency >= 1`, scores in 1..=5,
//! ids sorted and unique, windowed spend never beyond the total of purchases, counts adding up.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use chrono::NaiveDate;
use churn_features::{extract_features, ColumnMapping, FeatureParams, InputSpec};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Row {
    customer: u8,
    order: Option<u8>,
    day: u16,
    second: u32,
    cents: i64,
    /// An input column no role maps: rows differing only here are not duplicates.
    sku: u8,
}

fn row() -> impl Strategy<Value = Row> {
    (
        0u8..12,
        proptest::option::of(0u8..6),
        0u16..800,
        0u32..86_400,
        -50_000i64..200_000,
        0u8..3,
    )
        .prop_map(|(customer, order, day, second, cents, sku)| Row {
            customer,
            order,
            day,
            second,
            cents,
            sku,
        })
}

fn csv(rows: &[Row]) -> String {
    let start = NaiveDate::from_ymd_opt(2022, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("date");
    let mut text = String::from("customer_id,order_id,ts,amount,sku\n");
    for r in rows {
        let ts = start + chrono::Duration::days(i64::from(r.day)) + chrono::Duration::seconds(i64::from(r.second));
        let order = r.order.map(|o| format!("o{o}")).unwrap_or_default();
        // Customer 0 has a blank id: dropped and counted.
        let id = if r.customer == 0 {
            String::new()
        } else {
            format!("c{:02}", r.customer)
        };
        let sign = if r.cents < 0 { "-" } else { "" };
        let (units, cents) = (r.cents.abs() / 100, r.cents.abs() % 100);
        text.push_str(&format!(
            "{id},{order},{},{sign}{units}.{cents:02},s{}\n",
            ts.format("%Y-%m-%d %H:%M:%S"),
            r.sku
        ));
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn features_are_finite_and_consistent(rows in proptest::collection::vec(row(), 1..60)) {
        // Keep at least one purchase so that the snapshot is not empty.
        let mut rows = rows;
        rows.push(Row { customer: 1, order: None, day: 10, second: 0, cents: 1_000, sku: 0 });
        let text = csv(&rows);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tx.csv");
        std::fs::write(&path, text).expect("write");
        let input = InputSpec {
            transactions: path.display().to_string(),
            columns: ColumnMapping { timestamp: "ts".into(), order_id: Some("order_id".into()), ..ColumnMapping::default() },
            ..InputSpec::default()
        };
        let params = FeatureParams { as_of: NaiveDate::from_ymd_opt(2023, 6, 1), ..FeatureParams::default() };
        let table = extract_features(&input, &params).expect("extracts");
        let batch = &table.batch;

        let ids = batch.column_by_name("customer_id").expect("ids").as_string::<i32>();
        for i in 1..ids.len() {
            prop_assert!(ids.value(i - 1) < ids.value(i), "ids sorted and unique");
        }
        for field in batch.schema().fields() {
            if let Some(values) = batch.column_by_name(field.name()).expect("column").as_primitive_opt::<Float64Type>() {
                for i in 0..values.len() {
                    prop_assert!(values.is_null(i) || values.value(i).is_finite(), "{} not finite", field.name());
                }
            }
        }
        let frequency = batch.column_by_name("frequency").expect("f").as_primitive::<Int64Type>();
        prop_assert!(frequency.values().iter().all(|&f| f >= 1));
        for name in ["r_score", "f_score", "m_score"] {
            let scores = batch.column_by_name(name).expect("score").as_primitive::<Int32Type>();
            prop_assert!(scores.values().iter().all(|s| (1..=5).contains(s)), "{name} out of range");
        }
        let recency = batch.column_by_name("recency_days").expect("r").as_primitive::<Float64Type>();
        let tenure = batch.column_by_name("tenure_days").expect("t").as_primitive::<Float64Type>();
        let orders_90d = batch.column_by_name("orders_90d").expect("o").as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            prop_assert!(recency.value(i) > 0.0 && recency.value(i) <= tenure.value(i));
            prop_assert!(orders_90d.value(i) <= frequency.value(i));
        }
        let r = &table.report;
        prop_assert_eq!(r.rows_read, rows.len() as u64);
        prop_assert_eq!(r.rows_used + r.rows_missing_customer + r.rows_on_or_after_as_of + r.rows_filtered_out, r.rows_read);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// The log read once gives, at every snapshot, exactly what the SQL reference gives (which
    /// groups whole rows to find duplicates, where the read hashes them): the same batch to the bit
    /// and the same row report. Rows repeat on purpose (exact duplicates) and nearly repeat (only
    /// the unmapped column differs: not duplicates), some have no order id, some are returns, and
    /// the snapshots cut through the middle of orders.
    #[test]
    fn the_log_read_once_equals_direct_extraction(
        rows in proptest::collection::vec(row(), 1..60),
        repeats in proptest::collection::vec(0usize..60, 0..8),
        near_repeats in proptest::collection::vec(0usize..60, 0..8),
        drop_duplicates in proptest::bool::ANY,
    ) {
        let mut rows = rows;
        for i in near_repeats {
            let mut near = rows[i % rows.len()].clone();
            near.sku = (near.sku + 1) % 3;
            rows.push(near);
        }
        rows.push(Row { customer: 1, order: None, day: 10, second: 0, cents: 1_000, sku: 0 });
        for i in repeats {
            let again = rows[i % rows.len()].clone();
            rows.push(again);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tx.csv");
        std::fs::write(&path, csv(&rows)).expect("write");
        let input = InputSpec {
            transactions: path.display().to_string(),
            columns: ColumnMapping { timestamp: "ts".into(), order_id: Some("order_id".into()), ..ColumnMapping::default() },
            ..InputSpec::default()
        };
        let base = FeatureParams { drop_duplicates, ..FeatureParams::default() };
        let log = churn_features::read_log(&input, &base).expect("reads");
        let dates = [None, NaiveDate::from_ymd_opt(2022, 2, 1), NaiveDate::from_ymd_opt(2022, 9, 15), NaiveDate::from_ymd_opt(2023, 6, 1)];
        for as_of in dates {
            let direct = churn_features::extract_features_by_sql(&input, &FeatureParams { as_of, ..base.clone() });
            let from_log = log.features(as_of);
            match (direct, from_log) {
                (Ok(direct), Ok(from_log)) => {
                    prop_assert_eq!(&direct.batch, &from_log.batch, "as of {:?}", as_of);
                    prop_assert_eq!(&direct.report, &from_log.report, "as of {:?}", as_of);
                    prop_assert_eq!(direct.as_of, from_log.as_of);
                    prop_assert_eq!(&direct.fingerprint, &from_log.fingerprint);
                }
                (Err(direct), Err(from_log)) => prop_assert_eq!(direct.to_string(), from_log.to_string()),
                (direct, from_log) => prop_assert!(false, "as of {:?}: {:?} vs {:?}", as_of, direct.map(|t| t.as_of), from_log.map(|t| t.as_of)),
            }
            // The lifetime-value histories too, per day and per week (rows counted apart from the
            // duplicate count, which a direct history does not take).
            for period_days in [1, 7] {
                let params = FeatureParams { as_of, count_duplicates: false, ..base.clone() };
                let direct = churn_features::purchase_history(&input, &params, period_days);
                let from_log = log.purchase_history(as_of, period_days);
                match (direct, from_log) {
                    (Ok(direct), Ok(mut from_log)) => {
                        from_log.report.rows_duplicate = direct.report.rows_duplicate;
                        prop_assert_eq!(direct, from_log, "as of {:?}, {} days", as_of, period_days);
                    }
                    (Err(direct), Err(from_log)) => prop_assert_eq!(direct.to_string(), from_log.to_string()),
                    (direct, from_log) => prop_assert!(false, "as of {:?}: {:?} vs {:?}", as_of, direct.map(|h| h.as_of), from_log.map(|h| h.as_of)),
                }
            }
        }
    }
}

/// Custom SQL features on Parquet input, where DataFusion reads text columns as string views: this
/// used to panic in a downcast (exit 101) while the same config on CSV worked.
#[test]
fn custom_features_read_parquet_text_as_well_as_csv() {
    use churn_features::generate::{generate, GenerateParams, OutputFormat};
    use churn_features::CustomFeature;
    let dir = tempfile::tempdir().expect("tempdir");
    let start = NaiveDate::from_ymd_opt(2022, 1, 1).expect("date");
    let end = NaiveDate::from_ymd_opt(2023, 1, 1).expect("date");
    for format in [OutputFormat::Parquet, OutputFormat::Csv] {
        let mut params = GenerateParams::new(300, 3, start, end);
        params.format = format;
        let out = dir.path().join(format!("{format:?}"));
        let report = generate(&params, &out, &mut |_| {}).expect("generate");
        let input = InputSpec {
            transactions: report.transactions.display().to_string(),
            columns: ColumnMapping {
                timestamp: "ts".into(),
                order_id: Some("order_id".into()),
                category: Some("category".into()),
                ..ColumnMapping::default()
            },
            ..InputSpec::default()
        };
        let params = FeatureParams {
            custom: vec![CustomFeature {
                name: "categories".into(),
                sql: "count(DISTINCT category)".into(),
            }],
            ..FeatureParams::default()
        };
        let table = extract_features(&input, &params).expect("extracts");
        let log = churn_features::read_log(&input, &params)
            .expect("reads")
            .features(None)
            .expect("snapshot");
        assert_eq!(table.batch, log.batch);
        let categories = table.batch.column_by_name("categories").expect("custom column");
        assert!(categories
            .as_primitive::<Float64Type>()
            .values()
            .iter()
            .all(|&v| v >= 1.0));
        assert!(table.batch.num_rows() > 100, "{format:?}");
    }
}

/// The read under the smallest engine budget spills its rows to disk (each partition's aggregation
/// may hold a quarter of 64 MiB, 16 MiB, and holds 56 bytes per row until its customer is emitted)
/// and merges them back: the features equal those of a read that holds everything in memory.
///
/// Many customers with few rows each: merging a spilled batch back takes its customers' rows at
/// once (8,192 customers a batch), and with 30 rows a customer that asked for 25 MB, more than the
/// fair pool could give while the other partition held its share (the test failed one run in
/// four). With about 15 rows a customer a batch asks for half of that.
#[test]
fn the_read_spilling_to_disk_gives_the_same_features() {
    use churn_features::generate::{generate, GenerateParams};
    let dir = tempfile::tempdir().expect("tempdir");
    let start = NaiveDate::from_ymd_opt(2022, 1, 1).expect("date");
    let end = NaiveDate::from_ymd_opt(2023, 1, 1).expect("date");
    let mut params = GenerateParams::new(72_000, 7, start, end);
    params.mean_days_between_orders = 30.0;
    let report = generate(&params, dir.path(), &mut |_| {}).expect("generate");
    let input = InputSpec {
        transactions: report.transactions.display().to_string(),
        columns: ColumnMapping {
            timestamp: "ts".into(),
            order_id: Some("order_id".into()),
            quantity: Some("quantity".into()),
            category: Some("category".into()),
            ..ColumnMapping::default()
        },
        ..InputSpec::default()
    };
    let features = |memory_limit_bytes: usize, drop_duplicates: bool| {
        let params = FeatureParams {
            memory_limit_bytes,
            drop_duplicates,
            ..FeatureParams::default()
        };
        let log = churn_features::read_log(&input, &params).expect("reads");
        (log.spills(), log.features(None).expect("snapshot"))
    };
    for drop_duplicates in [false, true] {
        let (spills, spilled) = features(64 << 20, drop_duplicates);
        // Rows enough that two partitions' rows (56 bytes each) are beyond the aggregations'
        // shares of 64 MiB; the engine's own count says whether they spilled.
        assert!(spilled.report.rows_read > 1_000_000, "{}", spilled.report.rows_read);
        assert!(spills > 0, "the read did not spill under 64 MiB");
        let (spills, held) = features(4 << 30, drop_duplicates);
        assert_eq!(spills, 0, "the read spilled under 4 GiB");
        assert_eq!(spilled.batch, held.batch, "drop_duplicates = {drop_duplicates}");
        assert_eq!(spilled.report, held.report);
    }
}
