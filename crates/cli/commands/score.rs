//! `churn score`: every customer's churn probability, and the at-risk list for the CRM.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use churn_clv::churn_inputs;
use churn_core::{Column, FeatureFrame, SealPolicy};
use churn_features::{arrays_to_parquet_bytes, FeatureTable};
use churn_pipeline::lifetime::values_by_id;
use churn_pipeline::registry::{load_churn_model as load_model, load_segment_model};
use churn_pipeline::tables::score_columns;
use churn_score::gain::{expected_gains, within_budget, MeasuredUplift};
use churn_score::{
    at_risk, score_customers, split_holdout, ChurnModel, NextDays, NextPurchaseFrom, Outlook, RiskBand,
    AT_RISK_SCHEMA_VERSION,
};
use serde_json::json;

use super::thousands;
use crate::outputs::StagedOutputs;
use crate::printer::Printer;
use crate::settings::ScoreSettings;

/// Reads the feature file as a frame.
pub(crate) fn load_features(path: &Path) -> Result<(FeatureTable, FeatureFrame)> {
    let table =
        FeatureTable::read_parquet(path).with_context(|| format!("cannot read the feature file {}", path.display()))?;
    let frame = table
        .to_frame()
        .with_context(|| format!("cannot use the feature file {}", path.display()))?;
    Ok((table, frame))
}

/// The segments of a saved segment model's customers: its names, and each customer's.
pub(crate) struct SegmentNames {
    names: Vec<String>,
    of_row: Vec<usize>,
}

impl SegmentNames {
    /// Each row's segment name, borrowed (a million customers share a handful of names).
    pub(crate) fn per_row(&self) -> Vec<&str> {
        self.of_row.iter().map(|&s| self.names[s].as_str()).collect()
    }

    /// The segment of the customer on `row`.
    pub(crate) fn of(&self, row: usize) -> &str {
        &self.names[self.of_row[row]]
    }
}

/// Each customer's segment under a saved segment model.
pub(crate) fn segment_names(path: &Path, frame: &FeatureFrame, seal: SealPolicy) -> Result<SegmentNames> {
    let model = load_segment_model(path, seal)?;
    let assignment = model
        .assign(frame)
        .with_context(|| format!("cannot assign segments with {}", path.display()))?;
    Ok(SegmentNames {
        names: model.names().iter().map(|n| n.to_string()).collect(),
        of_row: assignment.segment,
    })
}

/// What [`load_clv`] takes from a `clv.parquet`, in the frame's row order.
pub(crate) struct ClvFile {
    /// Each customer's lifetime value.
    pub values: Vec<f64>,
    /// Each customer's next purchase from the BG/NBD posterior, when the file's horizon is the
    /// churn model's (else the model's rhythm gives it).
    pub outlooks: Option<Vec<Outlook>>,
}

/// Reads a `clv.parquet` written by `churn clv` from the same input and as-of date as the features.
/// Returns each customer's lifetime value and next purchase in the frame's row order, and the
/// frame with the model inputs it lacks taken from the file (`p_alive` and the expected purchases,
/// when the model was trained with them).
pub(crate) fn load_clv(
    path: &Path,
    features: &FeatureTable,
    frame: FeatureFrame,
    model: &ChurnModel,
) -> Result<(ClvFile, FeatureFrame)> {
    let table = churn_features::read_table(path)
        .with_context(|| format!("cannot read the lifetime values {}", path.display()))?;
    let meta = |key: &str| table.metadata().iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let as_of = features.as_of;
    match meta("churn.as_of") {
        Some(date) if date == as_of.to_string() => {}
        Some(date) => bail!(
            "{} holds lifetime values as of {date} but the features are as of {as_of}; run `churn clv` \
             with --calibration-end {}",
            path.display(),
            as_of.pred_opt().unwrap_or(as_of)
        ),
        None => bail!(
            "{} was not written by `churn clv` (no churn.as_of metadata)",
            path.display()
        ),
    }
    let fingerprint = meta(churn_features::META_FINGERPRINT).unwrap_or("none");
    if fingerprint != features.fingerprint {
        bail!(
            "{} was computed from other transactions (input fingerprint {fingerprint}) than the features \
             ({}); compute both from the same input",
            path.display(),
            features.fingerprint
        );
    }
    let float = |name: &str| match table.columns().iter().find(|(n, _)| n == name) {
        Some((_, Column::Float64(values))) => Some(values),
        _ => None,
    };
    let (Some(Column::Text(ids)), Some(clv)) = (
        table.columns().iter().find(|(n, _)| n == "customer_id").map(|(_, c)| c),
        table
            .columns()
            .iter()
            .find(|(n, _)| n.starts_with("clv_"))
            .and_then(|(n, _)| float(n)),
    ) else {
        bail!("{} has no customer_id and clv_<days>d columns", path.display());
    };
    let source = format!("{} (were both computed with the same input settings?)", path.display());
    let by_id = |values: &[f64]| {
        values_by_id(
            ids.iter().map(String::as_str).zip(values.iter().copied()),
            frame.ids(),
            &source,
        )
    };
    let values = by_id(clv)?;
    let optional = |name: &str| match table.columns().iter().find(|(n, _)| n == name) {
        Some((_, Column::OptionalFloat64(values))) => Some(values),
        _ => None,
    };
    let next = [
        "p_purchase_30d",
        "p_purchase_90d",
        &format!("p_no_purchase_{}d", model.horizon_days),
        "p_purchase_365d",
    ]
    .map(float);
    let days = [
        "next_purchase_days",
        "next_purchase_low_days",
        "next_purchase_high_days",
    ]
    .map(optional);
    let outlooks = match (next, days) {
        ([Some(p30), Some(p90), Some(silent), Some(p365)], [Some(median), Some(low), Some(high)]) => {
            let rows: Vec<(&str, Outlook)> = (0..ids.len())
                .map(|i| {
                    let days = match (median[i], low[i], high[i]) {
                        (Some(median), Some(low), Some(high)) => Some(NextDays { median, low, high }),
                        _ => None,
                    };
                    let outlook = Outlook {
                        p_30d: p30[i],
                        p_90d: p90[i],
                        p_horizon: 1.0 - silent[i],
                        p_365d: p365[i],
                        days,
                    };
                    (ids[i].as_str(), outlook)
                })
                .collect();
            Some(values_by_id(rows.into_iter(), frame.ids(), &source)?)
        }
        _ => {
            tracing::info!(
                "{} has no next-purchase figures for the model's {}-day horizon: the model's rhythm gives them",
                path.display(),
                model.horizon_days
            );
            None
        }
    };
    let mut added = Vec::new();
    for input in &model.design.inputs {
        let column = input.spec.column();
        if let (None, Some(source)) = (frame.numeric(column), float(column)) {
            added.push((column, by_id(source)?.into_iter().map(Some).collect()));
        }
    }
    let mut frame = frame;
    for (column, values) in added {
        frame = frame.with_numeric(column, values)?;
    }
    Ok((ClvFile { values, outlooks }, frame))
}

pub fn score(settings: &ScoreSettings, printer: Printer) -> Result<()> {
    let started = Instant::now();
    let (table, frame) = load_features(&settings.features)?;
    let model = load_model(&settings.model, settings.seal)?;
    let (values, outlooks, frame) = match settings.clv.as_deref() {
        Some(path) => {
            let (clv, frame) = load_clv(path, &table, frame, &model)?;
            (Some(clv.values), clv.outlooks, frame)
        }
        None => (None, None, frame),
    };
    let next = match &outlooks {
        Some(outlooks) => NextPurchaseFrom::Given(table.as_of, outlooks),
        None => NextPurchaseFrom::Rhythm(table.as_of),
    };
    if let Some(input) = model.design.inputs.iter().find(|i| {
        let column = i.spec.column();
        frame.numeric(column).is_none() && churn_inputs::is_clv_column(column)
    }) {
        bail!(
            "{} uses {}, a lifetime-value output that {} does not have: pass the lifetime values of the same \
             date with --clv clv.parquet",
            settings.model.display(),
            input.spec.column(),
            settings.features.display()
        );
    }
    let read_seconds = started.elapsed().as_secs_f64();
    let segments = settings
        .segment_model
        .as_deref()
        .map(|path| segment_names(path, &frame, settings.seal))
        .transpose()?;
    let segments = segments.as_ref().map(SegmentNames::per_row);
    let spinner = printer.spinner(&format!("scoring {} customers", thousands(frame.len() as u64)));
    let scored = score_customers(
        &model,
        &frame,
        segments.as_deref(),
        values.as_deref(),
        &settings.plan.bands,
        &settings.plan.actions,
        next,
    );
    spinner.finish_and_clear();
    let scored = scored.with_context(|| {
        format!(
            "cannot score {} with {} (do the features match the model's inputs?)",
            settings.features.display(),
            settings.model.display()
        )
    })?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "scored");
    // The control group (`[holdout]`) goes to holdout.csv beside the list, never on it. The CSVs
    // first, while the list borrows the scores; then the table takes them without copying.
    let holdout = settings.plan.holdout.as_ref();
    // Within a budget the list is ranked by expected gain, with each action's prior uplift (the
    // measured uplifts are `churn run`'s, which reads the earlier runs).
    let split = match settings.plan.budget {
        None => split_holdout(at_risk(&scored, settings.plan.top), holdout)?,
        Some(budget) => {
            let gains = expected_gains(&scored, &settings.plan.actions, &MeasuredUplift::default());
            within_budget(&scored, &gains, budget, holdout).into_split(holdout.is_some())?
        }
    };
    let (list, held_out, csv, holdout_csv) = (split.listed, split.held_out, split.at_risk_csv, split.holdout_csv);
    let held_out_count = held_out.len();
    let holdout_path = settings.at_risk.with_file_name("holdout.csv");
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "at-risk list formatted");
    let at_risk_count = list.len();
    let value: f64 = list.iter().map(|s| s.value_at_risk).sum();
    let preview: Vec<String> = list
        .iter()
        .take(10)
        .map(|s| {
            format!(
                "  {:<16} {:>11.4} {:>7} {:>13}  {}\n",
                s.customer_id,
                s.churn_probability,
                s.risk_band,
                churn_core::format::money(s.value_at_risk),
                s.reasons.get(0).unwrap_or_default()
            )
        })
        .collect();
    let count = |band: RiskBand| scored.iter().filter(|s| s.risk_band == band).count() as u64;
    let (high, medium, low) = (count(RiskBand::High), count(RiskBand::Medium), count(RiskBand::Low));
    let customers = scored.len();

    let columns = score_columns(&scored)?;
    drop(scored);
    let (as_of, model_path) = (table.as_of.to_string(), settings.model.display().to_string());
    let metadata = [
        ("churn.as_of", as_of.as_str()),
        ("churn.input_fingerprint", table.fingerprint.as_str()),
        ("churn.churn_model", model_path.as_str()),
        ("churn.next_purchase_model", next.model_name(&model)),
        ("churn.tool_version", env!("CARGO_PKG_VERSION")),
    ];
    let scores = arrays_to_parquet_bytes(&settings.out, columns, &metadata)
        .with_context(|| format!("cannot write {}", settings.out.display()))?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "scores encoded");
    let mut outputs = StagedOutputs::new();
    outputs.stage_bytes(&settings.out, &scores)?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "scores written");
    outputs.stage_pieces(&settings.at_risk, || csv.pieces())?;
    if let Some(csv) = &holdout_csv {
        outputs.stage_pieces(&holdout_path, || csv.pieces())?;
    }
    outputs.commit()?;
    let seconds = started.elapsed().as_secs_f64();

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
        thousands(high),
        thousands(medium),
        thousands(low)
    );
    let _ = writeln!(
        human,
        "  at risk      {} customers, value at risk {} -> {}",
        thousands(at_risk_count as u64),
        churn_core::format::money(value),
        settings.at_risk.display()
    );
    if let Some(h) = holdout {
        let _ = writeln!(
            human,
            "  held out     {} control customers ({} of everyone, salt {:?}) -> {}",
            thousands(held_out_count as u64),
            churn_core::format::percent(h.share),
            h.salt,
            holdout_path.display()
        );
    }
    if !preview.is_empty() {
        let _ = writeln!(
            human,
            "\n  {:<16} {:>11} {:>7} {:>13}  first reason",
            "customer", "probability", "band", "value at risk"
        );
        for line in &preview {
            human.push_str(line);
        }
    }
    let json = json!({
        "command": "score",
        "as_of": table.as_of.to_string(),
        "customers": customers,
        "output": settings.out.display().to_string(),
        "at_risk_output": settings.at_risk.display().to_string(),
        "at_risk_schema_version": AT_RISK_SCHEMA_VERSION,
        "bands": {"high": high, "medium": medium, "low": low},
        "at_risk": at_risk_count,
        "value_at_risk": value,
        "holdout": holdout.map(|h| json!({
            "share": h.share,
            "salt": h.salt,
            "customers": held_out_count,
            "output": holdout_path.display().to_string(),
        })),
        "value_basis": if values.is_some() { "clv" } else { "spend_365d" },
        "seconds": seconds,
        "timings": {
            "read_seconds": read_seconds,
            "score_and_write_seconds": seconds - read_seconds,
        },
    });
    printer.result(&human, &json)?;
    Ok(())
}
