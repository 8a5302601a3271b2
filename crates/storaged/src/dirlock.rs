//! [`DataDirLock`]: one writing process per local data directory.
//!
//! Two servers committing into one directory would each believe it is alone (per-process
//! key locks, a start-up sweep that deletes what its own catalog does not reference). The
//! directory itself is locked (`flock`, exclusive, non-blocking) for as long as the lock is
//! held — the process's life in `lakehouse serve`. The kernel releases it when the process
//! dies, however it dies, so a `kill -9` never leaves a stale lock behind, and no file is
//! added to the directory.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// Held while a process writes a data directory.
#[derive(Debug)]
pub struct DataDirLock {
    _dir: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Locks `root` (which must exist) for this process; an error naming the holder when
    /// another process has it.
    pub fn acquire(root: &Path) -> Result<DataDirLock, StoreError> {
        let dir = File::open(root).map_err(|e| {
            StoreError::Internal(format!(
                "cannot open data directory {}: {e}",
                root.display()
            ))
        })?;
        match dir.try_lock() {
            Ok(()) => Ok(DataDirLock {
                _dir: dir,
                path: root.to_path_buf(),
            }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = holder(&dir).unwrap_or_else(|| "another process".into());
                Err(StoreError::Conflict(format!(
                    "data directory {} is in use by {holder}: one lakehouse server writes a \
                     directory at a time; stop that one, or give this one another --data-dir",
                    root.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Internal(format!(
                "cannot lock data directory {}: {e}",
                root.display()
            ))),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// "process 123 (lakehouse serve …)": the holder of an flock on `dir`, read from
/// `/proc/locks` (Linux); `None` elsewhere or when it cannot be told.
fn holder(dir: &File) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let inode = dir.metadata().ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF"
    let pid = locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (kind, pid, file) = (fields.get(1)?, fields.get(4)?, fields.get(5)?);
        let ino: u64 = file.rsplit(':').next()?.parse().ok()?;
        (*kind == "FLOCK" && ino == inode).then(|| pid.to_string())
    })?;
    let command = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|raw| {
            String::from_utf8_lossy(&raw)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty());
    Some(match command {
        Some(command) => format!("process {pid} ({command})"),
        None => format!("process {pid}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is in use by process"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
