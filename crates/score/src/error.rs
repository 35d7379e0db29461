//! Errors of labelling, training, evaluating and scoring.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the churn model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of range.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The feature frame cannot give the model its inputs.
    #[error(transparent)]
    Frame(#[from] churn_core::Error),
    /// The data cannot support a model (one class, too few customers, an input always null).
    #[error("{0}")]
    Degenerate(String),
    /// The optimizer failed.
    #[error("logistic regression: {0}")]
    Fit(String),
    /// A saved model is unreadable or inconsistent.
    #[error("churn model: {0}")]
    BadModel(String),
    /// Writing an export failed.
    #[error("cannot write: {0}")]
    Write(#[from] std::io::Error),
}

/// A model parameter that is out of range; one variant per rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// The horizon must be at least one day.
    #[error("horizon_days = {0}: must be at least 1")]
    Horizon(i64),
    /// L2 strength must be positive and finite.
    #[error("model.l2 = {0}: must be a positive number (scikit-learn's 1/C)")]
    L2(f64),
    /// At least one iteration.
    #[error("model.max_iterations must be at least 1")]
    NoIterations,
    /// The gradient tolerance must be positive and finite.
    #[error("model.gradient_tolerance = {0}: must be a positive number")]
    Tolerance(f64),
    /// The per-class minimum must be at least 1.
    #[error("model.min_per_class must be at least 1")]
    MinPerClass,
    /// The training sample must be large enough to fit on.
    #[error("model.train_sample = {0}: must be at least 100")]
    TrainSample(usize),
    /// No inputs.
    #[error("model.features is empty")]
    NoFeatures,
    /// The same input twice.
    #[error("model.features lists {0:?} twice")]
    DuplicateFeature(String),
    /// Risk-band cut-offs must be probabilities in increasing order.
    #[error("risk band cut-offs {0:?} must be increasing probabilities strictly between 0 and 1")]
    Bands(Vec<f64>),
    /// A risk band that does not exist.
    #[error("risk band {0:?} is not one of \"high\", \"medium\", \"low\"")]
    UnknownBand(String),
    /// Any other setting out of its range; the message names it.
    #[error("{0}")]
    Invalid(String),
}
