//! Model parameters, checked once.

use churn_core::FeatureSpec;

use crate::design::default_inputs;
use crate::error::ParamError;

/// Parameters of [`train`](crate::train); adjust the public fields of [`ModelParams::default`],
/// then [`ModelParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ModelParams {
    /// Model inputs (see [`default_inputs`]).
    pub features: Vec<FeatureSpec>,
    /// L2 penalty on the standardized coefficients, on the summed log-loss: scikit-learn's `1 / C`.
    pub l2: f64,
    /// L-BFGS iteration cap.
    pub max_iterations: u64,
    /// Convergence: the gradient norm of the *mean* log-loss below this (scaled by the number of
    /// rows for linfa, whose loss is a sum).
    pub gradient_tolerance: f64,
    /// Training needs at least this many churners and this many non-churners.
    pub min_per_class: usize,
    /// Train on a seeded sample of at most this many customers.
    pub train_sample: usize,
    /// Seed of the training sample.
    pub seed: u64,
}

impl Default for ModelParams {
    /// The v1 inputs, `l2 = 1` (scikit-learn's default `C = 1`), 100 iterations, gradient
    /// tolerance 1e-4, at least 20 customers per class, a 250,000-customer training sample, seed 42.
    fn default() -> Self {
        ModelParams {
            features: default_inputs(),
            l2: 1.0,
            max_iterations: 100,
            gradient_tolerance: 1e-4,
            min_per_class: 20,
            train_sample: 250_000,
            seed: 42,
        }
    }
}

impl ModelParams {
    /// Checks every rule.
    pub fn check(self) -> Result<ValidModelParams, ParamError> {
        if self.features.is_empty() {
            return Err(ParamError::NoFeatures);
        }
        for (i, spec) in self.features.iter().enumerate() {
            if self.features[..i].contains(spec) {
                return Err(ParamError::DuplicateFeature(spec.to_string()));
            }
        }
        if !(self.l2.is_finite() && self.l2 > 0.0) {
            return Err(ParamError::L2(self.l2));
        }
        if self.max_iterations == 0 {
            return Err(ParamError::NoIterations);
        }
        if !(self.gradient_tolerance.is_finite() && self.gradient_tolerance > 0.0) {
            return Err(ParamError::Tolerance(self.gradient_tolerance));
        }
        if self.min_per_class == 0 {
            return Err(ParamError::MinPerClass);
        }
        if self.train_sample < 100 {
            return Err(ParamError::TrainSample(self.train_sample));
        }
        Ok(ValidModelParams(self))
    }
}

/// [`ModelParams`] that passed [`ModelParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidModelParams(ModelParams);

impl std::ops::Deref for ValidModelParams {
    type Target = ModelParams;

    fn deref(&self) -> &ModelParams {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut ModelParams)) -> Result<ValidModelParams, ParamError> {
        let mut p = ModelParams::default();
        f(&mut p);
        p.check()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(ModelParams::default().check().is_ok());
    }

    #[test]
    fn l2_must_be_positive_and_finite() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(with(|p| p.l2 = bad), Err(ParamError::L2(_))));
        }
    }

    #[test]
    fn features_must_be_present_and_unique() {
        assert_eq!(with(|p| p.features.clear()), Err(ParamError::NoFeatures));
        let dup = with(|p| {
            let first = p.features[0].clone();
            p.features.push(first);
        });
        assert_eq!(dup, Err(ParamError::DuplicateFeature("recency_days".into())));
    }

    #[test]
    fn iterations_tolerance_classes_and_sample_have_bounds() {
        assert_eq!(with(|p| p.max_iterations = 0), Err(ParamError::NoIterations));
        assert!(matches!(
            with(|p| p.gradient_tolerance = 0.0),
            Err(ParamError::Tolerance(_))
        ));
        assert_eq!(with(|p| p.min_per_class = 0), Err(ParamError::MinPerClass));
        assert_eq!(with(|p| p.train_sample = 5), Err(ParamError::TrainSample(5)));
    }
}
