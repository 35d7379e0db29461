//! Publishing a run: a lock on the output directory, a staging directory, and an atomic switch of
//! `<output>/current` to the finished run.
//!
//! Layout of an output directory:
//!
//! ```text
//! <output>/.lock                      flock(2)-locked while a run works (its pid inside, for people)
//! <output>/.staging-<run id>/         a run being written; removed if it fails or is stopped
//! <output>/runs/<as-of>-<run id>/     published runs, each complete with its _SUCCESS marker
//! <output>/current -> runs/<...>      a symlink, swapped by rename: always a complete run
//! ```
//!
//! The lock is the kernel's: `flock` on `.lock`, released when the process ends however it ends, so
//! a killed run can never block the next one, and two runs can never both hold it. The file itself
//! is removed by its holder on the way out; a run that locked a file which was removed meanwhile
//! (it opened it just before) sees that the path no longer names its file and tries again.
//!
//! SIGINT and SIGTERM stop `churn run` cleanly: the staging directory and the lock are removed and
//! the process exits with 130 or 143. The switch of `current` and a signal exclude each other, so a
//! stopped run has either published (and says so) or left `current` as it was.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};

/// Another run holds the output directory (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LockedError(pub String);

/// The run was published (`current` switched), but a step after the switch failed (exit code 5).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PublishedIncomplete(pub String);

/// Exit code when a step after the switch failed: the run is published.
pub const EXIT_PUBLISHED_INCOMPLETE: u8 = 5;

/// What a stopped run leaves to undo, shared with the signal thread.
struct Undo {
    lock: Option<PathBuf>,
    staging: Option<PathBuf>,
    published: bool,
}

static UNDO: Mutex<Undo> = Mutex::new(Undo {
    lock: None,
    staging: None,
    published: false,
});

fn undo() -> std::sync::MutexGuard<'static, Undo> {
    // A poisoned lock still holds valid paths: a panic elsewhere must not stop the cleanup.
    UNDO.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Stops the process on SIGINT or SIGTERM after removing the staging directory and the lock of
/// the run in progress; exit code 128 + the signal (130, 143), or 5 if the run had just published.
pub fn stop_cleanly_on_signals() -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).context("cannot install the signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // Taking the lock waits for a switch in progress to finish.
                let undo = undo();
                if !undo.published {
                    if let Some(staging) = &undo.staging {
                        let _ = std::fs::remove_dir_all(staging);
                    }
                }
                if let Some(lock) = &undo.lock {
                    let _ = std::fs::remove_file(lock);
                }
                let published = undo.published;
                let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                let message = if published {
                    format!("churn: stopped by {name} after publishing; the summary was not printed\n")
                } else {
                    format!("churn: stopped by {name}; nothing was published, current is unchanged\n")
                };
                let _ = std::io::stderr().write_all(message.as_bytes());
                let code = if published {
                    i32::from(EXIT_PUBLISHED_INCOMPLETE)
                } else {
                    128 + signal
                };
                std::process::exit(code);
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

/// A run's id: its start time in seconds and its process id, unique on one machine.
pub fn new_run_id() -> String {
    let since_epoch = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    format!(
        "{}-{}",
        since_epoch.map(|d| d.as_secs()).unwrap_or(0),
        std::process::id()
    )
}

/// The lock on an output directory; released when dropped (and by the kernel if the process dies).
pub struct RunLock {
    path: PathBuf,
    /// The output directory, when taking the lock created it: removed again if the run leaves it
    /// empty (a run that fails on its input leaves no empty directory behind).
    created: Option<PathBuf>,
    // Holds the flock; closing it releases the lock.
    _file: File,
}

/// A process's start time (clock ticks since boot, field 22 of `/proc/<pid>/stat`), written beside
/// the pid so that a person can tell the holder from a later process with the same pid.
pub fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesized and may contain spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Whether `file` is the file `path` names now.
fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

impl RunLock {
    /// Takes the lock, or fails at once with [`LockedError`] if another live run holds it. A file
    /// left by a run that died (empty, or with its pid) is not a lock: only a live holder is.
    pub fn acquire(output: &Path) -> Result<RunLock> {
        let created = (!output.exists()).then(|| output.to_path_buf());
        std::fs::create_dir_all(output)
            .with_context(|| format!("cannot create the output directory {}", output.display()))?;
        let path = output.join(".lock");
        // Each retry follows a holder that finished between our open and our lock; a few suffice.
        for _ in 0..16 {
            // A signal between taking the lock and registering it would leave the lock file behind:
            // the signal thread waits on this guard until the lock is registered (or not taken).
            let mut undo = undo();
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("cannot open the lock {}", path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder = text
                        .split_whitespace()
                        .next()
                        .map_or("pid not written yet".to_string(), |pid| format!("pid {pid}"));
                    return Err(anyhow::Error::new(LockedError(format!(
                        "another churn run ({holder}) is writing to {}; wait for it to finish (the lock is {})",
                        output.display(),
                        path.display()
                    ))));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("cannot lock {}", path.display()))
                }
            }
            if !same_file(&file, &path) {
                continue;
            }
            // The pid is for people; the lock does not depend on it, so a failed write is no failure.
            let pid = std::process::id();
            let written = file
                .set_len(0)
                .and_then(|()| writeln!(file, "{pid} {}", process_start(pid).unwrap_or_default()))
                .and_then(|()| file.sync_all());
            if let Err(e) = written {
                tracing::debug!("cannot write the pid into {}: {e}", path.display());
            }
            undo.lock = Some(path.clone());
            return Ok(RunLock {
                path,
                created,
                _file: file,
            });
        }
        Err(anyhow::Error::new(LockedError(format!(
            "other churn runs keep taking and releasing the lock {}",
            path.display()
        ))))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked, so that nobody can lock this file after us and believe it
        // holds the directory (see `acquire`).
        let _ = std::fs::remove_file(&self.path);
        undo().lock = None;
        if let Some(dir) = &self.created {
            // Fails, as it should, unless the directory is empty.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A run's staging directory; removed when dropped unless published.
pub struct Staging {
    dir: PathBuf,
    published: bool,
}

/// Removes what killed runs left in `dir`: entries whose names start with one of `prefixes`.
fn remove_leftovers(dir: &Path, prefixes: &[&str]) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if prefixes.iter().any(|p| name.starts_with(p)) {
            let path = entry.path();
            let _ = match entry.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
            tracing::info!("removed {}, left by an earlier run", path.display());
        }
    }
}

/// Removes the temporary model files (`.churn-*.tmp`) a killed run or command left in the models
/// directory, once they are an hour old: younger ones may belong to a `churn train` at work, which
/// does not take the run lock.
pub fn remove_stale_model_temps(models_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(models_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if name.starts_with(".churn-") && name.ends_with(".tmp") && old {
            let _ = std::fs::remove_file(entry.path());
            tracing::info!("removed {}, left by an earlier run", entry.path().display());
        }
    }
}

impl Staging {
    /// Creates `<output>/.staging-<run id>/`, removing what earlier runs that were killed left: their
    /// staging directories and half-made `current` links. The caller holds the lock.
    pub fn create(output: &Path, run_id: &str) -> Result<Staging> {
        remove_leftovers(output, &[".staging-", ".current-"]);
        let dir = output.join(format!(".staging-{run_id}"));
        // Registered before it exists, under the guard the signal thread takes: a signal right after
        // the directory appears removes it (one between the two steps left it behind).
        let mut undo = undo();
        undo.staging = Some(dir.clone());
        if let Err(e) = std::fs::create_dir_all(&dir) {
            undo.staging = None;
            return Err(e).with_context(|| format!("cannot create {}", dir.display()));
        }
        Ok(Staging { dir, published: false })
    }

    /// A path inside the staging directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a file into the staging directory and syncs it.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(name);
        churn_pipeline::durable::write_synced(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Syncs the directory, renames it to `<output>/runs/<name>` and points `<output>/current` at
    /// it with an atomic rename of a fresh symlink: the last act of a run. Returns the published
    /// directory. The output directory itself is synced afterwards by [`sync_published`]: that
    /// step can fail only after the run is live.
    pub fn publish(mut self, output: &Path, name: &str) -> Result<PathBuf> {
        sync_dir(&self.dir)?;
        let runs = output.join("runs");
        std::fs::create_dir_all(&runs).with_context(|| format!("cannot create {}", runs.display()))?;
        let target = runs.join(name);
        let link_tmp = output.join(format!(".current-{name}"));
        let _ = std::fs::remove_file(&link_tmp);
        symlink(Path::new("runs").join(name), &link_tmp)?;
        // A signal waits until the switch is made (or not), so it never stops a run half-published.
        let mut undo = undo();
        std::fs::rename(&self.dir, &target)
            .with_context(|| format!("cannot move the finished run to {}", target.display()))?;
        self.published = true;
        undo.staging = None;
        let switched = sync_dir(&runs).and_then(|()| {
            std::fs::rename(&link_tmp, output.join("current"))
                .with_context(|| format!("cannot point {}/current at the new run", output.display()))
        });
        if let Err(e) = switched {
            // Not published: the finished run is not left behind as if it were.
            let _ = std::fs::remove_dir_all(&target);
            let _ = std::fs::remove_file(&link_tmp);
            return Err(e);
        }
        undo.published = true;
        Ok(target)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.dir);
            undo().staging = None;
        }
    }
}

/// Makes the switch of `current` durable; a failure here is after the run was published.
pub fn sync_published(output: &Path) -> Result<()> {
    sync_dir(output).map_err(|e| {
        anyhow::Error::new(PublishedIncomplete(format!(
            "published {}/current, but {e:#}: after a power loss the previous run may be current again",
            output.display()
        )))
    })
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
pub fn sync_dir(dir: &Path) -> Result<()> {
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
/// disagree; a run whose input changed publishes nothing. The metadata catches an appended or
/// replaced file at once; a same-size rewrite with its modification time put back is caught by the
/// content check ([`check_content`]).
#[derive(Debug, PartialEq)]
pub struct InputStamp(Vec<FileStamp>);

impl InputStamp {
    pub fn take(pattern: &str) -> Result<InputStamp> {
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

/// Fails when the input's content at the end of the run (`fingerprint_now`, the same hash as the
/// features' input fingerprint) is not what the features at `S` were computed from.
pub fn check_content(pattern: &str, fingerprint_then: &str, fingerprint_now: &str) -> Result<()> {
    if fingerprint_then == fingerprint_now {
        return Ok(());
    }
    bail!(
        "the input changed during the run ({pattern}: its content is no longer what the features were computed \
         from, {fingerprint_then} then, {fingerprint_now} now); nothing was published: run again once the export \
         is complete"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_refuses_and_a_left_file_is_no_lock() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let lock_file = dir.path().join(".lock");
        // A file left by a run that died (empty, or with a pid) does not block.
        std::fs::write(&lock_file, "")?;
        let lock = RunLock::acquire(dir.path())?;
        let me = std::process::id();
        assert_eq!(
            std::fs::read_to_string(&lock_file)?.trim(),
            format!("{me} {}", process_start(me).expect("own stat"))
        );
        // While it is held, another open file description cannot take it (flock is per open file,
        // so this holds within one process too).
        let err = RunLock::acquire(dir.path()).err().expect("locked");
        assert!(err.downcast_ref::<LockedError>().is_some(), "{err}");
        assert!(err.to_string().contains(&format!("pid {me}")), "{err}");
        drop(lock);
        assert!(!lock_file.exists());
        std::fs::write(&lock_file, "1 12345\n")?;
        drop(RunLock::acquire(dir.path())?);
        Ok(())
    }

    #[test]
    fn a_lock_taken_on_a_removed_file_is_not_kept() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let lock_file = dir.path().join(".lock");
        // An open file description on a file that is then replaced: locking it proves nothing.
        let orphan = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_file)?;
        std::fs::remove_file(&lock_file)?;
        std::fs::write(&lock_file, "")?;
        assert!(!same_file(&orphan, &lock_file));
        let lock = RunLock::acquire(dir.path())?;
        assert!(same_file(&lock._file, &lock_file));
        Ok(())
    }

    #[test]
    fn publishing_switches_current_and_a_dropped_staging_leaves_nothing() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let first = Staging::create(dir.path(), "a")?;
        first.write("x.txt", b"one")?;
        first.publish(dir.path(), "2024-01-01-a")?;
        sync_published(dir.path())?;
        assert_eq!(std::fs::read_to_string(dir.path().join("current/x.txt"))?, "one");
        let failed = Staging::create(dir.path(), "b")?;
        failed.write("x.txt", b"half")?;
        drop(failed);
        assert!(!dir.path().join(".staging-b").exists());
        assert_eq!(std::fs::read_to_string(dir.path().join("current/x.txt"))?, "one");
        // Leftovers of a killed run are removed by the next one.
        std::fs::create_dir(dir.path().join(".staging-killed"))?;
        std::os::unix::fs::symlink("runs/x", dir.path().join(".current-killed"))?;
        let second = Staging::create(dir.path(), "c")?;
        assert!(!dir.path().join(".staging-killed").exists());
        assert!(std::fs::symlink_metadata(dir.path().join(".current-killed")).is_err());
        second.write("x.txt", b"two")?;
        second.publish(dir.path(), "2024-01-02-c")?;
        assert_eq!(std::fs::read_to_string(dir.path().join("current/x.txt"))?, "two");
        assert!(dir.path().join("runs/2024-01-01-a/x.txt").exists());
        Ok(())
    }

    #[test]
    fn a_changed_content_is_refused() {
        assert!(check_content("tx.csv", "blake3:a", "blake3:a").is_ok());
        let err = check_content("tx.csv", "blake3:a", "blake3:b").expect_err("changed");
        assert!(
            err.to_string().contains("the input changed during the run (tx.csv:"),
            "{err}"
        );
    }
}
