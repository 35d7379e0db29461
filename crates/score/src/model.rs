//! The churn model artifact: a standardized logistic regression with everything needed to score,
//! explain and audit it.

use churn_core::{parse_artifact, FeatureFrame, SealPolicy, StandardScaler};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::design::Design;
use crate::error::{Error, Result};
use crate::metrics::Evaluation;

/// The `format` field of a churn model file.
pub const MODEL_FORMAT: &str = "churn-model";
/// The model file version this build writes and reads.
pub const MODEL_VERSION: u32 = 1;

/// The smallest probability a model outputs (and 1 minus it the largest): a logistic model is never
/// certain, and a CRM sorting on 0 or 1 would treat a rounding artefact as a fact.
pub const PROBABILITY_FLOOR: f64 = 1e-6;

/// A trained churn model, saved as `models/churn-<date>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnModel {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// The file version, [`MODEL_VERSION`].
    pub version: u32,
    /// The version of `churn` that trained it.
    pub tool_version: String,
    /// The feature-set version of the feature files it was trained on.
    pub feature_set_version: String,
    /// The churn horizon `H` in days.
    pub horizon_days: i64,
    /// The inputs and their fills.
    pub design: Design,
    /// Design column names, in coefficient order.
    pub columns: Vec<String>,
    /// Standardization of the design columns.
    pub scaler: StandardScaler,
    /// One coefficient per design column, on standardized values (log-odds per standard deviation).
    pub coefficients: Vec<f64>,
    /// The intercept (log-odds of churn for an average customer).
    pub intercept: f64,
    /// What the model was trained on.
    pub training: Training,
    /// Out-of-time evaluation, when one was run.
    pub evaluation: Option<Evaluation>,
    /// Warnings raised while training (near-separation, constant inputs).
    pub warnings: Vec<String>,
    /// When customers buy next, fitted on the training window (absent from models of earlier
    /// builds, and when too few customers bought in the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rhythm: Option<crate::RhythmModel>,
}

/// The training window and data of a [`ChurnModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// The snapshot the features come from (`C`, `YYYY-MM-DD`).
    pub snapshot: Option<String>,
    /// The label window `[C, C + H)`.
    pub label_window: Option<[String; 2]>,
    /// The fingerprint of the transactions.
    pub input_fingerprint: Option<String>,
    /// Customers in the snapshot.
    pub customers: u64,
    /// Of those, churned.
    pub churners: u64,
    /// Customers the optimizer saw (a seeded sample when the snapshot is larger).
    pub sample_size: u64,
    /// L2 penalty (scikit-learn's 1/C).
    pub l2: f64,
    /// Mean log-loss on the training sample at the solution.
    pub train_log_loss: f64,
    /// The seed of the sample.
    pub seed: u64,
}

fn sigmoid(z: f64) -> f64 {
    let p = if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    };
    p.clamp(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
}

impl ChurnModel {
    /// The standardized design matrix of `frame`.
    pub fn standardized(&self, frame: &FeatureFrame) -> Result<Array2<f64>> {
        // Standardized in the design matrix's own memory: a million customers' matrix is a hundred
        // megabytes, and a copy of it was as many fresh pages for the kernel to fault in and zero.
        Ok(self.scaler.transform_owned(self.design.matrix(frame)?))
    }

    /// Churn probability of every customer, in `[1e-6, 1 - 1e-6]`.
    pub fn predict(&self, frame: &FeatureFrame) -> Result<Vec<f64>> {
        Ok(self.predict_standardized(&self.standardized(frame)?))
    }

    /// Churn probabilities from a standardized design matrix.
    pub fn predict_standardized(&self, z: &Array2<f64>) -> Vec<f64> {
        z.rows()
            .into_iter()
            .map(|row| sigmoid(self.intercept + row.iter().zip(&self.coefficients).map(|(x, w)| x * w).sum::<f64>()))
            .collect()
    }

    /// The model as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        churn_core::artifact_json(self).map_err(Error::BadModel)
    }

    /// Reads a model written by [`ChurnModel::to_json`], checking its checksum (required) and its
    /// invariants.
    pub fn from_json(text: &str) -> Result<Self> {
        Self::from_json_with(text, SealPolicy::Required)
    }

    /// [`ChurnModel::from_json`], with a choice about files that carry no checksum.
    pub fn from_json_with(text: &str, seal: SealPolicy) -> Result<Self> {
        let bad = |reason: String| Error::BadModel(reason);
        let model: ChurnModel = parse_artifact(
            text,
            MODEL_FORMAT,
            MODEL_VERSION,
            "a churn model written by `churn train`",
            seal,
        )
        .map_err(bad)?;
        let d = model.design.column_names().len();
        if model.columns != model.design.column_names() {
            return Err(bad("columns do not match the design".into()));
        }
        if model.coefficients.len() != d || model.scaler.mean.len() != d || model.scaler.std.len() != d {
            return Err(bad(format!("need {d} coefficients and scaler entries, one per column")));
        }
        if !model.intercept.is_finite()
            || model.coefficients.iter().any(|w| !w.is_finite())
            || !model.scaler.is_finite()
        {
            return Err(bad("coefficients, intercept and scaler must be finite".into()));
        }
        if let Some(rhythm) = &model.rhythm {
            rhythm.check().map_err(bad)?;
        }
        if model.horizon_days < 1 {
            return Err(bad(format!("horizon_days = {} must be at least 1", model.horizon_days)));
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_never_reach_zero_or_one() {
        assert_eq!(sigmoid(1000.0), 1.0 - PROBABILITY_FLOOR);
        assert_eq!(sigmoid(-1000.0), PROBABILITY_FLOOR);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-15);
        assert!((sigmoid(2.0) - 1.0 / (1.0 + (-2f64).exp())).abs() < 1e-15);
    }
}
