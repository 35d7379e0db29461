//! `churn score`: every customer's churn probability, and the at-risk list for the CRM.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use churn_core::{Column, FeatureFrame, Table};
use churn_features::{write_table, FeatureTable, FEATURE_SET_VERSION};
use churn_score::{at_risk, score_customers, write_at_risk, ChurnModel, AT_RISK_SCHEMA_VERSION};
use churn_segment::SegmentModel;
use serde_json::json;

use super::thousands;
use crate::outputs::StagedOutputs;
use crate::printer::Printer;
use crate::settings::ScoreSettings;

/// Reads a churn model and checks it fits the feature file's version.
pub(crate) fn load_model(path: &Path) -> Result<ChurnModel> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the churn model {}", path.display()))?;
    let model = ChurnModel::from_json(&text).with_context(|| format!("cannot use {}", path.display()))?;
    if model.feature_set_version != FEATURE_SET_VERSION {
        bail!(
            "{} was trained on feature-set version {}, but this build writes version {FEATURE_SET_VERSION}; retrain it",
            path.display(),
            model.feature_set_version
        );
    }
    Ok(model)
}

/// Reads the feature file as a frame.
pub(crate) fn load_features(path: &Path) -> Result<(FeatureTable, FeatureFrame)> {
    let table =
        FeatureTable::read_parquet(path).with_context(|| format!("cannot read the feature file {}", path.display()))?;
    let frame = table
        .to_frame()
        .with_context(|| format!("cannot use the feature file {}", path.display()))?;
    Ok((table, frame))
}

/// Each customer's segment name under a saved segment model.
pub(crate) fn segment_names(path: &Path, frame: &FeatureFrame) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the segment model {}", path.display()))?;
    let model = SegmentModel::from_json(&text).with_context(|| format!("cannot use {}", path.display()))?;
    let assignment = model
        .assign(frame)
        .with_context(|| format!("cannot assign segments with {}", path.display()))?;
    let names = model.names();
    Ok(assignment.segment.iter().map(|&s| names[s].to_string()).collect())
}

pub fn score(settings: &ScoreSettings, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let (table, frame) = load_features(&settings.features)?;
    let model = load_model(&settings.model)?;
    let read_seconds = started.elapsed().as_secs_f64();
    let segments = settings
        .segment_model
        .as_deref()
        .map(|path| segment_names(path, &frame))
        .transpose()?;
    let spinner = printer.spinner(&format!("scoring {} customers", thousands(frame.len() as u64)));
    let scored = score_customers(&model, &frame, segments.as_deref(), &settings.bands, &settings.actions);
    spinner.finish_and_clear();
    let scored = scored.with_context(|| {
        format!(
            "cannot score {} with {} (do the features match the model's inputs?)",
            settings.features.display(),
            settings.model.display()
        )
    })?;
    let list = at_risk(&scored, settings.top);

    let reason = |i: usize| Column::OptionalText(scored.iter().map(|s| s.reasons.get(i).cloned()).collect());
    let scores = Table::new()
        .with_column(
            "customer_id",
            Column::Text(scored.iter().map(|s| s.customer_id.clone()).collect()),
        )?
        .with_column(
            "churn_probability",
            Column::Float64(scored.iter().map(|s| s.churn_probability).collect()),
        )?
        .with_column(
            "risk_band",
            Column::Text(scored.iter().map(|s| s.risk_band.to_string()).collect()),
        )?
        .with_column(
            "value_at_risk",
            Column::Float64(scored.iter().map(|s| s.value_at_risk).collect()),
        )?
        .with_column(
            "segment",
            Column::OptionalText(scored.iter().map(|s| s.segment.clone()).collect()),
        )?
        .with_column(
            "rfm_segment",
            Column::OptionalText(scored.iter().map(|s| s.rfm_segment.clone()).collect()),
        )?
        .with_column(
            "recommended_action",
            Column::Text(scored.iter().map(|s| s.recommended_action.clone()).collect()),
        )?
        .with_column("reason_1", reason(0))?
        .with_column("reason_2", reason(1))?
        .with_column("reason_3", reason(2))?
        .with_metadata("churn.as_of", &table.as_of.to_string())
        .with_metadata("churn.input_fingerprint", &table.fingerprint)
        .with_metadata("churn.churn_model", &settings.model.display().to_string())
        .with_metadata("churn.tool_version", env!("CARGO_PKG_VERSION"));
    let mut outputs = StagedOutputs::new();
    let staged = outputs.stage(&settings.out)?;
    write_table(&staged, &scores).with_context(|| format!("cannot write {}", settings.out.display()))?;
    let mut csv = Vec::new();
    write_at_risk(&list, &mut csv)?;
    outputs.stage_bytes(&settings.at_risk, &csv)?;
    outputs.commit()?;
    let seconds = started.elapsed().as_secs_f64();

    let count = |band: &str| scored.iter().filter(|s| s.risk_band == band).count() as u64;
    let value: f64 = list.iter().map(|s| s.value_at_risk).sum();
    let mut human = String::new();
    let _ = writeln!(
        human,
        "churn score: {} customers as of {} -> {} ({seconds:.2} s)",
        thousands(frame.len() as u64),
        table.as_of,
        settings.out.display()
    );
    let _ = writeln!(
        human,
        "  risk bands   {} high, {} medium, {} low",
        thousands(count("high")),
        thousands(count("medium")),
        thousands(count("low"))
    );
    let _ = writeln!(
        human,
        "  at risk      {} customers, value at risk {value:.2} -> {}",
        thousands(list.len() as u64),
        settings.at_risk.display()
    );
    if !list.is_empty() {
        let _ = writeln!(
            human,
            "\n  {:<16} {:>11} {:>7} {:>13}  first reason",
            "customer", "probability", "band", "value at risk"
        );
        for s in list.iter().take(10) {
            let _ = writeln!(
                human,
                "  {:<16} {:>11.4} {:>7} {:>13.2}  {}",
                s.customer_id,
                s.churn_probability,
                s.risk_band,
                s.value_at_risk,
                s.reasons.first().map_or("", String::as_str)
            );
        }
    }
    let json = json!({
        "command": "score",
        "as_of": table.as_of.to_string(),
        "customers": frame.len(),
        "output": settings.out.display().to_string(),
        "at_risk_output": settings.at_risk.display().to_string(),
        "at_risk_schema_version": AT_RISK_SCHEMA_VERSION,
        "bands": {"high": count("high"), "medium": count("medium"), "low": count("low")},
        "at_risk": list.len(),
        "value_at_risk": value,
        "seconds": seconds,
        "timings": {
            "read_seconds": read_seconds,
            "score_and_write_seconds": seconds - read_seconds,
        },
    });
    printer.result(&human, &json)?;
    Ok(())
}
