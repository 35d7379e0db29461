//! The tables a run writes as Parquet: every customer's score and segment.

use churn_core::{Column, Table};
use churn_score::ScoredCustomer;
use churn_segment::Assignment;

use crate::error::Result;

/// The columns of `scores.parquet`, filled by moving each customer's fields in.
#[derive(Debug, Default)]
pub struct ScoreColumns {
    customer_id: Vec<String>,
    churn_probability: Vec<f64>,
    risk_band: Vec<String>,
    value_at_risk: Vec<f64>,
    segment: Vec<Option<String>>,
    rfm_segment: Vec<Option<String>>,
    recommended_action: Vec<String>,
    reasons: [Vec<Option<String>>; 3],
    /// `p_purchase_30d`, `_90d`, `_horizon`, `_365d`.
    chances: [Vec<Option<f64>>; 4],
    /// `next_purchase_date`, `_low_date`, `_high_date`, as days since 1970-01-01.
    next_dates: [Vec<Option<i32>>; 3],
    overdue_days: Vec<Option<f64>>,
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
        ScoreColumns {
            customer_id: Vec::with_capacity(n),
            churn_probability: Vec::with_capacity(n),
            risk_band: Vec::with_capacity(n),
            value_at_risk: Vec::with_capacity(n),
            segment: Vec::with_capacity(n),
            rfm_segment: Vec::with_capacity(n),
            recommended_action: Vec::with_capacity(n),
            reasons: std::array::from_fn(|_| Vec::with_capacity(n)),
            chances: std::array::from_fn(|_| Vec::with_capacity(n)),
            next_dates: std::array::from_fn(|_| Vec::with_capacity(n)),
            overdue_days: Vec::with_capacity(n),
        }
    }

    /// Moves one customer's fields in.
    pub fn push(&mut self, s: ScoredCustomer) {
        self.customer_id.push(s.customer_id);
        self.churn_probability.push(s.churn_probability);
        self.risk_band.push(s.risk_band.as_str().to_string());
        self.value_at_risk.push(s.value_at_risk);
        self.segment.push(s.segment);
        self.rfm_segment.push(s.rfm_segment);
        self.recommended_action.push(s.recommended_action);
        let mut reasons = s.reasons.into_iter();
        for column in &mut self.reasons {
            column.push(reasons.next());
        }
        let chances = s
            .next_purchase
            .map(|n| n.outlook)
            .map(|o| [o.p_30d, o.p_90d, o.p_horizon, o.p_365d]);
        for (i, column) in self.chances.iter_mut().enumerate() {
            column.push(chances.map(|c| c[i]));
        }
        let dates = s.next_purchase.and_then(|n| n.dates);
        for (i, column) in self.next_dates.iter_mut().enumerate() {
            // Parquet stores a date as its day number in 32 bits.
            column.push(dates.map(|d| crate::lifetime::day_number(d[i]) as i32));
        }
        self.overdue_days.push(s.overdue_days);
    }

    /// The table, in the documented column order.
    pub fn into_table(self) -> Result<Table> {
        let [r1, r2, r3] = self.reasons;
        let chances = self.chances.into_iter().map(Column::OptionalFloat64);
        let dates = self.next_dates.into_iter().map(Column::OptionalDate);
        let next = chances.chain(dates).chain([Column::OptionalFloat64(self.overdue_days)]);
        let mut table = Table::new()
            .with_column("customer_id", Column::Text(self.customer_id))?
            .with_column("churn_probability", Column::Float64(self.churn_probability))?
            .with_column("risk_band", Column::Text(self.risk_band))?
            .with_column("value_at_risk", Column::Float64(self.value_at_risk))?
            .with_column("segment", Column::OptionalText(self.segment))?
            .with_column("rfm_segment", Column::OptionalText(self.rfm_segment))?
            .with_column("recommended_action", Column::Text(self.recommended_action))?
            .with_column("reason_1", Column::OptionalText(r1))?
            .with_column("reason_2", Column::OptionalText(r2))?
            .with_column("reason_3", Column::OptionalText(r3))?;
        for (name, column) in NEXT_PURCHASE_COLUMNS.into_iter().zip(next) {
            table = table.with_column(name, column)?;
        }
        Ok(table)
    }
}

impl FromIterator<ScoredCustomer> for ScoreColumns {
    fn from_iter<I: IntoIterator<Item = ScoredCustomer>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut columns = ScoreColumns::with_capacity(iter.size_hint().0);
        for s in iter {
            columns.push(s);
        }
        columns
    }
}

/// `segments.parquet`: each customer's segment id and name, and the distance to its centroid.
pub fn segments_table(ids: &[String], names: &[&str], assignment: &Assignment) -> Result<Table> {
    Ok(Table::new()
        .with_column("customer_id", Column::Text(ids.to_vec()))?
        .with_column(
            "segment_id",
            Column::Int64(assignment.segment.iter().map(|&s| s as i64).collect()),
        )?
        .with_column(
            "segment_name",
            Column::Text(assignment.segment.iter().map(|&s| names[s].to_string()).collect()),
        )?
        .with_column("distance", Column::Float64(assignment.distance.clone()))?)
}
