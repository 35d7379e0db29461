//! Out-of-time evaluation: fit on snapshot `S - 2H`, evaluate on `S - H`, beside two baselines.

use crate::error::Result;
use crate::metrics::{calibration, Evaluation, Metrics};
use crate::model::ChurnModel;
use crate::params::{ModelParams, ValidModelParams};
use crate::train::{train, TrainingSource};
use churn_core::{FeatureFrame, FeatureSpec, Transform};

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
    let compared = fit_and_compare(
        (fit_frame, fit_labels),
        (eval_frame, eval_labels),
        horizon_days,
        params,
        &source,
    )?;
    Ok(Evaluation {
        method: "out_of_time".to_string(),
        fit_snapshot,
        eval_snapshot,
        customers: eval_frame.len() as u64,
        churners: eval_labels.iter().filter(|&&y| y).count() as u64,
        model: compared.model,
        recency_baseline: compared.recency_baseline,
        rfm_baseline: compared.rfm_baseline,
        calibration: compared.calibration,
    })
}

/// Evaluates on a seeded `holdout_share` of one snapshot's customers after fitting on the rest:
/// for explicit labels, which describe one window only. Less strict than out of time (the same
/// period on both sides), and marked `holdout` in the artifact.
pub fn evaluate_holdout(
    frame: &FeatureFrame,
    labels: &[bool],
    holdout_share: f64,
    horizon_days: i64,
    params: &ValidModelParams,
    source: TrainingSource,
) -> Result<Evaluation> {
    use rand08::seq::SliceRandom;
    use rand08::SeedableRng;
    let mut rows: Vec<usize> = (0..frame.len()).collect();
    rows.shuffle(&mut rand_xoshiro::Xoshiro256Plus::seed_from_u64(
        params.seed.wrapping_add(7),
    ));
    let cut = ((1.0 - holdout_share) * rows.len() as f64).round() as usize;
    let (mut fit_rows, mut eval_rows) = (rows[..cut].to_vec(), rows[cut..].to_vec());
    fit_rows.sort_unstable();
    eval_rows.sort_unstable();
    let (fit, eval) = (frame.select_rows(&fit_rows), frame.select_rows(&eval_rows));
    let fit_labels: Vec<bool> = fit_rows.iter().map(|&r| labels[r]).collect();
    let eval_labels: Vec<bool> = eval_rows.iter().map(|&r| labels[r]).collect();
    let compared = fit_and_compare(
        (&fit, &fit_labels),
        (&eval, &eval_labels),
        horizon_days,
        params,
        &source,
    )?;
    Ok(Evaluation {
        method: "holdout".to_string(),
        fit_snapshot: source.snapshot.clone(),
        eval_snapshot: source.snapshot,
        customers: eval.len() as u64,
        churners: eval_labels.iter().filter(|&&y| y).count() as u64,
        model: compared.model,
        recency_baseline: compared.recency_baseline,
        rfm_baseline: compared.rfm_baseline,
        calibration: compared.calibration,
    })
}

/// The model's and the baselines' metrics on the evaluated snapshot, and the model's calibration.
struct Compared {
    model: Metrics,
    recency_baseline: Metrics,
    rfm_baseline: Metrics,
    calibration: Vec<crate::metrics::CalibrationBin>,
}

/// Fits the model and both baselines on `fit` and measures all three on `eval`.
///
/// Once the model is fitted, the two baselines (each a fit, a prediction and its metrics) and the
/// model's own prediction and metrics are independent: they run side by side. In `churn run` at a
/// million customers, one after the other, they outlasted the rest of the training stage by a
/// quarter of a second, on one core while the other waited.
/// Each result depends only on its inputs, so the evaluation is the same as one after the other,
/// and so is the error reported: the recency baseline's first, then the RFM baseline's, then the
/// model's.
fn fit_and_compare(
    fit: (&FeatureFrame, &[bool]),
    eval: (&FeatureFrame, &[bool]),
    horizon_days: i64,
    params: &ValidModelParams,
    source: &TrainingSource,
) -> Result<Compared> {
    let (fit_frame, fit_labels) = fit;
    let (eval_frame, eval_labels) = eval;
    let model = train(fit_frame, fit_labels, horizon_days, params, source.clone())?;
    let baseline = |spec: FeatureSpec, fit: &FeatureFrame, eval: &FeatureFrame| -> Result<Metrics> {
        let one = ModelParams {
            features: vec![spec],
            ..(**params).clone()
        }
        .check()?;
        let m: ChurnModel = train(fit, fit_labels, horizon_days, &one, source.clone())?;
        Ok(Metrics::compute(&m.predict(eval)?, eval_labels))
    };
    let (recency_baseline, rfm_baseline, measured) = std::thread::scope(|scope| {
        let recency = scope.spawn(|| {
            baseline(
                FeatureSpec::new("recency_days", Transform::Identity),
                fit_frame,
                eval_frame,
            )
        });
        let rfm = scope.spawn(|| {
            baseline(
                FeatureSpec::new("rfm_score", Transform::Identity),
                &with_rfm_score(fit_frame)?,
                &with_rfm_score(eval_frame)?,
            )
        });
        let measured = model
            .predict(eval_frame)
            .map(|p| (Metrics::compute(&p, eval_labels), calibration(&p, eval_labels)));
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<Metrics>>| {
            h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        (join(recency), join(rfm), measured)
    });
    let (recency_baseline, rfm_baseline) = (recency_baseline?, rfm_baseline?);
    let (model, calibration) = measured?;
    Ok(Compared {
        model,
        recency_baseline,
        rfm_baseline,
        calibration,
    })
}
