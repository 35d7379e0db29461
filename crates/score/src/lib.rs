//! The churn model of `churn`: honest labels, logistic regression, out-of-time evaluation.
//!
//! - [`churn_labels`] labels each customer of snapshot `C` churned or not from snapshot `C + H`.
//! - [`train`] fits a [`ChurnModel`]: the inputs of a [`Design`] (log1p counts, signed log1p money,
//!   null intervals filled and flagged), standardized, L2 logistic regression (linfa-logistic's
//!   objective and L-BFGS solver, the objective evaluated in one pass per iteration).
//! - [`evaluate_out_of_time`] fits on `S - 2H` and evaluates on `S - H` beside two baselines
//!   (recency alone, RFM score), with the [`metrics`] ROC AUC, PR AUC, log loss, Brier, top-decile
//!   lift and capture, and a calibration table.
//! - [`score_customers`] scores everyone: probability, band, value at risk, reasons, action, and
//!   the next purchase, from the model's [`RhythmModel`] (each customer's own gaps, fitted on the
//!   training window) or from given BG/NBD outlooks. A [`ScoredCustomer`] borrows its text from
//!   what was scored and keeps its reasons as one [`ReasonList`]: a million of them are held at once.
//!
//! ```
//! use churn_core::FeatureFrame;
//! use churn_score::{train, ModelParams, TrainingSource};
//! use churn_core::{FeatureSpec, Transform};
//!
//! // Churn rises with recency: customers gone 200+ days mostly churn.
//! let n = 400;
//! let recency: Vec<f64> = (0..n).map(|i| (i % 300) as f64).collect();
//! let churned: Vec<bool> = recency.iter().enumerate().map(|(i, r)| *r > 150.0 || i % 7 == 0).collect();
//! let frame = FeatureFrame::try_new((0..n).map(|i| format!("c{i}")).collect())?
//!     .with_numeric("recency_days", recency.into_iter().map(Some).collect())?;
//!
//! let params = ModelParams {
//!     features: vec![FeatureSpec::new("recency_days", Transform::Identity)],
//!     ..ModelParams::default()
//! }
//! .check()?;
//! let model = train(&frame, &churned, 90, &params, TrainingSource::default())?;
//! assert!(model.coefficients[0] > 0.0);
//! let p = model.predict(&frame)?;
//! assert!(p.iter().all(|p| *p > 0.0 && *p < 1.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod design;
pub mod drift;
mod error;
mod evaluate;
pub mod gain;
mod holdout;
mod labels;
pub mod logistic;
pub mod metrics;
mod model;
mod params;
mod reasons;
pub mod rhythm;
mod score;
mod train;
pub mod uplift;

pub use design::{default_inputs, Design, Input};
pub use drift::{population_stability, Drift, DriftBin, DriftLevel};
pub use error::{Error, ParamError, Result};
pub use evaluate::{evaluate_holdout, evaluate_out_of_time, with_rfm_score};
pub use holdout::Holdout;
pub use labels::{churn_labels, explicit_labels};
pub use metrics::{Evaluation, Metrics};
pub use model::{ChurnModel, Training, MODEL_FORMAT, MODEL_VERSION, PROBABILITY_FLOOR};
pub use params::{ModelParams, ValidModelParams};
pub use reasons::ReasonList;
pub use rhythm::{Buyer, NextDays, Outlook, RhythmModel, NEXT_PURCHASE_WINDOW_DAYS};
pub use score::{
    at_risk, at_risk_csv, default_actions, describe, escape_formula, recommend, score_customers, split_holdout,
    unescape_formula, write_at_risk, ActionRule, AtRiskCsv, Contribution, Explainer, NextPurchase, NextPurchaseFrom,
    NextPurchases, ReasonScratch, RiskBand, RiskBands, ScoredCustomer, SplitList, AT_RISK_COLUMNS,
    AT_RISK_GAIN_COLUMNS, AT_RISK_GAIN_SCHEMA_VERSION, AT_RISK_SCHEMA_VERSION, UNLIKELY,
};
pub use train::{train, TrainingSource};
