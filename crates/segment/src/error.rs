//! Errors of fitting, assigning and loading segment models.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while segmenting customers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of range.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The feature frame cannot give the model its inputs (a missing column, a null, a value
    /// outside a transform's domain).
    #[error(transparent)]
    Frame(#[from] churn_core::Error),
    /// There is nothing to segment.
    #[error("{0}")]
    Degenerate(String),
    /// The clustering library failed.
    #[error("k-means: {0}")]
    KMeans(String),
    /// A saved model is unreadable or inconsistent.
    #[error("segment model: {0}")]
    BadModel(String),
    /// Writing the profile table failed.
    #[error("cannot write the profile table: {0}")]
    Write(#[from] std::io::Error),
}

/// A segmentation parameter that is out of range; one variant per rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// `k` must be at least 2: one segment is no segmentation.
    #[error("segments.k = {0}: need at least 2 segments")]
    TooFewSegments(usize),
    /// `k` is capped so that profiles stay readable and the model stays small.
    #[error("segments.k = {k}: at most {max} segments")]
    TooManySegments {
        /// The value given.
        k: usize,
        /// The cap.
        max: usize,
    },
    /// The auto-k range is empty or reversed.
    #[error("segments.k_min = {min} and segments.k_max = {max}: need 2 <= k_min <= k_max")]
    BadKRange {
        /// The lower end.
        min: usize,
        /// The upper end.
        max: usize,
    },
    /// No input features.
    #[error("segments.features is empty: name at least one feature, e.g. \"recency_days\"")]
    NoFeatures,
    /// The same input twice.
    #[error("segments.features lists {0:?} twice")]
    DuplicateFeature(String),
    /// At least one k-means run.
    #[error("segments.n_runs must be at least 1")]
    NoRuns,
    /// The convergence tolerance must be a positive number.
    #[error("segments.tolerance = {0}: must be a positive number")]
    BadTolerance(f64),
    /// At least one iteration.
    #[error("segments.max_iterations must be at least 1")]
    NoIterations,
    /// The fit sample is too small to find segments in.
    #[error("segments.fit_sample = {value}: must be at least {min}")]
    FitSampleTooSmall {
        /// The configured sample size.
        value: usize,
        /// The smallest allowed.
        min: usize,
    },
    /// The silhouette sample is outside what an O(n^2) score can afford.
    #[error("segments.silhouette_sample = {value}: must be between {min} and {max}")]
    BadSilhouetteSample {
        /// The configured sample size.
        value: usize,
        /// The smallest allowed.
        min: usize,
        /// The largest allowed.
        max: usize,
    },
}
