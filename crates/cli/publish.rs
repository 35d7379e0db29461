//! Publishing a run: a lock on the output directory, a staging directory, and an atomic switch of
//! `<output>/current` to the finished run.
//!
//! Layout of an output directory:
//!
//! ```text
//! <output>/.lock                      held while a run works (pid and start time inside)
//! <output>/.staging-<run id>/         a run being written; removed if it fails
//! <output>/runs/<as-of>-<run id>/     published runs, each complete with its _SUCCESS marker
//! <output>/current -> runs/<...>      a symlink, swapped by rename: always a complete run
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use std::time::SystemTime;

use anyhow::{bail, Context, Result};

/// Another run holds the output directory (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LockedError(pub String);

/// The lock on an output directory; released (the file removed) when dropped.
pub struct RunLock {
    path: PathBuf,
}

/// A process's start time (clock ticks since boot, field 22 of `/proc/<pid>/stat`), which tells a
/// live run from an unrelated process that later got the same pid. Linux only; read without `unsafe`.
pub fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesized and may contain spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Whether the run that wrote a lock (`<pid> <start time>`) is still alive.
fn lock_holder_alive(text: &str) -> Option<u32> {
    let mut fields = text.split_whitespace();
    let pid: u32 = fields.next()?.parse().ok()?;
    let started = fields.next();
    let now = process_start(pid)?;
    (started.is_none_or(|s| s == now)).then_some(pid)
}

impl RunLock {
    /// Takes the lock, or fails at once with [`LockedError`] if a live run holds it. A lock left by
    /// a run that no longer exists (killed, machine restarted) is stale: it is taken over, with a
    /// warning.
    pub fn acquire(output: &Path) -> Result<RunLock> {
        std::fs::create_dir_all(output)
            .with_context(|| format!("cannot create the output directory {}", output.display()))?;
        let path = output.join(".lock");
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    let pid = std::process::id();
                    writeln!(file, "{pid} {}", process_start(pid).unwrap_or_default())
                        .and_then(|()| file.sync_all())
                        .with_context(|| format!("cannot write the lock {}", path.display()))?;
                    return Ok(RunLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    // A lock created a moment ago may not have its pid written yet: not stale.
                    let fresh = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age < std::time::Duration::from_secs(10));
                    let holder = lock_holder_alive(&text);
                    if holder.is_some_and(|pid| pid != std::process::id()) || (text.trim().is_empty() && fresh) {
                        return Err(anyhow::Error::new(LockedError(format!(
                            "another churn run ({}) is writing to {}; wait for it to finish (the lock is {})",
                            holder.map_or("starting".to_string(), |pid| format!("pid {pid}")),
                            output.display(),
                            path.display()
                        ))));
                    }
                    tracing::warn!(
                        "removing the stale lock {} (its run {} is gone)",
                        path.display(),
                        if text.trim().is_empty() { "?" } else { text.trim() }
                    );
                    std::fs::remove_file(&path)
                        .with_context(|| format!("cannot remove the stale lock {}", path.display()))?;
                }
                Err(e) => return Err(e).with_context(|| format!("cannot create the lock {}", path.display())),
            }
        }
        Err(anyhow::Error::new(LockedError(format!(
            "another churn run took the lock {} at the same moment",
            path.display()
        ))))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A run's staging directory; removed when dropped unless published.
pub struct Staging {
    dir: PathBuf,
    published: bool,
}

impl Staging {
    /// Creates `<output>/.staging-<run id>/`, removing leftovers of earlier failed runs first.
    pub fn create(output: &Path, run_id: &str) -> Result<Staging> {
        if let Ok(entries) = std::fs::read_dir(output) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".staging-") {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = output.join(format!(".staging-{run_id}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Staging { dir, published: false })
    }

    /// A path inside the staging directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a file into the staging directory and syncs it.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(name);
        let mut file = File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Syncs the directory, renames it to `<output>/runs/<name>` and points `<output>/current` at
    /// it with an atomic rename of a fresh symlink. Returns the published directory.
    pub fn publish(mut self, output: &Path, name: &str) -> Result<PathBuf> {
        sync_dir(&self.dir)?;
        let runs = output.join("runs");
        std::fs::create_dir_all(&runs).with_context(|| format!("cannot create {}", runs.display()))?;
        let target = runs.join(name);
        std::fs::rename(&self.dir, &target)
            .with_context(|| format!("cannot move the finished run to {}", target.display()))?;
        self.published = true;
        sync_dir(&runs)?;
        let link_tmp = output.join(format!(".current-{name}"));
        let _ = std::fs::remove_file(&link_tmp);
        symlink(Path::new("runs").join(name), &link_tmp)?;
        std::fs::rename(&link_tmp, output.join("current"))
            .with_context(|| format!("cannot point {}/current at the new run", output.display()))?;
        sync_dir(output)?;
        Ok(target)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(unix)]
fn symlink(target: PathBuf, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(&target, link).with_context(|| format!("cannot create the symlink {}", link.display()))
}

#[cfg(not(unix))]
fn symlink(_target: PathBuf, link: &Path) -> Result<()> {
    anyhow::bail!("cannot create {}: publishing needs symlinks (Unix)", link.display())
}

/// Makes a directory's entries (renames, new files) durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync the directory {}", dir.display()))
}

/// One input file as a run found it.
#[derive(Debug, PartialEq)]
pub struct FileStamp {
    path: PathBuf,
    bytes: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

/// What the input files looked like when a run started: which files, and each one's size,
/// modification time and inode. A nightly export landing while the run reads would otherwise give
/// features from one version of the file and a fingerprint from another, or snapshots that
/// disagree; a run whose input changed publishes nothing.
#[derive(Debug, PartialEq)]
pub struct InputStamp(Vec<FileStamp>);

impl InputStamp {
    pub fn take(pattern: &str) -> Result<InputStamp> {
        use std::os::unix::fs::MetadataExt;
        let files = churn_features::input_files(pattern)?;
        let mut stamp = Vec::with_capacity(files.len());
        for path in files {
            let meta =
                std::fs::metadata(&path).with_context(|| format!("cannot read the metadata of {}", path.display()))?;
            stamp.push(FileStamp {
                bytes: meta.len(),
                modified: meta.modified().ok(),
                inode: meta.ino(),
                path,
            });
        }
        Ok(InputStamp(stamp))
    }

    /// Fails, naming the first file that changed, when the input is not what it was.
    pub fn check_unchanged(&self, pattern: &str) -> Result<()> {
        let now = InputStamp::take(pattern).context("the input changed during the run; nothing was published")?;
        if now == *self {
            return Ok(());
        }
        let changed = self
            .0
            .iter()
            .zip(&now.0)
            .find(|(a, b)| a != b)
            .map(|(a, _)| a.path.display().to_string())
            .unwrap_or_else(|| format!("the set of files matching {pattern}"));
        bail!(
            "the input changed during the run ({changed} was replaced, rewritten or appended to); nothing was \
             published: run again once the export is complete"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_lock_refuses_and_a_stale_one_is_taken_over() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let lock_file = dir.path().join(".lock");
        // pid 1 with its real start time is a live holder.
        let init = process_start(1).expect("/proc/1/stat");
        std::fs::write(&lock_file, format!("1 {init}\n"))?;
        let err = RunLock::acquire(dir.path()).err().expect("locked");
        assert!(err.downcast_ref::<LockedError>().is_some(), "{err}");
        // The same pid with another start time is a different process: the lock is stale.
        std::fs::write(&lock_file, "1 12345\n")?;
        let lock = RunLock::acquire(dir.path())?;
        let me = std::process::id();
        assert_eq!(
            std::fs::read_to_string(&lock_file)?.trim(),
            format!("{me} {}", process_start(me).expect("own stat"))
        );
        drop(lock);
        assert!(!lock_file.exists());
        // A pid that cannot exist is stale too.
        std::fs::write(&lock_file, "4294967295 1\n")?;
        drop(RunLock::acquire(dir.path())?);
        Ok(())
    }

    #[test]
    fn publishing_switches_current_and_a_dropped_staging_leaves_nothing() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let first = Staging::create(dir.path(), "a")?;
        first.write("x.txt", b"one")?;
        first.publish(dir.path(), "2024-01-01-a")?;
        assert_eq!(std::fs::read_to_string(dir.path().join("current/x.txt"))?, "one");
        let failed = Staging::create(dir.path(), "b")?;
        failed.write("x.txt", b"half")?;
        drop(failed);
        assert!(!dir.path().join(".staging-b").exists());
        assert_eq!(std::fs::read_to_string(dir.path().join("current/x.txt"))?, "one");
        let second = Staging::create(dir.path(), "c")?;
        second.write("x.txt", b"two")?;
        second.publish(dir.path(), "2024-01-02-c")?;
        assert_eq!(std::fs::read_to_string(dir.path().join("current/x.txt"))?, "two");
        assert!(dir.path().join("runs/2024-01-01-a/x.txt").exists());
        Ok(())
    }
}
