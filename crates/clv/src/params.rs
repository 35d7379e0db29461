//! The lifetime-value settings a user chooses, checked once (linfa's `Params` / `ValidParams`
//! pattern): build [`ClvParams`] (or take its defaults), adjust the public fields, then
//! [`ClvParams::check`] gives [`ValidClvParams`], which every later step trusts.

use churn_core::{FeatureSpec, Transform};

use crate::error::ParamError;
use crate::model::TimeUnit;

/// The largest accepted annual discount rate (1000 % a year): above it a typo is more likely than
/// an intent.
pub const MAX_ANNUAL_DISCOUNT_RATE: f64 = 10.0;

/// The lifetime-value settings: time unit, merging, horizon and discounting.
#[derive(Debug, Clone, PartialEq)]
pub struct ClvParams {
    /// Time unit of the model.
    pub time_unit: TimeUnit,
    /// Purchases within one Monday-aligned period of this many days are one transaction (1: one
    /// transaction per day).
    pub merge_days: u32,
    /// The CLV horizon in days.
    pub horizon_days: u32,
    /// Annual discount rate, 0.1 for 10 % a year.
    pub annual_discount_rate: f64,
}

impl Default for ClvParams {
    /// Weeks, same-day purchases merged, a one-year horizon, 10 % a year.
    fn default() -> Self {
        ClvParams {
            time_unit: TimeUnit::Week,
            merge_days: 1,
            horizon_days: 365,
            annual_discount_rate: 0.1,
        }
    }
}

/// [`ClvParams`] that passed [`ClvParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidClvParams(ClvParams);

impl std::ops::Deref for ValidClvParams {
    type Target = ClvParams;

    fn deref(&self) -> &ClvParams {
        &self.0
    }
}

impl ClvParams {
    /// Checks every rule, each with its own error.
    pub fn check(self) -> Result<ValidClvParams, ParamError> {
        if self.merge_days == 0 {
            return Err(ParamError::NoMergeDays);
        }
        if self.horizon_days == 0 {
            return Err(ParamError::NoHorizon);
        }
        if !(self.annual_discount_rate.is_finite()
            && (0.0..=MAX_ANNUAL_DISCOUNT_RATE).contains(&self.annual_discount_rate))
        {
            return Err(ParamError::DiscountRate(self.annual_discount_rate));
        }
        Ok(ValidClvParams(self))
    }
}

impl ValidClvParams {
    /// The churn-model inputs the lifetime values offer (`clv.churn_features`): see [`churn_inputs`].
    pub fn churn_inputs(&self) -> Vec<FeatureSpec> {
        churn_inputs::specs(self.horizon_days)
    }
}

/// The lifetime-value outputs offered to the churn model (`clv.churn_features = true`): P(alive) as
/// it is and the expected purchases over the CLV horizon on a log scale, like the other counts. They
/// have the names of their `clv.parquet` columns, so `churn score --clv` finds them there.
pub mod churn_inputs {
    use super::{FeatureSpec, Transform};

    /// The P(alive) column.
    pub const P_ALIVE: &str = "p_alive";
    /// The expected purchases column is this followed by `<horizon>d`.
    pub const EXPECTED_PREFIX: &str = "expected_purchases_";

    /// The two column names for a CLV horizon of `horizon_days`.
    pub fn columns(horizon_days: u32) -> [String; 2] {
        [P_ALIVE.to_string(), format!("{EXPECTED_PREFIX}{horizon_days}d")]
    }

    /// The two model inputs.
    pub fn specs(horizon_days: u32) -> Vec<FeatureSpec> {
        let [p_alive, expected] = columns(horizon_days);
        vec![
            FeatureSpec::new(&p_alive, Transform::Identity),
            FeatureSpec::new(&expected, Transform::Log1p),
        ]
    }

    /// Whether a column is a lifetime-value output (any horizon).
    pub fn is_clv_column(column: &str) -> bool {
        column == P_ALIVE || column.starts_with(EXPECTED_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(change: impl FnOnce(&mut ClvParams)) -> Result<ValidClvParams, ParamError> {
        let mut params = ClvParams::default();
        change(&mut params);
        params.check()
    }

    #[test]
    fn the_defaults_are_valid() {
        let valid = with(|_| {}).expect("defaults");
        assert_eq!(valid.time_unit, TimeUnit::Week);
        assert_eq!((valid.merge_days, valid.horizon_days), (1, 365));
    }

    #[test]
    fn merge_days_cannot_be_zero() {
        assert_eq!(with(|p| p.merge_days = 0), Err(ParamError::NoMergeDays));
    }

    #[test]
    fn horizon_cannot_be_zero() {
        assert_eq!(with(|p| p.horizon_days = 0), Err(ParamError::NoHorizon));
    }

    #[test]
    fn discount_rate_must_be_a_finite_rate_up_to_ten() {
        for rate in [-0.1, 10.5, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                with(|p| p.annual_discount_rate = rate),
                Err(ParamError::DiscountRate(_))
            ));
        }
        assert!(with(|p| p.annual_discount_rate = 0.0).is_ok());
        assert!(with(|p| p.annual_discount_rate = 10.0).is_ok());
    }

    #[test]
    fn churn_inputs_are_named_after_the_horizon() {
        let valid = with(|p| p.horizon_days = 90).expect("valid");
        let names: Vec<String> = valid.churn_inputs().iter().map(ToString::to_string).collect();
        assert_eq!(names, ["p_alive", "log1p(expected_purchases_90d)"]);
        assert!(churn_inputs::is_clv_column("expected_purchases_365d"));
        assert!(!churn_inputs::is_clv_column("frequency"));
    }
}
