//! Segmentation parameters, checked once (linfa's `Params` / `ValidParams` pattern).

use churn_core::{FeatureSpec, Transform};

use crate::error::ParamError;

/// The most segments a model may have.
pub const MAX_SEGMENTS: usize = 50;
/// The smallest fit or silhouette sample.
pub const MIN_SAMPLE: usize = 100;
/// The largest silhouette sample: the score costs `n^2` distances per candidate `k`.
pub const MAX_SILHOUETTE_SAMPLE: usize = 50_000;

/// How many segments to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KChoice {
    /// Exactly this many (fewer, with a warning, if the data has fewer distinct customers).
    Fixed(usize),
    /// The `k` in `min..=max` with the best silhouette on a sample.
    Auto {
        /// Smallest candidate.
        min: usize,
        /// Largest candidate.
        max: usize,
    },
}

/// The v1 segmentation inputs: recency and tenure in days, log counts, signed log money.
pub fn default_features() -> Vec<FeatureSpec> {
    vec![
        FeatureSpec::new("recency_days", Transform::Identity),
        FeatureSpec::new("frequency", Transform::Log1p),
        FeatureSpec::new("monetary_total", Transform::SignedLog1p),
        FeatureSpec::new("tenure_days", Transform::Identity),
    ]
}

/// Parameters of [`fit_segments`](crate::fit_segments); build with [`SegmentParams::new`], adjust
/// the public fields, then [`SegmentParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentParams {
    /// How many segments.
    pub k: KChoice,
    /// Model inputs, standardized before clustering.
    pub features: Vec<FeatureSpec>,
    /// The money column that orders segments (0 = largest share) and gives revenue shares.
    pub revenue_column: String,
    /// k-means runs from different k-means++ starts; the lowest inertia wins.
    pub n_runs: usize,
    /// Convergence: the run stops when the centroids move less than this (Euclidean norm over all
    /// centroids, in standard deviations; linfa's absolute criterion). The default 1e-2 is
    /// scikit-learn's default `tol = 1e-4`, which bounds the *squared* shift relative to the
    /// (here unit) variance.
    pub tolerance: f64,
    /// Iteration cap per run.
    pub max_iterations: u64,
    /// Seed of every random choice (samples, k-means++ starts).
    pub seed: u64,
    /// Fit on a seeded sample of this many customers, then assign everyone.
    pub fit_sample: usize,
    /// Customers in the silhouette sample of automatic k.
    pub silhouette_sample: usize,
}

impl SegmentParams {
    /// Defaults: `k`, the v1 features, 3 runs, tolerance 1e-2, 300 iterations, seed 42, fit sample
    /// 100,000, silhouette sample 10,000, revenue from `monetary_total`.
    pub fn new(k: KChoice) -> Self {
        SegmentParams {
            k,
            features: default_features(),
            revenue_column: "monetary_total".to_string(),
            n_runs: 3,
            tolerance: 1e-2,
            max_iterations: 300,
            seed: 42,
            fit_sample: 100_000,
            silhouette_sample: 10_000,
        }
    }

    /// Checks every rule; the result can be passed to [`fit_segments`](crate::fit_segments).
    pub fn check(self) -> Result<ValidSegmentParams, ParamError> {
        match self.k {
            KChoice::Fixed(k) if k < 2 => return Err(ParamError::TooFewSegments(k)),
            KChoice::Fixed(k) if k > MAX_SEGMENTS => return Err(ParamError::TooManySegments { k, max: MAX_SEGMENTS }),
            KChoice::Auto { min, max } if min < 2 || min > max => return Err(ParamError::BadKRange { min, max }),
            KChoice::Auto { max, .. } if max > MAX_SEGMENTS => {
                return Err(ParamError::TooManySegments {
                    k: max,
                    max: MAX_SEGMENTS,
                })
            }
            _ => {}
        }
        if self.features.is_empty() {
            return Err(ParamError::NoFeatures);
        }
        for (i, spec) in self.features.iter().enumerate() {
            if self.features[..i].contains(spec) {
                return Err(ParamError::DuplicateFeature(spec.to_string()));
            }
        }
        if self.n_runs == 0 {
            return Err(ParamError::NoRuns);
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(ParamError::BadTolerance(self.tolerance));
        }
        if self.max_iterations == 0 {
            return Err(ParamError::NoIterations);
        }
        if self.fit_sample < MIN_SAMPLE {
            return Err(ParamError::FitSampleTooSmall {
                value: self.fit_sample,
                min: MIN_SAMPLE,
            });
        }
        if !(MIN_SAMPLE..=MAX_SILHOUETTE_SAMPLE).contains(&self.silhouette_sample) {
            return Err(ParamError::BadSilhouetteSample {
                value: self.silhouette_sample,
                min: MIN_SAMPLE,
                max: MAX_SILHOUETTE_SAMPLE,
            });
        }
        Ok(ValidSegmentParams(self))
    }
}

/// [`SegmentParams`] that passed [`SegmentParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSegmentParams(SegmentParams);

impl std::ops::Deref for ValidSegmentParams {
    type Target = SegmentParams;

    fn deref(&self) -> &SegmentParams {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut SegmentParams)) -> Result<ValidSegmentParams, ParamError> {
        let mut params = SegmentParams::new(KChoice::Fixed(4));
        f(&mut params);
        params.check()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(SegmentParams::new(KChoice::Auto { min: 2, max: 10 }).check().is_ok());
    }

    #[test]
    fn k_must_be_between_2_and_the_cap() {
        assert_eq!(with(|p| p.k = KChoice::Fixed(1)), Err(ParamError::TooFewSegments(1)));
        assert!(matches!(
            with(|p| p.k = KChoice::Fixed(51)),
            Err(ParamError::TooManySegments { .. })
        ));
    }

    #[test]
    fn auto_k_range_must_be_ordered_and_start_at_2() {
        assert!(matches!(
            with(|p| p.k = KChoice::Auto { min: 5, max: 3 }),
            Err(ParamError::BadKRange { .. })
        ));
        assert!(matches!(
            with(|p| p.k = KChoice::Auto { min: 1, max: 3 }),
            Err(ParamError::BadKRange { .. })
        ));
    }

    #[test]
    fn features_must_be_present_and_unique() {
        assert_eq!(with(|p| p.features.clear()), Err(ParamError::NoFeatures));
        let err = with(|p| p.features.push(FeatureSpec::new("tenure_days", Transform::Identity)));
        assert_eq!(err, Err(ParamError::DuplicateFeature("tenure_days".into())));
    }

    #[test]
    fn tolerance_must_be_positive_and_finite() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(with(|p| p.tolerance = bad), Err(ParamError::BadTolerance(_))));
        }
    }

    #[test]
    fn runs_iterations_and_samples_have_lower_bounds() {
        assert_eq!(with(|p| p.n_runs = 0), Err(ParamError::NoRuns));
        assert_eq!(with(|p| p.max_iterations = 0), Err(ParamError::NoIterations));
        assert_eq!(
            with(|p| p.fit_sample = 10),
            Err(ParamError::FitSampleTooSmall {
                value: 10,
                min: MIN_SAMPLE
            })
        );
        assert_eq!(
            with(|p| p.silhouette_sample = 60_000),
            Err(ParamError::BadSilhouetteSample {
                value: 60_000,
                min: MIN_SAMPLE,
                max: MAX_SILHOUETTE_SAMPLE
            })
        );
    }
}
