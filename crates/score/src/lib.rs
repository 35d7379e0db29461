//! Churn labels, the logistic churn model and at-risk lists for `churn`: reserved.
//!
//! This crate is part of the workspace layout from the start so that dependencies point one way
//! (features -> segment/score -> binary) from the first commit. Its contents (labels, training,
//! evaluation and scoring) arrive with the churn-model issue; until then it exports nothing, and the
//! `churn` binary offers no `train` or `score` command.
