//! The tables a run writes as Parquet: every customer's score and segment.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Date32Builder, Float64Array, Float64Builder, Int64Array, StringArray, StringBuilder,
};
use arrow::datatypes::{DataType, Field};
use churn_features::ParquetBytes;
use churn_score::{ReasonList, ScoredCustomer};
use churn_segment::Assignment;

use crate::error::Result;

/// The columns of `scores.parquet`, as Arrow arrays filled customer by customer: the text goes
/// straight into each column's one buffer (a [`Table`] would hold a string per cell, a million
/// customers' worth of allocations, and then be copied into the arrays again).
pub struct ScoreColumns {
    customer_id: StringBuilder,
    churn_probability: Float64Builder,
    risk_band: StringBuilder,
    value_at_risk: Float64Builder,
    segment: StringBuilder,
    rfm_segment: StringBuilder,
    recommended_action: StringBuilder,
    reasons: [StringBuilder; ReasonList::MAX],
    /// `p_purchase_30d`, `_90d`, `_horizon`, `_365d`.
    chances: [Float64Builder; 4],
    /// `next_purchase_date`, `_low_date`, `_high_date`, as days since 1970-01-01.
    next_dates: [Date32Builder; 3],
    overdue_days: Float64Builder,
}

/// The next-purchase columns of `scores.parquet`, after the reasons, in order.
pub const NEXT_PURCHASE_COLUMNS: [&str; 8] = [
    "p_purchase_30d",
    "p_purchase_90d",
    "p_purchase_horizon",
    "p_purchase_365d",
    "next_purchase_date",
    "next_purchase_low_date",
    "next_purchase_high_date",
    "overdue_days",
];

impl ScoreColumns {
    /// Room for `n` customers.
    pub fn with_capacity(n: usize) -> Self {
        // Text buffers grow as needed; ids and reasons are a few to a hundred bytes each.
        let text = |bytes_each: usize| StringBuilder::with_capacity(n, n * bytes_each);
        ScoreColumns {
            customer_id: text(8),
            churn_probability: Float64Builder::with_capacity(n),
            risk_band: text(4),
            value_at_risk: Float64Builder::with_capacity(n),
            segment: text(16),
            rfm_segment: text(16),
            recommended_action: text(16),
            reasons: std::array::from_fn(|_| text(48)),
            chances: std::array::from_fn(|_| Float64Builder::with_capacity(n)),
            next_dates: std::array::from_fn(|_| Date32Builder::with_capacity(n)),
            overdue_days: Float64Builder::with_capacity(n),
        }
    }

    /// Appends one customer.
    pub fn push(&mut self, s: &ScoredCustomer<'_>) {
        self.customer_id.append_value(s.customer_id);
        self.churn_probability.append_value(s.churn_probability);
        self.risk_band.append_value(s.risk_band.as_str());
        self.value_at_risk.append_value(s.value_at_risk);
        self.segment.append_option(s.segment);
        self.rfm_segment.append_option(s.rfm_segment);
        self.recommended_action.append_value(s.recommended_action);
        for (i, column) in self.reasons.iter_mut().enumerate() {
            column.append_option(s.reasons.get(i));
        }
        let chances = s
            .next_purchase
            .map(|n| n.outlook)
            .map(|o| [o.p_30d, o.p_90d, o.p_horizon, o.p_365d]);
        for (i, column) in self.chances.iter_mut().enumerate() {
            column.append_option(chances.map(|c| c[i]));
        }
        let dates = s.next_purchase.and_then(|n| n.dates);
        for (i, column) in self.next_dates.iter_mut().enumerate() {
            // Parquet stores a date as its day number in 32 bits.
            column.append_option(dates.map(|d| crate::lifetime::day_number(d[i]) as i32));
        }
        self.overdue_days.append_option(s.overdue_days);
    }

    /// The columns in the documented order, each with its field: text `utf8`, numbers `float64`,
    /// dates `date32`; nullable where a customer may have no value.
    pub fn finish(mut self) -> Vec<(Field, ArrayRef)> {
        let text = |name: &str, nullable: bool, b: &mut StringBuilder| -> (Field, ArrayRef) {
            (Field::new(name, DataType::Utf8, nullable), Arc::new(b.finish()))
        };
        let float = |name: &str, nullable: bool, b: &mut Float64Builder| -> (Field, ArrayRef) {
            (Field::new(name, DataType::Float64, nullable), Arc::new(b.finish()))
        };
        let [r1, r2, r3] = &mut self.reasons;
        let mut columns = vec![
            text("customer_id", false, &mut self.customer_id),
            float("churn_probability", false, &mut self.churn_probability),
            text("risk_band", false, &mut self.risk_band),
            float("value_at_risk", false, &mut self.value_at_risk),
            text("segment", true, &mut self.segment),
            text("rfm_segment", true, &mut self.rfm_segment),
            text("recommended_action", false, &mut self.recommended_action),
            text("reason_1", true, r1),
            text("reason_2", true, r2),
            text("reason_3", true, r3),
        ];
        let [chance_names @ .., overdue] = NEXT_PURCHASE_COLUMNS;
        let (chance_names, date_names) = chance_names.split_at(self.chances.len());
        for (name, b) in chance_names.iter().zip(&mut self.chances) {
            columns.push(float(name, true, b));
        }
        for (name, b) in date_names.iter().zip(&mut self.next_dates) {
            columns.push((Field::new(*name, DataType::Date32, true), Arc::new(b.finish())));
        }
        columns.push(float(overdue, true, &mut self.overdue_days));
        columns
    }
}

/// The columns of `scores.parquet` for `scored` ([`ScoreColumns::finish`]), built a part of the
/// customers per core and joined in row order: copying a million customers' text into the columns
/// was over half a second on one core.
pub fn score_columns(scored: &[ScoredCustomer<'_>]) -> Result<Vec<(Field, ArrayRef)>> {
    score_columns_on(std::thread::available_parallelism().map_or(1, |n| n.get()), scored)
}

/// [`score_columns`] in at most `threads` parts.
fn score_columns_on(threads: usize, scored: &[ScoredCustomer<'_>]) -> Result<Vec<(Field, ArrayRef)>> {
    let chunk = scored.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<&[ScoredCustomer<'_>]> = scored.chunks(chunk).collect();
    let mut parts = churn_core::parallel_map_on(threads, parts, |part| part.iter().collect::<ScoreColumns>().finish());
    if parts.len() <= 1 {
        return Ok(parts.pop().unwrap_or_else(|| ScoreColumns::with_capacity(0).finish()));
    }
    // Joined a column at a time, each part's piece let go once joined: the parts and the joined
    // columns are never both whole in memory.
    let mut parts: Vec<_> = parts.into_iter().map(Vec::into_iter).collect();
    let mut columns = Vec::new();
    loop {
        let pieces: Vec<(Field, ArrayRef)> = parts.iter_mut().filter_map(Iterator::next).collect();
        let Some((field, _)) = pieces.first() else {
            return Ok(columns);
        };
        let arrays: Vec<&dyn Array> = pieces.iter().map(|(_, array)| array.as_ref()).collect();
        let joined = arrow::compute::concat(&arrays).map_err(|e| crate::error::Error::invalid(e.to_string()))?;
        columns.push((field.clone(), joined));
    }
}

impl<'a, 'b> FromIterator<&'a ScoredCustomer<'b>> for ScoreColumns {
    fn from_iter<I: IntoIterator<Item = &'a ScoredCustomer<'b>>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut columns = ScoreColumns::with_capacity(iter.size_hint().0);
        for s in iter {
            columns.push(s);
        }
        columns
    }
}

/// `scores.parquet`'s bytes for `scored` (`path` names the file in errors), encoded a slice of the
/// customers at a time: the bytes of [`score_columns`] encoded at once, without a million
/// customers' columns (about 200 MB) in memory beside their scores, where `churn run` peaked.
pub fn scores_parquet(path: &Path, scored: &[ScoredCustomer<'_>], metadata: &[(&str, &str)]) -> Result<Vec<u8>> {
    let fields = score_columns_on(1, &[])?.into_iter().map(|(field, _)| field).collect();
    let mut file = ParquetBytes::new(path, fields, metadata)?;
    for slice in file.slices(scored.len()) {
        let columns = score_columns(&scored[slice])?;
        file.write(columns.into_iter().map(|(_, array)| array).collect())?;
    }
    Ok(file.finish()?)
}

/// `segments.parquet`'s columns: each customer's segment id and name, and the distance to its
/// centroid. Built as Arrow arrays straight from the ids and the assignment (a [`Table`] would
/// hold a string per customer twice over).
pub fn segments_columns(ids: &[String], names: &[&str], assignment: &Assignment) -> Vec<(Field, ArrayRef)> {
    let segment = &assignment.segment;
    vec![
        (
            Field::new("customer_id", DataType::Utf8, false),
            Arc::new(StringArray::from_iter_values(ids)),
        ),
        (
            Field::new("segment_id", DataType::Int64, false),
            Arc::new(Int64Array::from_iter_values(segment.iter().map(|&s| s as i64))),
        ),
        (
            Field::new("segment_name", DataType::Utf8, false),
            Arc::new(StringArray::from_iter_values(segment.iter().map(|&s| names[s]))),
        ),
        (
            Field::new("distance", DataType::Float64, false),
            Arc::new(Float64Array::from(assignment.distance.clone())),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use churn_core::{Column, Table};
    use churn_features::{arrays_to_parquet_bytes, read_table, write_table};
    use churn_score::{NextDays, NextPurchase, Outlook, RiskBand};
    use std::path::Path;

    use super::*;

    /// Two customers: one with every field, one with every optional field empty.
    fn scored(as_of: chrono::NaiveDate) -> [ScoredCustomer<'static>; 2] {
        let outlook = Outlook {
            p_30d: 0.1,
            p_90d: 0.25,
            p_horizon: 0.25,
            p_365d: 0.6,
            days: Some(NextDays {
                median: 44.5,
                low: 3.0,
                high: 120.0,
            }),
        };
        [
            ScoredCustomer {
                customer_id: "c1",
                churn_probability: 0.8,
                risk_band: RiskBand::High,
                value_at_risk: 12.5,
                segment: Some("Loyal"),
                rfm_segment: Some("At risk"),
                recommended_action: "call",
                reasons: ["first", "second, with \"quotes\"", "third"].into_iter().collect(),
                next_purchase: Some(NextPurchase::new(outlook, as_of)),
                overdue_days: Some(3.0),
            },
            ScoredCustomer {
                customer_id: "c2",
                churn_probability: 0.1,
                risk_band: RiskBand::Low,
                value_at_risk: 0.0,
                segment: None,
                rfm_segment: None,
                recommended_action: "no action",
                reasons: ReasonList::default(),
                next_purchase: None,
                overdue_days: None,
            },
        ]
    }

    #[test]
    fn segment_columns_encode_the_file_a_table_of_the_same_values_writes() -> Result<()> {
        let ids: Vec<String> = ["007", "=1+1", "b"].map(String::from).to_vec();
        let assignment = Assignment {
            segment: vec![1, 0, 1],
            distance: vec![0.25, 1e-300, 2.0],
        };
        let metadata = [("churn.segment_model", "segments.json")];
        let columns = segments_columns(&ids, &["Lost", "Loyal"], &assignment);
        let bytes = arrays_to_parquet_bytes(Path::new("segments.parquet"), columns, &metadata)?;
        let table = Table::new()
            .with_metadata("churn.segment_model", "segments.json")
            .with_column("customer_id", Column::Text(ids.clone()))?
            .with_column("segment_id", Column::Int64(vec![1, 0, 1]))?
            .with_column(
                "segment_name",
                Column::Text(["Loyal", "Lost", "Loyal"].map(String::from).to_vec()),
            )?
            .with_column("distance", Column::Float64(vec![0.25, 1e-300, 2.0]))?;
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("segments.parquet");
        write_table(&path, &table)?;
        assert_eq!(std::fs::read(&path).expect("written"), bytes);
        Ok(())
    }

    #[test]
    fn score_columns_encode_the_file_a_table_of_the_same_values_writes() -> Result<()> {
        let as_of = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
        let scored = scored(as_of);
        let metadata = [("churn.as_of", "2024-01-01")];
        let file = Path::new("scores.parquet");
        let bytes = arrays_to_parquet_bytes(file, scored.iter().collect::<ScoreColumns>().finish(), &metadata)?;

        // The same values as a table of owned cells, written the general way, give the same bytes.
        let day = |d: chrono::NaiveDate| Some(crate::lifetime::day_number(d) as i32);
        let dates = scored[0].next_purchase.and_then(|n| n.dates).expect("dates");
        let text = |v: [&str; 2]| Column::Text(v.map(String::from).to_vec());
        let optional = |v: [Option<&str>; 2]| Column::OptionalText(v.map(|s| s.map(String::from)).to_vec());
        let mut table = Table::new()
            .with_metadata("churn.as_of", "2024-01-01")
            .with_column("customer_id", text(["c1", "c2"]))?
            .with_column("churn_probability", Column::Float64(vec![0.8, 0.1]))?
            .with_column("risk_band", text(["high", "low"]))?
            .with_column("value_at_risk", Column::Float64(vec![12.5, 0.0]))?
            .with_column("segment", optional([Some("Loyal"), None]))?
            .with_column("rfm_segment", optional([Some("At risk"), None]))?
            .with_column("recommended_action", text(["call", "no action"]))?
            .with_column("reason_1", optional([Some("first"), None]))?
            .with_column("reason_2", optional([Some("second, with \"quotes\""), None]))?
            .with_column("reason_3", optional([Some("third"), None]))?;
        let next: [Column; 8] = [
            Column::OptionalFloat64(vec![Some(0.1), None]),
            Column::OptionalFloat64(vec![Some(0.25), None]),
            Column::OptionalFloat64(vec![Some(0.25), None]),
            Column::OptionalFloat64(vec![Some(0.6), None]),
            Column::OptionalDate(vec![day(dates[0]), None]),
            Column::OptionalDate(vec![day(dates[1]), None]),
            Column::OptionalDate(vec![day(dates[2]), None]),
            Column::OptionalFloat64(vec![Some(3.0), None]),
        ];
        for (name, column) in NEXT_PURCHASE_COLUMNS.into_iter().zip(next) {
            table = table.with_column(name, column)?;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("scores.parquet");
        write_table(&path, &table)?;
        assert_eq!(std::fs::read(&path).expect("written"), bytes);

        // Built in parts and joined, the columns are the same.
        for threads in 1..=3 {
            let joined = arrays_to_parquet_bytes(file, score_columns_on(threads, &scored)?, &metadata)?;
            assert_eq!(joined, bytes, "{threads} threads");
        }
        // Encoded a slice at a time, the file is the same.
        assert_eq!(scores_parquet(file, &scored, &metadata)?, bytes);
        assert_eq!(score_columns_on(2, &[])?.len(), 10 + NEXT_PURCHASE_COLUMNS.len());

        // And the file reads back as that table.
        std::fs::write(&path, &bytes).expect("written");
        let back = read_table(&path)?;
        assert_eq!(back.columns(), table.columns());
        assert_eq!(back.metadata(), table.metadata());
        Ok(())
    }
}
