//! The nightly churn pipeline as a library, one floor above the other `churn` crates: it knows
//! them all, orders their stages and defines what passes between them. It never prints; progress
//! goes through the [`Progress`] trait its caller implements.
//!
//! - [`training`]: the snapshots `S`, `S - H` and `S - 2H`, honest labels, the out-of-time
//!   evaluation beside the baselines, and the production fit ([`training::train`]).
//! - [`lifetime`]: BG/NBD + Gamma-Gamma lifetime values for a run ([`lifetime::compute_clv`]).
//! - [`gates`]: the promotion policy, [`Gates`] with their defaults and [`gate`] with typed
//!   [`Refusal`]s.
//! - [`registry`]: the models directory and `current.json`.
//! - [`changes`]: `changes.csv` against the previous published run.
//! - [`manifest`]: [`Manifest`], `manifest.json` as one typed struct, written by `churn run` and
//!   read by `churn report`.
//! - [`nightly`]: the whole night, [`nightly::run`] from a [`NightlyPlan`] to a [`Nightly`] in
//!   memory, then [`Nightly::write_outputs`] and [`Nightly::manifest`]. Publishing (the lock, the
//!   staging directory, the switch of `current`) is the caller's.
//! - [`uplift`]: `uplift.csv`, what each earlier list earned against its control group.
//!
//! ```
//! use chrono::NaiveDate;
//! use churn_features::generate::{generate, GenerateParams};
//! use churn_features::{ColumnMapping, FeatureParams, InputSpec};
//! use churn_pipeline::{nightly, Gates, NightlyPlan, ScorePlan, Silent, TrainPlan};
//! use churn_score::{default_actions, ModelParams, RiskBands};
//! use churn_segment::{KChoice, SegmentParams};
//!
//! // Two years of purchases by 1,000 generated customers.
//! let dir = tempfile::tempdir()?;
//! let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
//! let data = generate(&GenerateParams::new(1_000, 7, day(2022, 1, 1), day(2024, 1, 1)), dir.path(), &mut |_| {})?;
//!
//! let plan = NightlyPlan {
//!     train: TrainPlan {
//!         input: InputSpec {
//!             transactions: data.transactions.display().to_string(),
//!             columns: ColumnMapping { timestamp: "ts".into(), order_id: Some("order_id".into()), ..ColumnMapping::default() },
//!             ..InputSpec::default()
//!         },
//!         features: FeatureParams::default(),
//!         horizon_days: 90,
//!         model: ModelParams::default().check()?,
//!         active_within_days: None,
//!         explicit_labels: None,
//!         clv_features: None,
//!     },
//!     segments: SegmentParams::new(KChoice::Fixed(4)).check()?,
//!     refit_segments: false,
//!     score: ScorePlan { bands: RiskBands::default(), top: None, actions: default_actions(), holdout: None, budget: None },
//!     gates: Gates::default(),
//!     clv: None,
//!     models_dir: dir.path().join("models"),
//!     output_dir: dir.path().join("output"),
//!     previous_run: None,
//!     seal: churn_core::SealPolicy::Required,
//! };
//! let night = nightly::run(&plan, &Silent)?;
//! assert_eq!(night.trained.at_s.as_of, day(2024, 1, 1));
//! assert!(night.promotion.promoted());
//! assert!(night.scores.at_risk > 0 && night.scores.at_risk < night.trained.frame_s.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod changes;
pub mod durable;
mod error;
pub mod gates;
pub mod history;
pub mod lifetime;
pub mod manifest;
pub mod nightly;
mod progress;
pub mod registry;
pub mod tables;
pub mod training;
pub mod uplift;

pub use error::{Context, Error, Result};
pub use gates::{gate, Gates, Refusal};
pub use manifest::Manifest;
pub use nightly::{Nightly, NightlyPlan, ScorePlan};
pub use progress::{Progress, Silent};
pub use training::{TrainPlan, Trained};

/// The version written into outputs and manifests: the workspace's.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
