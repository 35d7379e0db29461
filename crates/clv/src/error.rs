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
