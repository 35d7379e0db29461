//! Purchases in a window (`TransactionLog::activity`, what an experiment measures) against a count
//! made by hand and against a plain second computation over the generated rows.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use churn_features::generate::{generate, GenerateParams, OutputFormat};
use churn_features::{read_log, ColumnMapping, FeatureParams, InputSpec};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn csv_input(path: &std::path::Path, order_id: bool) -> InputSpec {
    InputSpec {
        transactions: path.display().to_string(),
        columns: ColumnMapping {
            timestamp: "ts".into(),
            order_id: order_id.then(|| "order_id".into()),
            ..ColumnMapping::default()
        },
        ..InputSpec::default()
    }
}

#[test]
fn a_window_counts_orders_with_a_purchase_and_nets_returns_and_reads_nothing_outside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("tx.csv");
    std::fs::write(
        &csv,
        "customer_id,order_id,ts,amount\n\
         a,o1,2024-01-31 23:59:59,10.00\n\
         a,o2,2024-02-01 00:00:00,20.00\n\
         a,o2,2024-02-01 00:00:00,5.00\n\
         a,o1,2024-02-10 08:00:00,-4.00\n\
         a,o3,2024-02-29 23:59:59,1.25\n\
         a,o4,2024-03-01 00:00:00,99.00\n\
         b,o5,2024-02-15 12:00:00,-7.50\n\
         c,o6,2024-01-02 10:00:00,3.00\n",
    )
    .expect("write");
    let log = read_log(&csv_input(&csv, true), &FeatureParams::default()).expect("reads");
    let w = log.activity(date(2024, 2, 1), date(2024, 3, 1)).expect("window");
    // a: o2 (two lines, one order) and o3 in February; the return on o1 nets, o1 and o4 are
    // outside. 20 + 5 - 4 + 1.25 = 22.25.
    assert_eq!(w.get("a"), Some((2, 2225)));
    // b: a return only, no purchase.
    assert_eq!(w.get("b"), Some((0, -750)));
    // c: nothing in the window; d: not in the log.
    assert_eq!(w.get("c"), Some((0, 0)));
    assert_eq!(w.get("d"), None);
    assert_eq!(w.len(), 3);
    // a's first purchase in the window is at its very start; b only returned, c bought outside.
    assert_eq!(w.first_purchase_days("a"), Some(0.0));
    assert_eq!(w.first_purchase_days("b"), None);
    assert_eq!(w.first_purchase_days("c"), None);
    assert_eq!(w.first_purchase_days("d"), None);
    let later = log.activity(date(2024, 2, 2), date(2024, 3, 2)).expect("window");
    // From 2024-02-02: o3 at 2024-02-29 23:59:59 is 27 days and 86,399 seconds later.
    assert_eq!(later.first_purchase_days("a"), Some(27.0 + 86_399.0 / 86_400.0));
    assert!(w.covers_window());
    assert!(!log
        .activity(date(2023, 12, 1), date(2024, 1, 1))
        .expect("window")
        .covers_window());
    assert!(log.activity(date(2024, 2, 1), date(2024, 2, 1)).is_err());

    // Without order ids every purchase line is an order of its own.
    let log = read_log(&csv_input(&csv, false), &FeatureParams::default()).expect("reads");
    let w = log.activity(date(2024, 2, 1), date(2024, 3, 1)).expect("window");
    assert_eq!(w.get("a"), Some((3, 2225)));
}

/// Every customer of a generated log (returns on earlier orders included), in three windows,
/// against the rows read back as text and summed here.
#[test]
fn generated_windows_equal_a_second_computation_over_the_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut params = GenerateParams::new(800, 11, date(2022, 1, 1), date(2023, 1, 1));
    params.format = OutputFormat::Csv;
    params.mean_days_between_orders = 30.0;
    let data = generate(&params, dir.path(), &mut |_| {}).expect("generates");
    let log = read_log(&csv_input(&data.transactions, true), &FeatureParams::default()).expect("reads");

    let text = std::fs::read_to_string(&data.transactions).expect("read back");
    let rows: Vec<(String, String, NaiveDate, i64)> = text
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let day = NaiveDate::parse_from_str(&f[2][..10], "%Y-%m-%d").expect("date");
            let cents = (f[3].parse::<f64>().expect("amount") * 100.0).round() as i64;
            (f[0].to_string(), f[1].to_string(), day, cents)
        })
        .collect();
    for (from, to) in [
        (date(2022, 3, 1), date(2022, 5, 30)),
        (date(2022, 10, 1), date(2022, 10, 2)),
        (date(2022, 12, 1), date(2023, 3, 1)),
    ] {
        let mut expected: BTreeMap<&str, (BTreeSet<&str>, i64)> = BTreeMap::new();
        // The day of each customer's first purchase row in the window.
        let mut first: BTreeMap<&str, NaiveDate> = BTreeMap::new();
        for (customer, _, _, _) in &rows {
            expected.entry(customer).or_default();
        }
        for (customer, order, day, cents) in rows.iter().filter(|r| r.2 >= from && r.2 < to) {
            let e = expected.entry(customer).or_default();
            e.1 += cents;
            if *cents > 0 {
                e.0.insert(order);
                let f = first.entry(customer).or_insert(*day);
                *f = (*f).min(*day);
            }
        }
        let w = log.activity(from, to).expect("window");
        assert_eq!(w.len(), expected.len());
        let mut buyers = 0;
        for (customer, (orders, cents)) in &expected {
            assert_eq!(
                w.get(customer),
                Some((orders.len() as u64, *cents)),
                "{customer} in [{from}, {to})"
            );
            buyers += usize::from(!orders.is_empty());
            // Whole days after the window's start, as the rows' dates say.
            assert_eq!(
                w.first_purchase_days(customer).map(|d| d.floor() as i64),
                first.get(customer).map(|d| (*d - from).num_days()),
                "{customer} in [{from}, {to})"
            );
        }
        // The merged walk over ids in order equals the lookups one by one, also for an id that
        // is not in the log and for ids out of order.
        let mut ids: Vec<String> = expected.keys().map(|c| c.to_string()).collect();
        ids.insert(1, "\u{0}not-a-customer".into());
        ids.sort();
        let one_by_one: Vec<Option<f64>> = ids.iter().map(|id| w.first_purchase_days(id)).collect();
        assert_eq!(w.first_purchase_days_of(&ids), one_by_one);
        ids.reverse();
        let reversed: Vec<Option<f64>> = one_by_one.into_iter().rev().collect();
        assert_eq!(w.first_purchase_days_of(&ids), reversed);
        // The windows are not trivially empty or full.
        assert!(
            buyers > 0 && buyers < expected.len(),
            "{buyers} buyers in [{from}, {to})"
        );
    }
}
