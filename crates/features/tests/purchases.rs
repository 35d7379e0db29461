//! Purchase histories (the input of the lifetime-value models) against the published CDNOW summary
//! and hand-computed cases.

use chrono::NaiveDate;
use churn_features::{purchase_history, Delimiter, FeatureParams, InputSpec, TextFormat};

fn fixture(name: &str) -> String {
    format!("{}/../../tests/fixtures/cdnow/{name}", manifest_dir().display())
}

/// This crate's directory as cargo gives it to the running test. The value compiled in can name
/// another checkout: a target directory shared between checkouts reuses a test built in one of them.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// CDNOW_sample.txt (no header: master id, sample id, date, CDs, dollars), calibration ending
/// 1997-09-30 (inclusive), same-day purchases merged, against `cdnow_customers_summary_with_transactions.csv`
/// (`ID,x,t_x,T,zbar` in weeks, rounded to 2 decimals), which the published BG/NBD fit used.
#[test]
fn cdnow_sample_histories_match_the_published_summary() {
    let input = InputSpec {
        transactions: fixture("CDNOW_sample.txt.gz"),
        text: TextFormat {
            delimiter: Delimiter::Whitespace,
            has_header: false,
            column_names: Some(
                ["master_id", "sample_id", "date", "cds", "dollars"]
                    .map(String::from)
                    .to_vec(),
            ),
        },
        timestamp_format: Some("%Y%m%d".into()),
        columns: churn_features::ColumnMapping {
            customer_id: "sample_id".into(),
            timestamp: "date".into(),
            amount: "dollars".into(),
            ..Default::default()
        },
        ..InputSpec::default()
    };
    let params = FeatureParams {
        as_of: Some(date(1997, 10, 1)),
        ..FeatureParams::default()
    };
    let history = purchase_history(&input, &params, 1).expect("reads");
    assert_eq!(history.customers.len(), 2357);
    assert_eq!(history.report.rows_read, 6919);
    assert_eq!(
        history.report.rows_used + history.report.rows_on_or_after_as_of,
        6919,
        "{:?}",
        history.report
    );

    let end_day = date(1997, 9, 30).signed_duration_since(date(1970, 1, 1)).num_days();
    let text = std::fs::read_to_string(fixture("cdnow_customers_summary_with_transactions.csv")).expect("fixture");
    let published: std::collections::HashMap<String, Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|line| {
            let mut fields = line.split(',');
            let id = fields.next().expect("id").to_string();
            (id, fields.map(|v| v.parse().expect("number")).collect())
        })
        .collect();
    for c in &history.customers {
        // Sample ids are zero-padded in the file ("0001") and plain in the summary ("1").
        let id = c.customer_id.trim_start_matches('0');
        let expected = &published[id];
        assert_eq!(
            c.repeat_transactions() as f64,
            expected[0],
            "customer {}",
            c.customer_id
        );
        let ours = [
            (c.last_day - c.first_day) as f64 / 7.0,
            (end_day - c.first_day) as f64 / 7.0,
            c.mean_repeat_value().unwrap_or(0.0),
        ];
        // The file rounds to 2 decimals (half away from zero: 37.95 / 2 = 18.975 is printed 18.98,
        // which is 18.97499... in binary), so every value is within half a cent of ours.
        for (k, value) in ours.iter().enumerate() {
            assert!(
                (value - expected[k + 1]).abs() <= 0.005 + 1e-9,
                "customer {}: {ours:?} vs {expected:?}",
                c.customer_id
            );
        }
    }
}

fn write_csv(dir: &tempfile::TempDir, body: &str) -> String {
    let path = dir.path().join("tx.csv");
    std::fs::write(&path, format!("customer_id,timestamp,amount\n{body}")).expect("write");
    path.display().to_string()
}

/// Hand-computed: same-day merging, returns, a zero-value purchase, rows at the as-of date, weekly
/// periods aligned to Monday, and days before 1970 (floor division).
#[test]
fn transactions_merge_within_a_period_and_returns_are_not_transactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let transactions = write_csv(
        &dir,
        "a,2024-01-01T09:00:00Z,10.00\n\
         a,2024-01-01T18:00:00Z,5.00\n\
         a,2024-01-03T10:00:00Z,-3.00\n\
         a,2024-01-07T10:00:00Z,0.00\n\
         a,2024-01-08T10:00:00Z,20.00\n\
         a,2024-01-10T10:00:00Z,20.00\n\
         b,2024-01-03T10:00:00Z,-7.00\n\
         c,1969-12-31T23:00:00Z,4.00\n\
         c,2024-01-09T00:00:00Z,1.00\n\
         ,2024-01-02T00:00:00Z,1.00\n",
    );
    let input = InputSpec {
        transactions,
        ..InputSpec::default()
    };
    let params = FeatureParams {
        as_of: Some(date(2024, 1, 10)),
        // c's first row is before 1970, to check day numbers floor rather than truncate.
        min_date: date(1960, 1, 1),
        ..FeatureParams::default()
    };
    let day = |y, m, d| date(y, m, d).signed_duration_since(date(1970, 1, 1)).num_days();

    let daily = purchase_history(&input, &params, 1).expect("reads");
    let ids: Vec<&str> = daily.customers.iter().map(|c| c.customer_id.as_str()).collect();
    // b only returned: not a customer.
    assert_eq!(ids, ["a", "c"]);
    let a = &daily.customers[0];
    // Jan 1 (10 + 5), Jan 7 (0), Jan 8 (20); Jan 10 is the as-of date; the return is not one.
    assert_eq!(a.transactions, 3);
    assert_eq!((a.first_day, a.last_day), (day(2024, 1, 1), day(2024, 1, 8)));
    assert_eq!((a.first_value, a.total_value), (15.0, 35.0));
    assert_eq!(a.mean_repeat_value(), Some(10.0));
    let c = &daily.customers[1];
    assert_eq!((c.first_day, c.transactions), (-1, 2));
    let r = &daily.report;
    assert_eq!(
        (
            r.rows_read,
            r.rows_missing_customer,
            r.rows_on_or_after_as_of,
            r.rows_returns,
            r.rows_used
        ),
        (10, 1, 1, 2, 6)
    );

    // Weeks Monday-Sunday: 2024-01-01 is a Monday, so Jan 1 and Jan 7 are one transaction and Jan 8
    // starts the next; the second transaction's day is its first purchase day.
    let weekly = purchase_history(&input, &params, 7).expect("reads");
    let a = &weekly.customers[0];
    assert_eq!(a.transactions, 2);
    assert_eq!((a.first_day, a.last_day), (day(2024, 1, 1), day(2024, 1, 8)));
    assert_eq!((a.first_value, a.total_value), (15.0, 35.0));
    // 1969-12-31 (a Wednesday) and 2024-01-09 are in different weeks.
    assert_eq!(weekly.customers[1].transactions, 2);
}

#[test]
fn invalid_rows_are_located_and_the_default_date_follows_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let transactions = write_csv(&dir, "a,2024-01-01,10.00\na,2024-01-02,NaN\n");
    let input = InputSpec {
        transactions,
        ..InputSpec::default()
    };
    let params = FeatureParams {
        as_of: Some(date(2024, 2, 1)),
        ..FeatureParams::default()
    };
    let err = purchase_history(&input, &params, 1).expect_err("NaN amount");
    let message = err.to_string();
    assert!(message.contains("line 3") && message.contains("amount"), "{message}");

    let transactions = write_csv(&dir, "a,2024-01-01,10.00\na,2024-01-05T23:59:59Z,2.00\n");
    let input = InputSpec {
        transactions,
        ..InputSpec::default()
    };
    let history = purchase_history(&input, &FeatureParams::default(), 1).expect("reads");
    assert_eq!(history.as_of, date(2024, 1, 6));
    assert_eq!(history.customers[0].transactions, 2);
}
