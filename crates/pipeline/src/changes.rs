//! `changes.csv`: who entered or left the at-risk list and who changed segment since the previous
//! published run.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use churn_core::{Column, Table};
use churn_features::read_table;
use churn_score::escape_formula;

use crate::error::{Context, Result};

/// What changed for a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// Now on the at-risk list, not on the previous one.
    EnteredAtRisk,
    /// On the previous at-risk list, not on tonight's.
    LeftAtRisk,
    /// In another segment than in the previous run.
    SegmentChanged,
}

impl ChangeKind {
    /// The name written in `changes.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::EnteredAtRisk => "entered_at_risk",
            ChangeKind::LeftAtRisk => "left_at_risk",
            ChangeKind::SegmentChanged => "segment_changed",
        }
    }
}

/// One row of `changes.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The customer.
    pub customer_id: String,
    /// What changed.
    pub kind: ChangeKind,
    /// Before (`at risk`, the old segment name, or empty).
    pub old_value: String,
    /// After.
    pub new_value: String,
}

/// The state the at-risk list is in, in `changes.csv`'s words.
const AT_RISK: &str = "at risk";

fn text_column(table: &Table, name: &str) -> Vec<Option<String>> {
    table
        .columns()
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| match c {
            Column::Text(v) => v.iter().cloned().map(Some).collect(),
            Column::OptionalText(v) => v.clone(),
            _ => Vec::new(),
        })
        .unwrap_or_default()
}

/// The changes from the run published in `previous` to tonight's customers `ids`, with whether
/// each is on tonight's list (at risk, and not held out) and its segment name. Sorted by customer id bytes, then kind name.
pub fn changes(previous: &Path, ids: &[String], at_risk_now: &[bool], segments_now: &[&str]) -> Result<Vec<Change>> {
    let scores = read_table(&previous.join("scores.parquet")).context("cannot read the previous run's scores")?;
    let segments = read_table(&previous.join("segments.parquet")).context("cannot read the previous run's segments")?;
    let ids_before: Vec<String> = text_column(&scores, "customer_id").into_iter().flatten().collect();
    let bands = text_column(&scores, "risk_band");
    let seg_ids: Vec<String> = text_column(&segments, "customer_id").into_iter().flatten().collect();
    let seg_names = text_column(&segments, "segment_name");
    // On the previous list: at risk, and not in that night's control group (its manifest says
    // which, if any), as tonight's `at_risk_now` leaves tonight's control group out.
    let previous_holdout = crate::manifest::Manifest::read(previous)
        .ok()
        .and_then(|m| m.holdout)
        .map(|h| churn_score::Holdout {
            share: h.share,
            salt: h.salt,
        });
    let was_at_risk: HashSet<&str> = ids_before
        .iter()
        .zip(&bands)
        .filter(|(id, band)| {
            band.as_deref()
                .is_some_and(|b| b != churn_score::RiskBand::Low.as_str())
                && !previous_holdout.as_ref().is_some_and(|h| h.is_control(id))
        })
        .map(|(id, _)| id.as_str())
        .collect();
    let was_in: HashMap<&str, &str> = seg_ids
        .iter()
        .zip(&seg_names)
        .filter_map(|(id, name)| name.as_deref().map(|n| (id.as_str(), n)))
        .collect();
    let mut rows = Vec::new();
    let mut now_at_risk = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if at_risk_now[i] {
            now_at_risk.insert(id.as_str());
            if !was_at_risk.contains(id.as_str()) {
                rows.push(Change {
                    customer_id: id.clone(),
                    kind: ChangeKind::EnteredAtRisk,
                    old_value: String::new(),
                    new_value: AT_RISK.into(),
                });
            }
        }
        if let Some(old) = was_in.get(id.as_str()) {
            if *old != segments_now[i] {
                rows.push(Change {
                    customer_id: id.clone(),
                    kind: ChangeKind::SegmentChanged,
                    old_value: old.to_string(),
                    new_value: segments_now[i].to_string(),
                });
            }
        }
    }
    for id in was_at_risk.iter().filter(|id| !now_at_risk.contains(**id)) {
        rows.push(Change {
            customer_id: id.to_string(),
            kind: ChangeKind::LeftAtRisk,
            old_value: AT_RISK.into(),
            new_value: String::new(),
        });
    }
    rows.sort_by(|a, b| {
        a.customer_id
            .as_bytes()
            .cmp(b.customer_id.as_bytes())
            .then(a.kind.as_str().cmp(b.kind.as_str()))
    });
    Ok(rows)
}

/// `changes.csv`: a header and one row per change, RFC 4180, `\n` line ends, formula-looking cells
/// escaped as in the at-risk list.
pub fn write_changes(rows: &[Change]) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(["customer_id", "change", "old_value", "new_value"])
        .context("cannot write changes.csv")?;
    for row in rows {
        let cells = [
            escape_formula(&row.customer_id),
            row.kind.as_str().into(),
            escape_formula(&row.old_value),
            escape_formula(&row.new_value),
        ];
        w.write_record(cells.iter().map(|c| c.as_bytes()))
            .context("cannot write changes.csv")?;
    }
    w.into_inner()
        .map_err(|e| crate::Error::invalid(format!("cannot write changes.csv: {}", e.error())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_csv_escapes_and_orders_its_rows() -> Result<()> {
        let rows = vec![Change {
            customer_id: "=x".into(),
            kind: ChangeKind::EnteredAtRisk,
            old_value: String::new(),
            new_value: AT_RISK.into(),
        }];
        let text = String::from_utf8(write_changes(&rows)?).expect("utf-8");
        assert_eq!(
            text,
            "customer_id,change,old_value,new_value\n'=x,entered_at_risk,,at risk\n"
        );
        Ok(())
    }

    #[test]
    fn change_kinds_sort_by_their_names() {
        let mut kinds = [
            ChangeKind::SegmentChanged,
            ChangeKind::LeftAtRisk,
            ChangeKind::EnteredAtRisk,
        ];
        kinds.sort_by_key(|k| k.as_str());
        assert_eq!(
            kinds,
            [
                ChangeKind::EnteredAtRisk,
                ChangeKind::LeftAtRisk,
                ChangeKind::SegmentChanged
            ]
        );
    }
}
