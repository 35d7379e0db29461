//! `changes.csv`: who entered or left the at-risk list and who changed segment since the previous
//! published run.

use std::path::Path;

use arrow::array::{Array as _, RecordBatch, StringArray};
use churn_features::read_arrow_columns;
use churn_score::escape_formula;

use crate::error::{Context, Error, Result};

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

/// The text column `name` of `batch` (read with that column), as Arrow holds it.
fn text_column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| Error::invalid(format!("{}: column {name:?} is not text", path.display())))
}

/// The changes from the run published in `previous` to tonight's customers `ids`, with whether
/// each is on tonight's list (at risk, and not held out) and its segment name. Sorted by customer id bytes, then kind name.
pub fn changes(previous: &Path, ids: &[String], at_risk_now: &[bool], segments_now: &[&str]) -> Result<Vec<Change>> {
    // Only the columns compared, borrowed where Arrow decoded them: the whole scores file as a
    // table of strings (reasons, next purchases and all) was 1.7 s and 800 MB at a million
    // customers, the most a second night spent on anything.
    let (scores_path, segments_path) = (previous.join("scores.parquet"), previous.join("segments.parquet"));
    let scores = read_arrow_columns(&scores_path, &["customer_id", "risk_band"])
        .context("cannot read the previous run's scores")?;
    let segments = read_arrow_columns(&segments_path, &["customer_id", "segment_name"])
        .context("cannot read the previous run's segments")?;
    let (ids_before, bands) = (
        text_column(&scores, "customer_id", &scores_path)?,
        text_column(&scores, "risk_band", &scores_path)?,
    );
    let (seg_ids, seg_names) = (
        text_column(&segments, "customer_id", &segments_path)?,
        text_column(&segments, "segment_name", &segments_path)?,
    );
    // On the previous list: at risk, and not in that night's control group (its manifest says
    // which, if any), as tonight's `at_risk_now` leaves tonight's control group out.
    let previous_holdout = crate::manifest::Manifest::read(previous)
        .ok()
        .and_then(|m| m.holdout)
        .map(|h| churn_score::Holdout {
            share: h.share,
            salt: h.salt,
        });
    let low = churn_score::RiskBand::Low.as_str();
    // Each side in id order, and walked side by side: a run's files are already in id order, so
    // this is one pass over each, where sets of a million ids cost three lookups a customer (0.9 s
    // of a second night at a million customers).
    let was_at_risk = by_id(
        ids_before.iter().zip(bands).filter_map(|(id, band)| id.zip(band)),
        |&(_, band), at_risk: &mut bool| *at_risk |= band != low,
        false,
    );
    let was_in = by_id(
        seg_ids.iter().zip(seg_names).filter_map(|(id, name)| id.zip(name)),
        |&(_, name), segment: &mut &str| *segment = name,
        "",
    );
    // Tonight's ids are distinct: each row's own index.
    let now = by_id(
        ids.iter().map(String::as_str).zip(0..),
        |&(_, row), at: &mut usize| *at = row,
        0,
    );
    let is_control = |id: &str| previous_holdout.as_ref().is_some_and(|h| h.is_control(id));
    let mut rows = Vec::new();
    let change = |id: &str, kind, old_value: &str, new_value: &str| Change {
        customer_id: id.to_string(),
        kind,
        old_value: old_value.to_string(),
        new_value: new_value.to_string(),
    };
    for (id, tonight, before) in merge(&now, &was_at_risk) {
        let now_on_list = tonight.is_some_and(|r| at_risk_now[r]);
        let was_on_list = before.is_some_and(|was| was && !is_control(id));
        match (now_on_list, was_on_list) {
            (true, false) => rows.push(change(id, ChangeKind::EnteredAtRisk, "", AT_RISK)),
            (false, true) => rows.push(change(id, ChangeKind::LeftAtRisk, AT_RISK, "")),
            _ => {}
        }
    }
    for (id, tonight, before) in merge(&now, &was_in) {
        if let (Some(r), Some(old)) = (tonight, before) {
            if old != segments_now[r] {
                rows.push(change(id, ChangeKind::SegmentChanged, old, segments_now[r]));
            }
        }
    }
    rows.sort_by(|a, b| {
        a.customer_id
            .as_bytes()
            .cmp(b.customer_id.as_bytes())
            .then(a.kind.as_str().cmp(b.kind.as_str()))
    });
    Ok(rows)
}

/// Each distinct id of `rows` (an id and a value) once, in id byte order, with `fold` of the
/// values of its rows in their order from `start` (rows of one id are kept in the file's order).
fn by_id<'a, T: Copy, V>(
    rows: impl Iterator<Item = (&'a str, T)>,
    fold: impl Fn(&(&'a str, T), &mut V),
    start: V,
) -> Vec<(&'a str, V)>
where
    V: Copy,
{
    let mut rows: Vec<(&str, T)> = rows.collect();
    if !rows.is_sorted_by(|a, b| a.0.as_bytes() <= b.0.as_bytes()) {
        // Stable: rows of one id keep their order.
        rows.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    let mut out: Vec<(&str, V)> = Vec::with_capacity(rows.len());
    for row in &rows {
        match out.last_mut() {
            Some((id, value)) if *id == row.0 => fold(row, value),
            _ => {
                let mut value = start;
                fold(row, &mut value);
                out.push((row.0, value));
            }
        }
    }
    out
}

/// Two lists of distinct ids with a value each, both in id byte order, side by side: every id of
/// either once, in order, with its value on each side where it has one.
fn merge<'a, A: Copy, B: Copy>(
    left: &'a [(&'a str, A)],
    right: &'a [(&'a str, B)],
) -> impl Iterator<Item = (&'a str, Option<A>, Option<B>)> + 'a {
    let (mut l, mut r) = (0, 0);
    std::iter::from_fn(move || {
        let step = match (left.get(l), right.get(r)) {
            (None, None) => return None,
            (Some(&(id, a)), None) => (id, Some(a), None),
            (None, Some(&(id, b))) => (id, None, Some(b)),
            (Some(&(x, a)), Some(&(y, b))) => match x.as_bytes().cmp(y.as_bytes()) {
                std::cmp::Ordering::Less => (x, Some(a), None),
                std::cmp::Ordering::Greater => (y, None, Some(b)),
                std::cmp::Ordering::Equal => (x, Some(a), Some(b)),
            },
        };
        l += usize::from(step.1.is_some());
        r += usize::from(step.2.is_some());
        Some(step)
    })
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
    fn changes_are_found_in_files_out_of_id_order_with_repeated_ids() -> Result<()> {
        use churn_core::{Column, Table};
        let dir = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let text = |v: &[&str]| Column::Text(v.iter().map(|s| s.to_string()).collect());
        // The previous run, rows out of id order; `d` twice, at risk on its second row.
        let scores = Table::new()
            .with_column("customer_id", text(&["c", "a", "b", "d", "d"]))?
            .with_column("risk_band", text(&["high", "low", "medium", "low", "high"]))?;
        let segments = Table::new()
            .with_column("customer_id", text(&["b", "a", "c"]))?
            .with_column("segment_name", text(&["X", "Y", "Z"]))?;
        churn_features::write_table(&dir.path().join("scores.parquet"), &scores)?;
        churn_features::write_table(&dir.path().join("segments.parquet"), &segments)?;
        // Tonight, also out of order.
        let ids: Vec<String> = ["e", "a", "c", "b"].map(String::from).to_vec();
        let found = changes(dir.path(), &ids, &[true, true, false, true], &["Q", "Y", "W", "X"])?;
        let got: Vec<(&str, &str, &str, &str)> = found
            .iter()
            .map(|c| {
                (
                    c.customer_id.as_str(),
                    c.kind.as_str(),
                    c.old_value.as_str(),
                    c.new_value.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", "entered_at_risk", "", "at risk"),
                ("c", "left_at_risk", "at risk", ""),
                ("c", "segment_changed", "Z", "W"),
                ("d", "left_at_risk", "at risk", ""),
                ("e", "entered_at_risk", "", "at risk"),
            ]
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
