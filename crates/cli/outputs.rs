//! Outputs that appear together or not at all.
//!
//! A command that writes several files (a model, a table, a profile) stages each next to its final
//! path, and renames them all into place only after every one was written and synced. An error
//! before that point removes the staged files and leaves any earlier outputs untouched.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::TempPath;

#[derive(Default)]
pub struct StagedOutputs {
    staged: Vec<(TempPath, PathBuf)>,
}

impl StagedOutputs {
    pub fn new() -> Self {
        StagedOutputs::default()
    }

    /// A fresh temporary path in `path`'s directory (created if missing), to be renamed to `path`.
    pub fn stage(&mut self, path: &Path) -> Result<PathBuf> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the directory {}", dir.display()))?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(".churn-").suffix(".tmp");
        // Outputs are shared files: the usual 0666 minus umask, not a temporary file's 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let file = builder
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        let temp = file.into_temp_path();
        let staged = temp.to_path_buf();
        self.staged.push((temp, path.to_path_buf()));
        Ok(staged)
    }

    /// Stages `bytes` for `path`, synced to disk.
    pub fn stage_bytes(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.stage_pieces(path, || std::iter::once(bytes))
    }

    /// Stages the concatenation of `pieces()` for `path`, synced to disk, without joining them
    /// first (an at-risk list is a million rows, 170 MB); see `durable::write_synced_chunks`.
    pub fn stage_pieces<'a, I: Iterator<Item = &'a [u8]>>(
        &mut self,
        path: &Path,
        pieces: impl Fn() -> I,
    ) -> Result<()> {
        let staged = self.stage(path)?;
        churn_pipeline::durable::write_synced_chunks(&staged, pieces)
            .map(drop)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Renames every staged file into place, then syncs the directories that changed, so the new
    /// names survive a power loss.
    pub fn commit(self) -> Result<()> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (temp, path) in self.staged {
            temp.persist(&path)
                .map_err(|e| e.error)
                .with_context(|| format!("cannot move the finished file to {}", path.display()))?;
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        for dir in dirs {
            crate::publish::sync_dir(&dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_until_commit_and_nothing_stays_without_it() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("sub/b.txt"));
        let mut outputs = StagedOutputs::new();
        outputs.stage_bytes(&a, b"first")?;
        outputs.stage_bytes(&b, b"second")?;
        assert!(!a.exists() && !b.exists());
        outputs.commit()?;
        assert_eq!(std::fs::read_to_string(&a)?, "first");
        assert_eq!(std::fs::read_to_string(&b)?, "second");

        let mut abandoned = StagedOutputs::new();
        abandoned.stage_bytes(&a, b"replaced")?;
        drop(abandoned);
        assert_eq!(std::fs::read_to_string(&a)?, "first");
        let leftovers = std::fs::read_dir(dir.path())?.filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with(".churn-"))
        });
        assert_eq!(leftovers.count(), 0);
        Ok(())
    }
}
