//! Durable writes for the local-directory backend.
//!
//! `object_store` 0.13 (the version DataFusion 55 links) writes a staged file and renames
//! it, but never fsyncs. A PUT here is acknowledged only after: the body is written to a
//! staged file beside the destination, the file is fsynced, renamed over the destination,
//! and the directory (plus any directory this PUT created) is fsynced. Readers therefore
//! see the old object or the whole new one, and an acknowledged object survives a crash.
//!
//! Staged files are named `{dest}#{digits}`, the pattern `object_store`'s own local
//! multipart uploads use and its LIST skips, so they never show as objects. A staged file
//! is removed when its PUT fails or is dropped (client gone); [`remove_leftovers`] clears
//! any that a killed process left behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::error::StoreError;
use crate::store::ByteStream;

static NEXT_STAGED: AtomicU64 = AtomicU64::new(0);
const WRITE_BUFFER: usize = 1 << 20;

/// A staged file that is deleted on drop unless it was renamed into place.
struct Staged {
    path: Option<PathBuf>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // Runs on cancellation too (the client went away mid-body); a sync unlink is
            // brief and keeps the no-leftovers promise without needing a runtime.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A fully written, fsynced staged file, ready to be renamed over `dest`.
pub(crate) struct StagedWrite {
    staged: Staged,
    dest: PathBuf,
    created_dirs: Vec<PathBuf>,
}

/// Streams `body` into a staged file beside `dest` and fsyncs it. Nothing is visible yet.
pub(crate) async fn stage(dest: &Path, mut body: ByteStream) -> Result<StagedWrite, StoreError> {
    let parent = dest
        .parent()
        .ok_or_else(|| StoreError::Internal(format!("{} has no parent", dest.display())))?;
    let created_dirs = create_dirs(parent).await?;
    let suffix = format!(
        "{}{:012}",
        std::process::id(),
        NEXT_STAGED.fetch_add(1, Ordering::Relaxed)
    );
    let mut path = dest.as_os_str().to_owned();
    path.push("#");
    path.push(suffix);
    let path = PathBuf::from(path);
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await
        .map_err(|e| io_error("create", &path, e))?;
    let staged = Staged {
        path: Some(path.clone()),
    };
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    while let Some(chunk) = body.next().await {
        out.write_all(&chunk?)
            .await
            .map_err(|e| io_error("write", &path, e))?;
    }
    out.flush().await.map_err(|e| io_error("write", &path, e))?;
    out.into_inner()
        .sync_all()
        .await
        .map_err(|e| io_error("fsync", &path, e))?;
    Ok(StagedWrite {
        staged,
        dest: dest.to_path_buf(),
        created_dirs,
    })
}

impl StagedWrite {
    /// Renames the staged file over the destination and makes the rename durable.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let Some(path) = self.staged.path.take() else {
            return Err(StoreError::Internal("staged file already committed".into()));
        };
        if let Err(e) = tokio::fs::rename(&path, &self.dest).await {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(io_error("rename", &self.dest, e));
        }
        let mut dirs: Vec<PathBuf> = self
            .dest
            .parent()
            .map(Path::to_path_buf)
            .into_iter()
            .collect();
        dirs.extend(
            self.created_dirs
                .iter()
                .filter_map(|d| d.parent().map(Path::to_path_buf)),
        );
        tokio::task::spawn_blocking(move || {
            for dir in dirs {
                std::fs::File::open(&dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| io_error("fsync", &dir, e))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Internal(format!("fsync task: {e}")))?
    }
}

/// Creates `dir` and its missing ancestors; returns the ones created, outermost first.
async fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(d) = cursor {
        if tokio::fs::try_exists(d).await.unwrap_or(false) {
            break;
        }
        missing.push(d.to_path_buf());
        cursor = d.parent();
    }
    missing.reverse();
    if !missing.is_empty() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io_error("mkdir", dir, e))?;
    }
    Ok(missing)
}

/// Removes staged files (`name#digits`) left by a process that died mid-PUT.
/// Returns how many were removed.
pub(crate) fn remove_leftovers(root: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() && is_staged_name(&entry.file_name().to_string_lossy()) {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

fn is_staged_name(name: &str) -> bool {
    match name.rsplit_once('#') {
        Some((_, digits)) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

fn io_error(op: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Internal(format!("{op} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::stream;

    fn body(parts: Vec<Result<Bytes, StoreError>>) -> ByteStream {
        stream::iter(parts).boxed()
    }

    #[tokio::test]
    async fn commit_publishes_and_failure_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a/b/obj");
        let staged = stage(&dest, body(vec![Ok(Bytes::from_static(b"hello"))]))
            .await
            .unwrap();
        assert!(!dest.exists(), "nothing visible before commit");
        staged.commit().await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");

        let err = stage(
            &dest,
            body(vec![
                Ok(Bytes::from_static(b"xx")),
                Err(StoreError::BadRequest("cut".into())),
            ]),
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(err, StoreError::BadRequest(_)));
        assert_eq!(
            std::fs::read(&dest).unwrap(),
            b"hello",
            "old object untouched"
        );
        let names: Vec<_> = std::fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("obj")],
            "no staged file left"
        );
    }

    #[test]
    fn leftovers_are_removed_and_objects_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("x/y")).unwrap();
        std::fs::write(dir.path().join("x/y/obj#123"), b"partial").unwrap();
        std::fs::write(dir.path().join("x/y/obj"), b"whole").unwrap();
        std::fs::write(dir.path().join("x/tag#v2"), b"an object with # in its name").unwrap();
        assert_eq!(remove_leftovers(dir.path()).unwrap(), 1);
        assert!(dir.path().join("x/y/obj").exists());
        assert!(dir.path().join("x/tag#v2").exists());
        assert!(!dir.path().join("x/y/obj#123").exists());
    }
}
