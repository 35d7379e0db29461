//! Customer segmentation for `churn`: k-means on standardized RFM and tenure, readable names, and
//! stable segment ids across nightly runs.
//!
//! - [`SegmentParams`] (checked into [`ValidSegmentParams`]) say which inputs, which `k` (or
//!   automatic k by silhouette), the seed and the sample sizes.
//! - [`fit_segments`] fits a [`SegmentModel`] with k-means (k-means++ starts, several runs:
//!   linfa-clustering's algorithm, reproduced to the bit over flat rows) on a seeded sample,
//!   assigns every customer, orders segments by revenue (id 0 is the most valuable) and names them
//!   from their centroids ([`naming`]).
//! - [`SegmentModel::assign`] puts new customers into the saved segments without refitting, so ids
//!   stay stable from night to night; [`SegmentModel::to_json`] / [`SegmentModel::from_json`] save
//!   and load the model.
//! - [`profile_segments`] summarizes each segment (size, revenue share, mean and median R/F/M and
//!   tenure, churn rate) and cross-tabulates it against the rule-based RFM segments.
//!
//! ```
//! use churn_core::FeatureFrame;
//! use churn_segment::{fit_segments, KChoice, Provenance, SegmentModel, SegmentParams};
//!
//! // Two obvious groups: recent frequent big spenders (3 in 4), and long-gone one-time buyers.
//! let n = 200;
//! let ids = (0..n).map(|i| format!("c{i}")).collect();
//! let col = |a: f64, b: f64| (0..n).map(|i| Some(if i % 4 != 3 { a } else { b } + (i % 7) as f64)).collect();
//! let frame = FeatureFrame::try_new(ids)?
//!     .with_numeric("recency_days", col(5.0, 400.0))?
//!     .with_numeric("frequency", col(20.0, 1.0))?
//!     .with_numeric("monetary_total", col(2000.0, 30.0))?
//!     .with_numeric("tenure_days", col(700.0, 500.0))?;
//!
//! let params = SegmentParams::new(KChoice::Fixed(2)).check()?;
//! let fit = fit_segments(&frame, &params, Provenance::default())?;
//! assert_eq!(fit.model.names(), ["High-value loyal", "Lost low-value"]);
//! assert_eq!(fit.assignment.segment[0], 0);
//!
//! // Tomorrow: load the model and assign, without refitting.
//! let model = SegmentModel::from_json(&fit.model.to_json()?)?;
//! assert_eq!(model.assign(&frame)?, fit.assignment);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod fit;
mod kmeans;
mod model;
pub mod naming;
mod params;
mod profile;
mod silhouette;

pub use error::{Error, ParamError, Result};
pub use fit::{fit_segments, Provenance, SegmentFit};
pub use model::{Assignment, FitInfo, KScore, Segment, SegmentModel, MODEL_FORMAT, MODEL_VERSION};
pub use params::{default_features, KChoice, SegmentParams, ValidSegmentParams, MAX_SEGMENTS};
pub use profile::{profile_segments, CrossTab, Profiles, SegmentProfile, PROFILE_FEATURES, RFM_COLUMN};
pub use silhouette::{silhouette, silhouettes};
