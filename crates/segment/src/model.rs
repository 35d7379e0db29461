//! The saved segment model and assignment of customers to its segments.

use churn_core::{parse_artifact, FeatureFrame, FeatureSpec, SealPolicy, StandardScaler};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `format` field of a segment model file.
pub const MODEL_FORMAT: &str = "churn-segments";
/// The model file version this build writes and reads.
pub const MODEL_VERSION: u32 = 1;

/// A fitted segmentation: inputs, scaler, centroids and names. Saved as JSON so that the nightly run
/// assigns customers to the same segments without refitting.
///
/// Invariants (checked by [`SegmentModel::from_json`]): one scaler entry and one centroid
/// coordinate per feature, segment ids `0..k` in order, unique non-empty names, finite numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentModel {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// The file version, [`MODEL_VERSION`].
    pub version: u32,
    /// The version of `churn` that fitted the model.
    pub tool_version: String,
    /// The model inputs, in centroid coordinate order.
    pub features: Vec<FeatureSpec>,
    /// Standardization of the (transformed) inputs, fitted on the whole population.
    pub scaler: StandardScaler,
    /// The segments, by id; id 0 has the largest revenue.
    pub segments: Vec<Segment>,
    /// How the model was fitted.
    pub fit: FitInfo,
}

/// One segment of a [`SegmentModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// The segment id (0 = largest revenue at fit time).
    pub id: usize,
    /// The readable name (see [`crate::naming`]).
    pub name: String,
    /// The centroid in standardized coordinates (0 = population mean, units of standard deviations).
    pub centroid: Vec<f64>,
    /// Customers in the segment at fit time.
    pub customers: u64,
    /// The segment's share of revenue at fit time (none when total revenue is not positive).
    pub revenue_share: Option<f64>,
}

/// How a [`SegmentModel`] was fitted: enough to reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitInfo {
    /// The snapshot date of the feature file, when known.
    pub as_of: Option<String>,
    /// The input fingerprint of the feature file, when known.
    pub input_fingerprint: Option<String>,
    /// Customers in the population.
    pub customers: u64,
    /// Customers k-means ran on (a seeded sample when the population is larger).
    pub sample_size: u64,
    /// `"6"` for a given k, `"auto 2..=10"` for automatic k.
    pub k_choice: String,
    /// Silhouette and inertia per candidate k (automatic k only).
    pub k_scores: Vec<KScore>,
    /// The seed of every random choice.
    pub seed: u64,
    /// k-means runs.
    pub n_runs: usize,
    /// Convergence tolerance.
    pub tolerance: f64,
    /// Iteration cap per run.
    pub max_iterations: u64,
    /// Mean squared distance of every customer to its centroid (standardized units).
    pub inertia: f64,
    /// Requested inputs left out because they were constant.
    pub dropped_features: Vec<String>,
}

/// The score of one candidate k.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KScore {
    /// Number of segments.
    pub k: usize,
    /// Mean silhouette on the silhouette sample (-1..1, higher is better).
    pub silhouette: Option<f64>,
    /// k-means inertia on the fit sample (mean squared distance).
    pub inertia: f64,
}

/// Each customer's segment and distance to its centroid.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Segment id per frame row.
    pub segment: Vec<usize>,
    /// Euclidean distance to the segment's centroid, in standard deviations.
    pub distance: Vec<f64>,
}

impl Assignment {
    /// Mean squared distance to the assigned centroids (k-means inertia per customer).
    pub fn inertia(&self) -> f64 {
        if self.distance.is_empty() {
            return 0.0;
        }
        self.distance.iter().map(|d| d * d).sum::<f64>() / self.distance.len() as f64
    }
}

/// Nearest centroid (squared Euclidean; the lowest index wins a tie) and distance for every row.
///
/// Written out rather than calling linfa's `predict`: a saved model is centroids and a scaler, and
/// linfa's `KMeans` cannot be rebuilt from centroids; the loop is the whole of assignment.
pub(crate) fn nearest(z: ArrayView2<'_, f64>, centroids: &[Vec<f64>]) -> Assignment {
    let mut segment = Vec::with_capacity(z.nrows());
    let mut distance = Vec::with_capacity(z.nrows());
    for row in z.rows() {
        let mut best = (0, f64::INFINITY);
        for (c, centroid) in centroids.iter().enumerate() {
            let d2: f64 = row.iter().zip(centroid).map(|(a, b)| (a - b) * (a - b)).sum();
            if d2 < best.1 {
                best = (c, d2);
            }
        }
        segment.push(best.0);
        distance.push(best.1.sqrt());
    }
    Assignment { segment, distance }
}

impl SegmentModel {
    /// The number of segments.
    pub fn k(&self) -> usize {
        self.segments.len()
    }

    /// Segment names by id.
    pub fn names(&self) -> Vec<&str> {
        self.segments.iter().map(|s| s.name.as_str()).collect()
    }

    /// Assigns every customer of `frame` to its nearest segment, without refitting. A feature the
    /// model needs that the frame lacks is an error naming it.
    pub fn assign(&self, frame: &FeatureFrame) -> Result<Assignment> {
        // Standardized in the matrix's own memory (no second copy of a million rows).
        let z = self.scaler.transform_owned(frame.matrix(&self.features)?);
        let centroids: Vec<Vec<f64>> = self.segments.iter().map(|s| s.centroid.clone()).collect();
        Ok(nearest(z.view(), &centroids))
    }

    /// The model as pretty-printed JSON (floats round-trip exactly).
    pub fn to_json(&self) -> Result<String> {
        churn_core::artifact_json(self).map_err(Error::BadModel)
    }

    /// Reads a model written by [`SegmentModel::to_json`], checking its checksum (required) and its
    /// invariants.
    pub fn from_json(text: &str) -> Result<Self> {
        Self::from_json_with(text, SealPolicy::Required)
    }

    /// [`SegmentModel::from_json`], with a choice about files that carry no checksum.
    pub fn from_json_with(text: &str, seal: SealPolicy) -> Result<Self> {
        let model: SegmentModel = parse_artifact(
            text,
            MODEL_FORMAT,
            MODEL_VERSION,
            "a segment model written by `churn segment`",
            seal,
        )
        .map_err(Error::BadModel)?;
        model.validate()?;
        Ok(model)
    }

    fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::BadModel(reason));
        let d = self.features.len();
        if d == 0 {
            return bad("the model has no features".into());
        }
        if self.scaler.mean.len() != d || self.scaler.std.len() != d || !self.scaler.is_finite() {
            return bad(format!("the scaler needs {d} finite means and standard deviations"));
        }
        if self.segments.is_empty() {
            return bad("the model has no segments".into());
        }
        for (i, segment) in self.segments.iter().enumerate() {
            if segment.id != i {
                return bad(format!("segment {i} has id {}; ids must be 0..k in order", segment.id));
            }
            if segment.centroid.len() != d || segment.centroid.iter().any(|v| !v.is_finite()) {
                return bad(format!("segment {i} needs a centroid of {d} finite numbers"));
            }
            if segment.name.trim().is_empty() || self.segments[..i].iter().any(|s| s.name == segment.name) {
                return bad(format!("segment {i} needs a unique, non-empty name"));
            }
        }
        Ok(())
    }
}
