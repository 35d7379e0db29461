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
    let by_id: HashMap<&str, f64> = later.ids().iter().map(String::as_str).zip(recency).collect();
    snapshot
        .ids()
        .iter()
        .map(|id| {
            by_id.get(id.as_str()).map(|&r| r > horizon_days as f64).ok_or_else(|| {
                Error::Degenerate(format!(
                    "customer {id:?} is in the earlier snapshot but not in the later one; \
                         both must be computed from the same transactions"
                ))
            })
        })
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
    fn snapshots_from_different_inputs_are_an_error() {
        let snapshot = frame(&["a", "ghost"], &[1.0, 2.0]);
        let later = frame(&["a"], &[5.0]);
        let err = churn_labels(&snapshot, &later, 30).expect_err("ghost");
        assert!(err.to_string().contains("\"ghost\""), "{err}");
    }
}
