//! Out-of-time evaluation: fit on snapshot `S - 2H`, evaluate on `S - H`, beside two baselines.

use churn_core::{FeatureFrame, FeatureSpec, Transform};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metrics::{brier, calibration, log_loss, pr_auc, roc_auc, top_fraction, CalibrationBin, TopFraction};
use crate::model::ChurnModel;
use crate::params::{ModelParams, ValidModelParams};
use crate::train::{train, TrainingSource};

/// The metrics of one set of churn probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// ROC AUC (ties count half).
    pub roc_auc: Option<f64>,
    /// Average precision.
    pub pr_auc: Option<f64>,
    /// Mean log-loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Lift and capture in the top 10 % by probability.
    pub top_decile: Option<TopFraction>,
}

impl Metrics {
    /// Computes every metric of `probabilities` against `labels`.
    pub fn compute(probabilities: &[f64], labels: &[bool]) -> Metrics {
        Metrics {
            roc_auc: roc_auc(probabilities, labels),
            pr_auc: pr_auc(probabilities, labels),
            log_loss: log_loss(probabilities, labels),
            brier: brier(probabilities, labels),
            top_decile: top_fraction(probabilities, labels, 0.1),
        }
    }
}

/// An out-of-time evaluation, saved in the model artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    /// The snapshot fitted on (`S - 2H`).
    pub fit_snapshot: Option<String>,
    /// The snapshot evaluated on (`S - H`).
    pub eval_snapshot: Option<String>,
    /// Customers evaluated.
    pub customers: u64,
    /// Of those, churned.
    pub churners: u64,
    /// The model's metrics.
    pub model: Metrics,
    /// Baseline: logistic regression on recency alone.
    pub recency_baseline: Metrics,
    /// Baseline: logistic regression on the RFM score (r + f + m quintile scores).
    pub rfm_baseline: Metrics,
    /// The model's calibration table (10 equal-width bins).
    pub calibration: Vec<CalibrationBin>,
}

/// The frame with `rfm_score = r_score + f_score + m_score` added, for the RFM baseline.
pub fn with_rfm_score(frame: &FeatureFrame) -> Result<FeatureFrame> {
    let (r, f, m) = (
        frame.required("r_score")?,
        frame.required("f_score")?,
        frame.required("m_score")?,
    );
    let score = r.iter().zip(&f).zip(&m).map(|((r, f), m)| Some(r + f + m)).collect();
    Ok(frame.clone().with_numeric("rfm_score", score)?)
}

/// Fits the model and both baselines on `fit` (labels `fit_labels`) and evaluates all three on
/// `eval` (labels `eval_labels`), snapshots one horizon apart.
pub fn evaluate_out_of_time(
    fit: (&FeatureFrame, &[bool], TrainingSource),
    eval: (&FeatureFrame, &[bool], Option<String>),
    horizon_days: i64,
    params: &ValidModelParams,
) -> Result<Evaluation> {
    let (fit_frame, fit_labels, source) = fit;
    let (eval_frame, eval_labels, eval_snapshot) = eval;
    let fit_snapshot = source.snapshot.clone();
    let model = train(fit_frame, fit_labels, horizon_days, params, source.clone())?;
    let p = model.predict(eval_frame)?;

    let baseline = |spec: FeatureSpec, fit: &FeatureFrame, eval: &FeatureFrame| -> Result<Metrics> {
        let mut one = ModelParams {
            features: vec![spec],
            ..(**params).clone()
        };
        one.features.dedup();
        let one = one.check()?;
        let m: ChurnModel = train(fit, fit_labels, horizon_days, &one, source.clone())?;
        Ok(Metrics::compute(&m.predict(eval)?, eval_labels))
    };
    let recency_baseline = baseline(
        FeatureSpec::new("recency_days", Transform::Identity),
        fit_frame,
        eval_frame,
    )?;
    let rfm_baseline = baseline(
        FeatureSpec::new("rfm_score", Transform::Identity),
        &with_rfm_score(fit_frame)?,
        &with_rfm_score(eval_frame)?,
    )?;
    Ok(Evaluation {
        fit_snapshot,
        eval_snapshot,
        customers: eval_frame.len() as u64,
        churners: eval_labels.iter().filter(|&&y| y).count() as u64,
        model: Metrics::compute(&p, eval_labels),
        recency_baseline,
        rfm_baseline,
        calibration: calibration(&p, eval_labels),
    })
}
