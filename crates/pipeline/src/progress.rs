//! How the pipeline reports progress without printing: the caller implements [`Progress`].

/// Receives the stages of long work. The binary draws them as spinners on an interactive terminal;
/// tests and embedders pass [`Silent`].
pub trait Progress: Sync {
    /// A stage of unknown length begins (`computing features for the as-of date`); it lasts until
    /// the next `begin` or [`Progress::finish`].
    fn begin(&self, stage: &str);

    /// The current stage is over.
    fn finish(&self);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _stage: &str) {}
    fn finish(&self) {}
}

/// Runs `work` as one stage of a `dyn Progress`.
pub(crate) fn stage<T>(progress: &dyn Progress, what: &str, work: impl FnOnce() -> T) -> T {
    progress.begin(what);
    let out = work();
    progress.finish();
    out
}
