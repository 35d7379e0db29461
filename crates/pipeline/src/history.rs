//! `history.csv`: the retention figures night by night, derived from the published manifests.
//!
//! Nothing is kept between runs but the runs themselves: every night the history is read again
//! from `<output>/runs/*/manifest.json` plus tonight's manifest, so it can never disagree with
//! them, and a lost `history.csv` is simply rebuilt by the next run. One night is one as-of date:
//! when a date was run more than once, its latest run (by run id, which starts with the start
//! time) stands, and tonight's run replaces any earlier run of its date.

use std::path::Path;

use crate::error::{Context, Result};
use crate::manifest::{KpiRow, Manifest};

/// The file in each run.
pub const HISTORY_FILE: &str = "history.csv";

/// `history.csv`'s columns, in order.
pub const HISTORY_COLUMNS: [&str; 16] = [
    "as_of",
    "run_id",
    "segment",
    "customers",
    "churn_rate",
    "repeat_purchase_rate",
    "mean_clv",
    "total_clv",
    "at_risk_customers",
    "value_at_risk",
    "roc_auc_out_of_time",
    "model",
    "model_promoted",
    "model_changed",
    "segments_refitted",
    "drift_alarms",
];

/// One row of `history.csv`: a night's figures for all customers (`segment = all`) or a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    /// The night's snapshot date.
    pub as_of: String,
    /// The run that published it.
    pub run_id: String,
    /// The figures; per segment only from manifests that recorded them.
    pub kpis: KpiRow,
    /// The model's out-of-time ROC AUC (the same on every row of the night).
    pub roc_auc: Option<f64>,
    /// The churn model that scored.
    pub model: String,
    /// Whether tonight's model was promoted.
    pub model_promoted: bool,
    /// Whether the scoring model differs from the previous night's.
    pub model_changed: bool,
    /// Whether the segments were fitted that night.
    pub segments_refitted: bool,
    /// Model inputs and the score with a major shift since the training snapshot (tenure, which
    /// shifts by construction, aside).
    pub drift_alarms: usize,
}

/// Every complete run published under `runs_dir` (it has its `_SUCCESS` marker), with its
/// manifest. A manifest that cannot be read is left out with a warning naming it and `what` reads
/// the runs: a summary of earlier runs must not fail tonight's over one damaged old run.
pub fn published(runs_dir: &Path, what: &str) -> Result<Vec<(std::path::PathBuf, Manifest)>> {
    let mut runs = Vec::new();
    if !runs_dir.is_dir() {
        return Ok(runs);
    }
    let entries = std::fs::read_dir(runs_dir).context_with(|| format!("cannot list {}", runs_dir.display()))?;
    for entry in entries {
        let dir = entry
            .context_with(|| format!("cannot list {}", runs_dir.display()))?
            .path();
        if !dir.join("_SUCCESS").exists() {
            continue;
        }
        match Manifest::read(&dir) {
            Ok(manifest) => runs.push((dir, manifest)),
            Err(e) => tracing::warn!("{what} leaves out {}: {e}", dir.display()),
        }
    }
    Ok(runs)
}

/// The manifests of the runs published under `runs_dir` ([`published`]), one per as-of date, with
/// `tonight`'s in place of any earlier run of its date; sorted by date.
pub fn nights(runs_dir: &Path, tonight: &Manifest) -> Result<Vec<Manifest>> {
    let mut manifests: Vec<Manifest> = published(runs_dir, "the history")?
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    manifests.retain(|m| m.as_of != tonight.as_of);
    manifests.push(tonight.clone());
    manifests.sort_by(|a, b| (&a.as_of, &a.run_id).cmp(&(&b.as_of, &b.run_id)));
    // The latest run of each date: the last of its date after the sort.
    let mut nights: Vec<Manifest> = Vec::with_capacity(manifests.len());
    for m in manifests {
        match nights.last_mut() {
            Some(last) if last.as_of == m.as_of => *last = m,
            _ => nights.push(m),
        }
    }
    Ok(nights)
}

/// The rows of the history of `nights` (see [`nights`]): per night, `all` then each segment.
/// Manifests from before the figures were recorded give an `all` row with what they have.
pub fn history(nights: &[Manifest]) -> Vec<HistoryRow> {
    let mut rows = Vec::new();
    let mut previous_model: Option<&str> = None;
    for m in nights {
        let model = m.model.scoring_model.as_str();
        let roc_auc = m.model.evaluation.as_ref().and_then(|e| e.model.roc_auc);
        let drift_alarms = std::iter::once(&m.drift.score)
            .chain(&m.drift.features)
            .filter(|d| d.level == churn_score::DriftLevel::Major && !crate::nightly::drifts_by_construction(&d.name))
            .count();
        let night = |kpis: KpiRow| HistoryRow {
            as_of: m.as_of.clone(),
            run_id: m.run_id.clone(),
            kpis,
            roc_auc,
            model: model.to_string(),
            model_promoted: m.model.promoted,
            model_changed: previous_model.is_some_and(|p| p != model),
            segments_refitted: m.segments.refitted,
            drift_alarms,
        };
        match &m.kpis {
            Some(kpis) => {
                rows.push(night(kpis.all.clone()));
                rows.extend(kpis.segments.iter().cloned().map(night));
            }
            None => rows.push(night(KpiRow {
                segment: "all".into(),
                customers: m.customers as u64,
                churn_rate: (m.model.training_customers > 0)
                    .then(|| m.model.training_churners as f64 / m.model.training_customers as f64),
                repeat_purchase_rate: None,
                mean_clv: m.clv.as_ref().map(|c| c.total_clv / m.customers.max(1) as f64),
                total_clv: m.clv.as_ref().map(|c| c.total_clv),
                at_risk: m.at_risk.customers as u64,
                value_at_risk: m.at_risk.value_at_risk,
            })),
        }
        previous_model = Some(model);
    }
    rows
}

/// `history.csv`: [`HISTORY_COLUMNS`], one row per [`HistoryRow`]; rates as fractions with six
/// decimals, money with two, unknown values empty.
pub fn write_history(rows: &[HistoryRow]) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(HISTORY_COLUMNS).context("cannot write history.csv")?;
    let fixed = |v: Option<f64>, decimals: usize| v.map_or(String::new(), |v| format!("{v:.decimals$}"));
    for r in rows {
        let k = &r.kpis;
        let cells = [
            r.as_of.clone(),
            r.run_id.clone(),
            churn_score::escape_formula(&k.segment).into_owned(),
            k.customers.to_string(),
            fixed(k.churn_rate, 6),
            fixed(k.repeat_purchase_rate, 6),
            fixed(k.mean_clv, 2),
            fixed(k.total_clv, 2),
            k.at_risk.to_string(),
            format!("{:.2}", k.value_at_risk),
            fixed(r.roc_auc, 6),
            r.model.clone(),
            r.model_promoted.to_string(),
            r.model_changed.to_string(),
            r.segments_refitted.to_string(),
            r.drift_alarms.to_string(),
        ];
        w.write_record(&cells).context("cannot write history.csv")?;
    }
    w.into_inner()
        .map_err(|e| crate::Error::invalid(format!("cannot write history.csv: {}", e.error())))
}
