//! The vocabulary the `churn` library crates share, with no I/O.
//!
//! The features crate reads and writes files; the segment and score crates fit models. What passes
//! between them is defined here, validated once where it is built, and trusted afterwards:
//!
//! - [`FeatureFrame`]: one row per customer (unique ids), named numeric columns that are finite or
//!   null, and named text columns such as `rfm_segment`.
//! - [`FeatureSpec`]: a model input such as `log1p(frequency)`: a frame column and a [`Transform`].
//!   [`FeatureFrame::matrix`] turns a list of specs into a dense, finite `ndarray` matrix.
//! - [`StandardScaler`]: per-column mean and population standard deviation, saved with models.
//! - [`format`](mod@format): numbers for people (`1,234,567.89`, `12.3%`).
//! - [`Table`]: an output table (segments, scores) with typed, checked columns, for the features
//!   crate to write as Parquet.
//!
//! ```
//! use churn_core::{FeatureFrame, FeatureSpec, StandardScaler};
//!
//! let frame = FeatureFrame::try_new(vec!["a".into(), "b".into(), "c".into()])?
//!     .with_numeric("frequency", vec![Some(1.0), Some(3.0), Some(7.0)])?
//!     .with_numeric("monetary_total", vec![Some(-20.0), Some(0.0), Some(150.0)])?;
//! let specs: Vec<FeatureSpec> = vec!["log1p(frequency)".parse()?, "signed_log1p(monetary_total)".parse()?];
//! let x = frame.matrix(&specs)?;
//! assert_eq!(x.dim(), (3, 2));
//! assert!((x[[2, 0]] - 8f64.ln()).abs() < 1e-12);
//! assert!((x[[0, 1]] + 21f64.ln()).abs() < 1e-12);
//!
//! let scaler = StandardScaler::fit(x.view());
//! let z = scaler.transform(x.view());
//! assert!(z.column(0).sum().abs() < 1e-12);
//! # Ok::<(), churn_core::Error>(())
//! ```

mod artifact;
mod error;
pub mod format;
mod frame;
mod parallel;
mod scale;
mod stats;
mod table;
mod transform;

pub use artifact::{artifact_json, parse_artifact, ArtifactHeader, SealPolicy, CHECKSUM_KEY};
pub use error::{Error, Result};
pub use frame::{FeatureFrame, Numbers, Texts};
pub use parallel::{parallel_map, parallel_map_on, parallel_map_owned};
pub use scale::{StandardScaler, RELATIVE_SPREAD_FLOOR};
pub use stats::median;
pub use table::{Column, Table};
pub use transform::{FeatureSpec, Transform};
