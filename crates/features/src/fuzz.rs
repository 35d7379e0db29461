//! Fuzzing the text ingest path with proptest: arbitrary bytes and mutations of a valid export go
//! through the record reader and the value parsers (fast, in process) and through the whole
//! extraction (DataFusion included). Nothing may panic, every problem must point at a line that
//! exists, and nothing non-finite may come out.
//!
//! `cargo test -p churn-features fuzz` runs a few hundred cases per target, with shrinking. For a
//! long run, `CHURN_FUZZ_SECONDS=600 cargo test -p churn-features fuzz -- --nocapture` generates
//! inputs until the time is up and prints how many it ran (see the README's Fuzzing section).
//!
//! The driver and the mutations are `churn-fuzzkit`'s, which says why proptest and not `cargo fuzz`.

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Float64Type};
use churn_fuzzkit::{fuzz, mutations};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::error::{Error, Location};
use crate::params::{ColumnMapping, FeatureParams, InputSpec};
use crate::parse::TimestampParser;
use crate::source::{read_text_batches, ColumnKind, TextPlan};
use crate::text::TextFormat;

/// A valid export with the framing features a reader can get wrong: quotes, an embedded newline, a
/// blank line, CRLF, a return, an empty id.
const SEED: &[u8] = b"customer_id,ts,amount,note\n\
a,2024-01-01,10.50,plain\n\
\"b\",2024-01-02T10:00:00Z,-3,\"say \"\"hi\"\"\"\n\
\n\
c,2024-01-03 09:30:00,7e1,\"two\nlines\"\r\n\
,2024-01-04,1,\n\
d,2024-02-29T23:59:59+02:00,0,last";

/// Files: mutations of the seed, and arbitrary bytes.
fn file() -> impl Strategy<Value = Vec<u8>> {
    mutations(SEED, b",\"\n\r\t\0;-+.eE:TZ 0123456789")
}

/// The physical lines a problem may point at: 1 to the number of lines (a final line without a
/// newline counts).
fn check_location(problem: &Error, bytes: &[u8]) -> Result<(), TestCaseError> {
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    for p in problem.problems() {
        if let (_, Some(Location::Line(line)), _) = p.place() {
            prop_assert!(line >= 1 && line <= lines, "line {line} of {lines}: {p}");
        }
    }
    Ok(())
}

fn plan() -> TextPlan {
    let params = FeatureParams::default();
    TextPlan {
        format: TextFormat::default(),
        timestamps: TimestampParser::default(),
        max_abs_amount: params.max_abs_amount,
        min_us: params.min_us(),
        min_date: params.min_date,
        decimal_comma: false,
        columns: vec![
            ("customer_id".into(), 0, ColumnKind::Id),
            ("ts".into(), 1, ColumnKind::Timestamp),
            ("amount".into(), 2, ColumnKind::Amount),
            ("note".into(), 3, ColumnKind::Text),
        ],
        n_fields: 4,
    }
}

#[test]
fn fuzz_the_text_reader() {
    let plan = plan();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    fuzz("text reader", 512, file(), |bytes| {
        std::fs::write(&path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut batches = Vec::new();
        let read = read_text_batches(&path, &plan, 3, 5, |b| {
            batches.push(b);
            true
        });
        // The limit is checked between rows; one row adds at most a problem per column (the report
        // is then cut to the limit).
        prop_assert!(read.problems.len() <= 5 + plan.columns.len());
        for problem in &read.problems {
            check_location(problem, bytes)?;
        }
        let mut last_line = 0;
        for batch in &batches {
            let amounts = batch.column(2).as_primitive::<Float64Type>();
            prop_assert!(amounts.iter().flatten().all(f64::is_finite));
            let lines = arrow::compute::cast(batch.column(4), &DataType::UInt64)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            for line in lines.as_primitive::<arrow::datatypes::UInt64Type>().values() {
                // Non-decreasing, not increasing: a lone `\r` ends a record without ending a line.
                prop_assert!(*line >= last_line, "lines out of order");
                last_line = *line;
            }
        }
        Ok(())
    });
}

/// The first thing the fuzzer found: a header narrower than the plan (a `\r` ends it early) made
/// the repeated-header check index past the header's end.
#[test]
fn a_header_narrower_than_the_plan_does_not_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    std::fs::write(&path, b"c\rustomer_id,ts,amount,note\na,2024-01-01,10.50,plain\n").expect("write");
    let read = read_text_batches(&path, &plan(), 8, 5, |_| true);
    // The rest of the first line is a data record (a lone `\r` ends a record but not a line).
    assert_eq!(read.rows, 2);
    let places: Vec<_> = read.problems.iter().map(Error::place).map(|(_, l, c)| (l, c)).collect();
    assert_eq!(
        places,
        [
            (Some(Location::Line(1)), Some("ts")),
            (Some(Location::Line(1)), Some("amount"))
        ]
    );
}

#[test]
fn fuzz_the_whole_extraction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tx.csv");
    let input = InputSpec {
        transactions: path.display().to_string(),
        columns: ColumnMapping {
            timestamp: "ts".into(),
            ..ColumnMapping::default()
        },
        max_errors: 5,
        ..InputSpec::default()
    };
    let params = FeatureParams {
        as_of: chrono::NaiveDate::from_ymd_opt(2024, 6, 1),
        threads: Some(1),
        ..FeatureParams::default()
    };
    fuzz("extraction", 48, file(), |bytes| {
        std::fs::write(&path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match crate::extract_features(&input, &params) {
            Ok(table) => {
                for column in table.batch.columns() {
                    if let Some(values) = column.as_primitive_opt::<Float64Type>() {
                        prop_assert!(values.iter().flatten().all(f64::is_finite), "non-finite feature");
                    }
                }
                prop_assert!(table.report.customers > 0);
            }
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                check_location(&e, bytes)?;
            }
        }
        Ok(())
    });
}
