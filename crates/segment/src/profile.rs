//! Segment profiles: who is in each segment, what they are worth, and how the segments line up
//! with the rule-based RFM segments.

use std::io::Write;

use churn_core::FeatureFrame;
use serde::Serialize;

use crate::error::Result;
use crate::model::Assignment;

/// The raw features a profile summarizes, when the frame has them.
pub const PROFILE_FEATURES: [&str; 4] = ["recency_days", "frequency", "monetary_total", "tenure_days"];

/// The text column cross-tabulated against the segments.
pub const RFM_COLUMN: &str = "rfm_segment";

/// Profiles of every segment, plus the k-means x RFM cross-tab.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profiles {
    /// The features summarized by mean and median, in column order.
    pub features: Vec<String>,
    /// One profile per segment, by id.
    pub segments: Vec<SegmentProfile>,
    /// Customers per (segment, RFM segment), when the frame has `rfm_segment`.
    pub rfm: Option<CrossTab>,
}

/// One segment's profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentProfile {
    /// Segment id.
    pub id: usize,
    /// Segment name.
    pub name: String,
    /// Customers in the segment.
    pub customers: u64,
    /// Share of all customers (0..1).
    pub share_customers: f64,
    /// Share of total revenue (none when total revenue is not positive).
    pub share_revenue: Option<f64>,
    /// Mean of each profile feature (none for an empty segment).
    pub means: Vec<Option<f64>>,
    /// Median of each profile feature (none for an empty segment).
    pub medians: Vec<Option<f64>>,
    /// Share of the segment's customers who churned, when labels are given.
    pub churn_rate: Option<f64>,
}

/// Customer counts of segments (rows) by RFM segment (columns).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrossTab {
    /// RFM segment names, most customers first (ties by name); `(none)` for a missing value.
    pub columns: Vec<String>,
    /// `counts[segment][column]`.
    pub counts: Vec<Vec<u64>>,
}

/// Profiles the segments of `assignment` (ids below `names.len()`) over `frame`.
///
/// `revenue_column` gives revenue shares; `churned` (one flag per row), when given, gives churn
/// rates. Features from [`PROFILE_FEATURES`] that the frame lacks are left out.
pub fn profile_segments(
    frame: &FeatureFrame,
    names: &[&str],
    assignment: &Assignment,
    revenue_column: &str,
    churned: Option<&[bool]>,
) -> Result<Profiles> {
    let k = names.len();
    let n = frame.len();
    let revenue = frame.required(revenue_column)?;
    let total_revenue: f64 = revenue.iter().sum();
    let features: Vec<&str> = PROFILE_FEATURES
        .into_iter()
        .filter(|f| frame.numeric(f).is_some())
        .collect();
    let columns: Vec<Vec<f64>> = features.iter().map(|f| frame.required(f)).collect::<Result<_, _>>()?;

    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (row, &s) in assignment.segment.iter().enumerate() {
        members[s].push(row);
    }
    let segments = members
        .iter()
        .enumerate()
        .map(|(id, rows)| {
            let seg_revenue: f64 = rows.iter().map(|&r| revenue[r]).sum();
            let (means, medians) = columns
                .iter()
                .map(|col| {
                    let mut values: Vec<f64> = rows.iter().map(|&r| col[r]).collect();
                    (mean(&values), churn_core::median(&mut values))
                })
                .unzip();
            SegmentProfile {
                id,
                name: names[id].to_string(),
                customers: rows.len() as u64,
                share_customers: if n == 0 { 0.0 } else { rows.len() as f64 / n as f64 },
                share_revenue: (total_revenue > 0.0).then(|| seg_revenue / total_revenue),
                means,
                medians,
                churn_rate: churned
                    .filter(|_| !rows.is_empty())
                    .map(|flags| rows.iter().filter(|&&r| flags[r]).count() as f64 / rows.len() as f64),
            }
        })
        .collect();

    let rfm = frame.text(RFM_COLUMN).map(|labels| {
        let label = |r: usize| labels.get(r).unwrap_or("(none)");
        let mut columns: Vec<(String, u64)> = Vec::new();
        for r in 0..n {
            match columns.iter_mut().find(|(name, _)| name == label(r)) {
                Some((_, count)) => *count += 1,
                None => columns.push((label(r).to_string(), 1)),
            }
        }
        columns.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let columns: Vec<String> = columns.into_iter().map(|(name, _)| name).collect();
        let counts = members
            .iter()
            .map(|rows| {
                let mut row = vec![0u64; columns.len()];
                for &r in rows {
                    if let Some(c) = columns.iter().position(|name| name == label(r)) {
                        row[c] += 1;
                    }
                }
                row
            })
            .collect();
        CrossTab { columns, counts }
    });

    Ok(Profiles {
        features: features.iter().map(|f| f.to_string()).collect(),
        segments,
        rfm,
    })
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

impl Profiles {
    /// Writes the profiles as CSV (RFC 4180, `\n` line ends): one row per segment with
    /// `segment_id, segment_name, customers, share_customers, share_revenue`, `<feature>_mean` and
    /// `<feature>_median` per profile feature, `churn_rate`, then one `rfm_segment=<name>` count
    /// column per RFM segment. Shares and rates are fractions (0..1); a missing value is empty.
    pub fn write_csv(&self, out: impl Write) -> Result<()> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(out);
        let mut header: Vec<String> = [
            "segment_id",
            "segment_name",
            "customers",
            "share_customers",
            "share_revenue",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for f in &self.features {
            header.push(format!("{f}_mean"));
            header.push(format!("{f}_median"));
        }
        header.push("churn_rate".into());
        if let Some(rfm) = &self.rfm {
            header.extend(rfm.columns.iter().map(|c| format!("{RFM_COLUMN}={c}")));
        }
        w.write_record(&header).map_err(csv_error)?;
        let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        for s in &self.segments {
            let mut record = vec![
                s.id.to_string(),
                s.name.clone(),
                s.customers.to_string(),
                s.share_customers.to_string(),
                opt(s.share_revenue),
            ];
            for (m, md) in s.means.iter().zip(&s.medians) {
                record.push(opt(*m));
                record.push(opt(*md));
            }
            record.push(opt(s.churn_rate));
            if let Some(rfm) = &self.rfm {
                record.extend(rfm.counts[s.id].iter().map(|c| c.to_string()));
            }
            w.write_record(&record).map_err(csv_error)?;
        }
        w.flush()?;
        Ok(())
    }
}

fn csv_error(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> FeatureFrame {
        FeatureFrame::try_new((0..5).map(|i| format!("c{i}")).collect())
            .and_then(|f| {
                f.with_numeric(
                    "recency_days",
                    vec![Some(1.0), Some(3.0), Some(10.0), Some(20.0), Some(60.0)],
                )
            })
            .and_then(|f| {
                f.with_numeric(
                    "monetary_total",
                    vec![Some(100.0), Some(50.0), Some(30.0), Some(-10.0), Some(30.0)],
                )
            })
            .and_then(|f| {
                f.with_text(
                    RFM_COLUMN,
                    ["Champions", "Champions", "Lost", "Lost", "At risk"]
                        .into_iter()
                        .map(|s| Some(s.to_string()))
                        .collect(),
                )
            })
            .expect("valid frame")
    }

    #[test]
    fn profiles_match_hand_computed_values() -> Result<()> {
        let assignment = Assignment {
            segment: vec![0, 0, 1, 1, 1],
            distance: vec![0.0; 5],
        };
        let churned = [false, false, true, false, true];
        let p = profile_segments(&frame(), &["A", "B"], &assignment, "monetary_total", Some(&churned))?;
        assert_eq!(p.features, vec!["recency_days", "monetary_total"]);
        let (a, b) = (&p.segments[0], &p.segments[1]);
        assert_eq!((a.customers, b.customers), (2, 3));
        assert_eq!(a.share_customers, 0.4);
        // Total revenue 200: A has 150, B has 50.
        assert_eq!((a.share_revenue, b.share_revenue), (Some(0.75), Some(0.25)));
        assert_eq!(a.means, vec![Some(2.0), Some(75.0)]);
        assert_eq!(a.medians, vec![Some(2.0), Some(75.0)]);
        assert_eq!(b.means[0], Some(30.0));
        assert_eq!(b.medians, vec![Some(20.0), Some(30.0)]);
        assert_eq!(b.churn_rate, Some(2.0 / 3.0));
        assert_eq!(a.churn_rate, Some(0.0));
        let rfm = p.rfm.as_ref().expect("cross-tab");
        assert_eq!(rfm.columns, vec!["Champions", "Lost", "At risk"]);
        assert_eq!(rfm.counts, vec![vec![2, 0, 0], vec![0, 2, 1]]);
        Ok(())
    }

    #[test]
    fn profile_csv_has_the_documented_columns() -> Result<()> {
        let assignment = Assignment {
            segment: vec![0, 0, 1, 1, 1],
            distance: vec![0.0; 5],
        };
        let p = profile_segments(
            &frame(),
            &["High-value loyal", "Lost, low"],
            &assignment,
            "monetary_total",
            None,
        )?;
        let mut out = Vec::new();
        p.write_csv(&mut out)?;
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "segment_id,segment_name,customers,share_customers,share_revenue,recency_days_mean,recency_days_median,\
             monetary_total_mean,monetary_total_median,churn_rate,rfm_segment=Champions,rfm_segment=Lost,rfm_segment=At risk"
        );
        assert_eq!(lines[1], "0,High-value loyal,2,0.4,0.75,2,2,75,75,,2,0,0");
        assert_eq!(
            lines[2],
            "1,\"Lost, low\",3,0.6,0.25,30,20,16.666666666666668,30,,0,2,1"
        );
        assert!(!text.contains('\r'));
        Ok(())
    }
}
