//! Training: design, standardize, sample, L2 logistic regression (linfa-logistic's objective and
//! solver, evaluated in one pass: see [`crate::logistic`]).

use churn_core::{FeatureFrame, StandardScaler};
use ndarray::Axis;
use rand08::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

use crate::design::Design;
use crate::error::{Error, Result};
use crate::logistic::{fit_logistic, LogisticParams};
use crate::metrics::{log_loss, roc_auc};
use crate::model::{ChurnModel, Training, MODEL_FORMAT, MODEL_VERSION};
use crate::params::ValidModelParams;

/// Where the training snapshot came from, recorded in the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingSource {
    /// The snapshot date `C`.
    pub snapshot: Option<String>,
    /// The label window `[C, C + H)`.
    pub label_window: Option<[String; 2]>,
    /// The fingerprint of the transactions.
    pub input_fingerprint: Option<String>,
    /// The feature-set version of the feature file.
    pub feature_set_version: String,
}

/// A standardized coefficient this large (log-odds per standard deviation) means the classes are
/// nearly separable on that input.
const SEPARATION_WARNING: f64 = 10.0;

/// Trains a churn model on `frame` with `labels` (`true` = churned within `horizon_days`).
///
/// Needs at least `min_per_class` churners and non-churners. The L2 penalty keeps coefficients
/// finite even when the classes are perfectly separable; very large coefficients are reported in
/// [`ChurnModel::warnings`], as are inputs that are the same for everyone (coefficient 0).
pub fn train(
    frame: &FeatureFrame,
    labels: &[bool],
    horizon_days: i64,
    params: &ValidModelParams,
    source: TrainingSource,
) -> Result<ChurnModel> {
    if horizon_days < 1 {
        return Err(crate::error::ParamError::Horizon(horizon_days).into());
    }
    let n = frame.len();
    if labels.len() != n {
        return Err(Error::Degenerate(format!("{} labels for {n} customers", labels.len())));
    }
    let churners = labels.iter().filter(|&&y| y).count();
    let stayers = n - churners;
    if churners < params.min_per_class || stayers < params.min_per_class {
        return Err(Error::Degenerate(format!(
            "the training snapshot has {churners} churned and {stayers} retained customers; training needs at least \
             {} of each (model.min_per_class): use a longer history, an earlier as-of date or a different horizon",
            params.min_per_class
        )));
    }
    let (design, mut warnings) = Design::fit(frame, &params.features)?;
    let columns = design.column_names();
    let x = design.matrix(frame)?;
    let scaler = StandardScaler::fit(x.view());
    for j in scaler.constant_columns() {
        warnings.push(format!(
            "{} is the same for every customer in the training snapshot; it has no effect",
            columns[j]
        ));
    }
    // Standardized in place, and let go once sampled: a million customers' design matrix is a
    // hundred megabytes that the fit (a quarter of them) does not need while it iterates.
    let z = scaler.transform_owned(x);

    let (z_fit, y_fit) = if n > params.train_sample {
        let mut rng = Xoshiro256Plus::seed_from_u64(params.seed);
        let mut rows = rand08::seq::index::sample(&mut rng, n, params.train_sample).into_vec();
        rows.sort_unstable();
        let y: Vec<bool> = rows.iter().map(|&r| labels[r]).collect();
        let sample = z.select(Axis(0), &rows);
        drop(z);
        (sample, y)
    } else {
        (z, labels.to_vec())
    };
    let rows = z_fit.nrows();
    let started = std::time::Instant::now();
    // The loss is a sum over rows: scaling the tolerance by the rows makes it a tolerance on the
    // mean loss's gradient, so a sample and the whole population stop at the same precision.
    let fitted = fit_logistic(
        z_fit.view(),
        &y_fit,
        LogisticParams {
            alpha: params.l2,
            max_iterations: params.max_iterations,
            gradient_tolerance: params.gradient_tolerance * rows as f64,
        },
    )?;
    tracing::debug!(
        rows,
        iterations = fitted.iterations,
        passes = fitted.passes,
        seconds = started.elapsed().as_secs_f64(),
        "logistic regression fitted"
    );
    let (coefficients, intercept) = (fitted.coefficients, fitted.intercept);
    if !intercept.is_finite() || coefficients.iter().any(|w| !w.is_finite()) {
        return Err(Error::Fit("the optimizer produced a non-finite coefficient".into()));
    }
    for (name, w) in columns.iter().zip(&coefficients) {
        if w.abs() > SEPARATION_WARNING {
            warnings.push(format!(
                "the coefficient of {name} is {w:.1} per standard deviation: churners and non-churners are (nearly) \
                 separable on it, so probabilities near 0 or 1 are overconfident"
            ));
        }
    }

    let mut model = ChurnModel {
        format: MODEL_FORMAT.to_string(),
        version: MODEL_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        feature_set_version: source.feature_set_version,
        horizon_days,
        design,
        columns,
        scaler,
        coefficients,
        intercept,
        training: Training {
            snapshot: source.snapshot,
            label_window: source.label_window,
            input_fingerprint: source.input_fingerprint,
            customers: n as u64,
            churners: churners as u64,
            sample_size: rows as u64,
            l2: params.l2,
            train_log_loss: 0.0,
            seed: params.seed,
        },
        evaluation: None,
        warnings,
        rhythm: None,
    };
    let p = model.predict_standardized(&z_fit);
    model.training.train_log_loss = log_loss(&p, &y_fit);
    if roc_auc(&p, &y_fit) == Some(1.0) {
        model.warnings.push(
            "churners and non-churners are perfectly separable in the training snapshot (training ROC AUC 1): the L2 \
             penalty keeps the model finite, but its probabilities are overconfident; check the inputs for leakage"
                .to_string(),
        );
    }
    Ok(model)
}
