//! Errors of the pipeline: which step failed, with the library error that says why.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the pipeline. The library errors stay the `source`, so a caller can still
/// find, say, the located input problems of `churn_features::Error::Rejected` in the chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A step failed: `what` names the step and its file or snapshot, `source` says why.
    #[error("{what}")]
    Step {
        /// The step, in words (`cannot fit segments`, `cannot read /m/current.json`).
        what: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A shared-vocabulary error (a missing column, a frame that does not line up).
    #[error(transparent)]
    Core(#[from] churn_core::Error),
    /// Reading, validating or writing data.
    #[error(transparent)]
    Features(#[from] churn_features::Error),
    /// Segmentation.
    #[error(transparent)]
    Segment(#[from] churn_segment::Error),
    /// The churn model.
    #[error(transparent)]
    Score(#[from] churn_score::Error),
    /// Lifetime value.
    #[error(transparent)]
    Clv(#[from] churn_clv::Error),
    /// Something the pipeline itself refuses, with what to do about it.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The data error inside, when this is one passed through unchanged (its located problems are
    /// then reachable without knowing the pipeline's variants).
    pub fn as_features(&self) -> Option<&churn_features::Error> {
        match self {
            Error::Features(e) => Some(e),
            _ => None,
        }
    }

    /// An [`Error::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::Invalid(message.into())
    }
}

/// Attaches the failing step to a library error, as `anyhow::Context` does in the binary: the
/// pipeline keeps typed errors without depending on anyhow.
pub trait Context<T> {
    /// Wraps the error as an [`Error::Step`] described by `what()`.
    fn context_with(self, what: impl FnOnce() -> String) -> Result<T>;

    /// Wraps the error as an [`Error::Step`] described by `what`.
    fn context(self, what: &str) -> Result<T>
    where
        Self: Sized,
    {
        self.context_with(|| what.to_string())
    }
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context_with(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Step {
            what: what(),
            source: Box::new(source),
        })
    }
}

/// An I/O error on `path`, with the verb of what was attempted (`read`, `write`).
pub(crate) fn io_error(verb: &str, path: &std::path::Path, source: std::io::Error) -> Error {
    Error::Step {
        what: format!("cannot {verb} {}", path.display()),
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_names_the_cause_and_keeps_it_as_source() {
        let err = "x"
            .parse::<u32>()
            .context("cannot read the horizon")
            .expect_err("not a number");
        assert_eq!(err.to_string(), "cannot read the horizon");
        let source = std::error::Error::source(&err).expect("source");
        assert!(source.downcast_ref::<std::num::ParseIntError>().is_some());
    }
}
