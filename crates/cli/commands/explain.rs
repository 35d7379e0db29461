//! `churn explain`: one customer's features, probability, reasons and the contribution of each input.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use churn_core::format::percent;
use churn_score::{describe, Explainer, NextPurchaseFrom, NextPurchases, ReasonScratch, RiskBands};
use serde_json::json;

use churn_pipeline::registry::load_churn_model as load_model;

use super::score::{load_features, segment_names, SegmentNames};
use crate::args::ExplainArgs;
use crate::printer::Printer;

pub fn explain(args: &ExplainArgs, seal: churn_core::SealPolicy, printer: Printer) -> Result<()> {
    let (table, frame) = load_features(&args.features)?;
    let Some(row) = frame.ids().iter().position(|id| *id == args.customer_id) else {
        bail!(
            "customer {:?} is not in {} ({} customers as of {}); ids are matched exactly, as text",
            args.customer_id,
            args.features.display(),
            frame.len(),
            table.as_of
        );
    };
    let model = load_model(&args.model, seal)?;
    let z = model.standardized(&frame)?;
    let probability = model.predict_standardized(&z)[row];
    let band = RiskBands::default().assign(&[probability])[0];
    let segments = match &args.segment_model {
        Some(path) => Some(segment_names(path, &frame, seal)?),
        None => None,
    };
    let segment = segments.as_ref().map(|names| names.of(row).to_string());
    // The reasons as `churn score` writes them (against the customer's segment with a segment model).
    let per_row = segments.as_ref().map(SegmentNames::per_row);
    let explainer = Explainer::with_segments(&model, &frame, per_row.as_deref());
    let z_row: Vec<f64> = z.row(row).to_vec();
    let reasons = explainer.reasons(&z_row, row, &mut ReasonScratch::default());
    let mut contributions = explainer.contributions(&z_row, row);
    contributions.sort_by(|a, b| b.log_odds.abs().total_cmp(&a.log_odds.abs()));
    let rfm = frame.text("rfm_segment").and_then(|t| t.get(row));
    // The next purchase from the model's rhythm, as `churn score` gives it without lifetime values.
    let next_purchases = NextPurchases::new(&model, &frame, &NextPurchaseFrom::Rhythm(table.as_of))?;
    let next = next_purchases.next_purchase(row, probability);
    let overdue_days = next_purchases.overdue_days(row);
    let value = |column: &str| frame.numeric(column).and_then(|v| v.get(row));
    let rhythm = value("typical_gap_days").zip(value("recency_days"));

    let mut human = String::new();
    let _ = writeln!(
        human,
        "customer {} as of {}: churn probability {:.4} ({band} risk at the default bands) within {} days",
        args.customer_id, table.as_of, probability, model.horizon_days
    );
    if let Some(segment) = &segment {
        let _ = writeln!(human, "  segment       {segment}");
    }
    if let Some(rfm) = &rfm {
        let _ = writeln!(human, "  RFM segment   {rfm}");
    }
    if reasons.is_empty() {
        let _ = writeln!(
            human,
            "  reasons       none: no input that raises the risk reads as a risk on its own"
        );
    }
    for (i, reason) in reasons.iter().enumerate() {
        let label = if i == 0 { "reasons" } else { "" };
        let _ = writeln!(human, "  {label:<13} {}. {reason}", i + 1);
    }
    if let Some(next) = &next {
        let o = next.outlook;
        let chances = format!(
            "chance of a purchase within 30 / 90 / 365 days: {} / {} / {}",
            percent(o.p_30d),
            percent(o.p_90d),
            percent(o.p_365d)
        );
        match next.dates {
            Some([median, low, high]) => {
                let _ = writeln!(human, "  next purchase {median} (80 %: {low} to {high}); {chances}");
            }
            None => {
                let _ = writeln!(human, "  next purchase unlikely within a year; {chances}");
            }
        }
    }
    if let Some((gap, recency)) = rhythm {
        let days = |n: f64| {
            if n == 1.0 {
                "1 day".to_string()
            } else {
                format!("{n:.0} days")
            }
        };
        let due = match overdue_days {
            Some(overdue) if overdue > 0.0 => format!("{} overdue", days(overdue.floor())),
            _ => format!("due in {}", days((gap - recency).ceil())),
        };
        let _ = writeln!(
            human,
            "  rhythm        buys every {gap:.0} days as a rule; {recency:.0} days since the last purchase ({due})"
        );
    }
    let _ = writeln!(
        human,
        "\n  {:>9}  {:<26} {:>12} {:>12}  in words",
        "log-odds", "feature", "value", "median"
    );
    let fmt = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.2}"));
    for c in &contributions {
        let _ = writeln!(
            human,
            "  {:>+9.3}  {:<26} {:>12} {:>12}  {}",
            c.log_odds,
            c.feature,
            fmt(c.value),
            fmt(c.median),
            describe(c)
        );
    }
    let _ = writeln!(
        human,
        "  {:>+9.3}  (intercept: an average customer's log-odds)",
        model.intercept
    );
    let json = json!({
        "command": "explain",
        "customer_id": args.customer_id,
        "as_of": table.as_of.to_string(),
        "churn_probability": probability,
        "risk_band": band,
        "segment": segment,
        "rfm_segment": rfm,
        "reasons": reasons,
        "next_purchase": next,
        "overdue_days": overdue_days,
        "intercept": model.intercept,
        "contributions": contributions,
    });
    printer.result(&human, &json)?;
    Ok(())
}
