//! Errors of fitting lifetime-value models.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while fitting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data cannot identify the model.
    #[error("{0}")]
    Degenerate(String),
    /// A summary row is impossible (negative counts, `t_x > t`, not finite).
    #[error("summary row {row}: {reason}")]
    BadSummary {
        /// The row.
        row: usize,
        /// What is wrong.
        reason: String,
    },
    /// A saved model cannot be used.
    #[error("invalid lifetime-value model: {0}")]
    BadModel(String),
    /// The optimizer did not reach a maximum.
    #[error("the fit did not converge: {0}")]
    NotConverged(String),
}

/// A lifetime-value setting outside its rules (see [`ClvParams::check`](crate::ClvParams::check)).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// Purchases are merged per period of at least one day.
    #[error("clv.merge_days must be at least 1")]
    NoMergeDays,
    /// The horizon is at least one day.
    #[error("clv.horizon_days must be at least 1")]
    NoHorizon,
    /// The discount rate is a finite annual rate.
    #[error("clv.annual_discount_rate = {0}: must be between 0 and 10 (0.1 is 10 % a year)")]
    DiscountRate(f64),
}
