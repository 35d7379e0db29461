//! Synthetic data generator (in progress).
