//! Customer segmentation for `churn` (k-means with linfa-clustering): reserved.
//!
//! This crate is part of the workspace layout from the start so that dependencies point one way
//! (features -> segment/score -> binary) from the first commit. Its contents (fitting, naming and
//! assigning segments) arrive with the segmentation issue; until then it exports nothing, and the
//! `churn` binary offers no `segment` command.
