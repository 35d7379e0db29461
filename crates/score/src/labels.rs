//! Churn labels from two snapshots, exactly as the product's "Time" section defines them.
//!
//! A customer of snapshot `C` (a purchase before `C`) is **churned** if they made no purchase in
//! `[C, C + H)`. The features of snapshot `C + H` already say when each customer last bought before
//! `C + H`: `recency_days` there is at most `H` exactly when that last purchase is at or after `C`.
//! So labels need no extra pass over the transactions, and the features of snapshot `C` never see a
//! row at or after `C` (no leakage).
//!
//! Recency is microseconds divided by 86,400,000,000 in f64; `H` days is an exact multiple, so a
//! purchase exactly at `C` gives recency exactly `H` (not churned) and one a microsecond earlier
//! gives more than `H` (53-bit mantissas resolve a microsecond over centuries).

use std::collections::HashMap;

use churn_core::FeatureFrame;

use crate::error::{Error, Result};

/// `churned[i]` for each customer of `snapshot` (as of `C`), read from `later` (as of `C + H`).
///
/// A customer of `snapshot` absent from `later` means the two were not computed from the same
/// transactions: an error.
pub fn churn_labels(snapshot: &FeatureFrame, later: &FeatureFrame, horizon_days: i64) -> Result<Vec<bool>> {
    let recency = later.required("recency_days")?;
    let missing = |id: &str| {
        Error::Degenerate(format!(
            "customer {id:?} is in the earlier snapshot but not in the later one; both must be computed from the \
             same transactions"
        ))
    };
    let label = |r: f64| r > horizon_days as f64;
    let sorted = |ids: &[String]| ids.windows(2).all(|w| w[0] < w[1]);
    if sorted(snapshot.ids()) && sorted(later.ids()) {
        // Snapshots come sorted by id: one merged walk, without a map of a million ids.
        let mut j = 0;
        return snapshot
            .ids()
            .iter()
            .map(|id| {
                while j < later.len() && later.ids()[j] < *id {
                    j += 1;
                }
                match later.ids().get(j) {
                    Some(found) if found == id => Ok(label(recency[j])),
                    _ => Err(missing(id)),
                }
            })
            .collect();
    }
    let by_id: HashMap<&str, f64> = later.ids().iter().map(String::as_str).zip(recency).collect();
    snapshot
        .ids()
        .iter()
        .map(|id| by_id.get(id.as_str()).map(|&r| label(r)).ok_or_else(|| missing(id)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ids: &[&str], recency: &[f64]) -> FeatureFrame {
        FeatureFrame::try_new(ids.iter().map(|s| s.to_string()).collect())
            .and_then(|f| f.with_numeric("recency_days", recency.iter().map(|&r| Some(r)).collect()))
            .expect("frame")
    }

    #[test]
    fn a_purchase_exactly_at_the_cutoff_counts_in_the_label_window() -> Result<()> {
        let snapshot = frame(&["a", "b", "c"], &[1.0, 1.0, 1.0]);
        // With H = 90: a bought exactly at C (recency 90.0), b a microsecond before C, c the day before.
        let micro = 1.0 / 86_400_000_000.0;
        let later = frame(&["c", "b", "a", "new"], &[91.0, 90.0 + micro, 90.0, 3.0]);
        assert_eq!(churn_labels(&snapshot, &later, 90)?, vec![false, true, true]);
        Ok(())
    }

    #[test]
    fn sorted_snapshots_are_walked_to_the_labels_a_map_gives() -> Result<()> {
        // Sorted (the merged walk), with customers new in the later snapshot between the others;
        // the same customers shuffled (the map) give the same labels.
        let snapshot = frame(&["a", "c", "e"], &[1.0, 1.0, 1.0]);
        let later = frame(&["a", "b", "c", "d", "e"], &[100.0, 1.0, 10.0, 1.0, 95.0]);
        assert_eq!(churn_labels(&snapshot, &later, 90)?, vec![true, false, true]);
        let shuffled = frame(&["e", "d", "c", "b", "a"], &[95.0, 1.0, 10.0, 1.0, 100.0]);
        assert_eq!(churn_labels(&snapshot, &shuffled, 90)?, vec![true, false, true]);
        // A customer missing at the end or in the middle of a sorted later snapshot.
        for later in [
            frame(&["a", "c"], &[1.0, 1.0]),
            frame(&["a", "d", "e"], &[1.0, 1.0, 1.0]),
        ] {
            let err = churn_labels(&snapshot, &later, 90).expect_err("missing");
            assert!(err.to_string().contains("not in the later one"), "{err}");
        }
        Ok(())
    }

    #[test]
    fn snapshots_from_different_inputs_are_an_error() {
        let snapshot = frame(&["a", "ghost"], &[1.0, 2.0]);
        let later = frame(&["a"], &[5.0]);
        let err = churn_labels(&snapshot, &later, 30).expect_err("ghost");
        assert!(err.to_string().contains("\"ghost\""), "{err}");
    }
}

/// Labels from an explicit column of a customers table (a subscription business knows who
/// cancelled): `true`, `yes`, `1` or `churned` is churned; `false`, `no`, `0` or `retained` is
/// not (any case, surrounding spaces ignored). Every customer of `snapshot` needs a value: a
/// customer missing from the table, an empty cell or any other value is an error naming the customer.
pub fn explicit_labels(snapshot: &FeatureFrame, customers: &FeatureFrame, column: &str) -> Result<Vec<bool>> {
    let values = customers.text(column).ok_or_else(|| {
        Error::Degenerate(format!(
            "the customers table has no column {column:?} (model.label_column)"
        ))
    })?;
    let by_id: HashMap<&str, Option<&str>> = customers.ids().iter().map(String::as_str).zip(values.iter()).collect();
    snapshot
        .ids()
        .iter()
        .map(|id| {
            let value = by_id.get(id.as_str()).ok_or_else(|| {
                Error::Degenerate(format!(
                    "customer {id:?} has no row in the customers table, so no label"
                ))
            })?;
            let value = value.ok_or_else(|| Error::Degenerate(format!("customer {id:?} has an empty {column}")))?;
            match value.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "churned" => Ok(true),
                "false" | "no" | "0" | "retained" => Ok(false),
                _ => Err(Error::Degenerate(format!(
                    "customer {id:?} has {column} = {value:?}; expected true/false, yes/no, 1/0 or churned/retained"
                ))),
            }
        })
        .collect()
}

#[cfg(test)]
mod explicit_tests {
    use super::*;

    #[test]
    fn explicit_labels_accept_the_usual_spellings_and_name_what_is_wrong() -> Result<()> {
        let snapshot = FeatureFrame::try_new(vec!["a".into(), "b".into(), "c".into()])?;
        let table = |values: [&str; 3]| {
            FeatureFrame::try_new(vec!["c".into(), "a".into(), "b".into()])
                .and_then(|f| f.with_text("churned", values.iter().map(|v| Some(v.to_string())).collect()))
                .expect("table")
        };
        assert_eq!(
            explicit_labels(&snapshot, &table([" YES", "0", "Churned"]), "churned")?,
            vec![false, true, true]
        );
        let err = explicit_labels(&snapshot, &table(["maybe", "1", "0"]), "churned").expect_err("maybe");
        assert!(
            err.to_string().contains("customer \"c\" has churned = \"maybe\""),
            "{err}"
        );
        let err = explicit_labels(&snapshot, &table(["1", "1", "0"]), "cancelled").expect_err("column");
        assert!(err.to_string().contains("no column \"cancelled\""), "{err}");
        let partial = FeatureFrame::try_new(vec!["a".into()])?.with_text("churned", vec![Some("1".into())])?;
        let err = explicit_labels(&snapshot, &partial, "churned").expect_err("missing");
        assert!(err.to_string().contains("customer \"b\" has no row"), "{err}");
        Ok(())
    }
}
