//! `churn explain`: one customer's features, probability and the contribution of each input.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use churn_score::{describe, Explainer, RiskBands};
use serde_json::json;

use churn_pipeline::registry::load_churn_model as load_model;

use super::score::{load_features, segment_names};
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
    let explainer = Explainer::new(&model, &frame);
    let z_row: Vec<f64> = z.row(row).to_vec();
    let mut contributions = explainer.contributions(&z_row, row);
    contributions.sort_by(|a, b| b.log_odds.abs().total_cmp(&a.log_odds.abs()));
    let segment = match &args.segment_model {
        Some(path) => Some(segment_names(path, &frame, seal)?.swap_remove(row)),
        None => None,
    };
    let rfm = frame.text("rfm_segment").and_then(|t| t[row].clone());

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
        "intercept": model.intercept,
        "contributions": contributions,
    });
    printer.result(&human, &json)?;
    Ok(())
}
