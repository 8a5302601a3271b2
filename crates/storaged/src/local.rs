//! Durable writes for the local-directory backend.
//!
//! `object_store` 0.13 (the version DataFusion 55 links) writes a staged file and renames
//! it, but never fsyncs. A PUT here is acknowledged only after: the body is written to a
//! staged file beside the destination, the file is fsynced, renamed over the destination,
//! and the directory (plus any directory this PUT created) is fsynced. Readers therefore
//! see the old object or the whole new one, and an acknowledged object survives a crash.
//!
//! Staged files are named `#{digits}` in the destination's directory: `object_store`
//! treats a file name whose text after the first `#` is all digits as a write in progress
//! (its LIST skips it, and no valid key can name it), so a staged file is never seen as an
//! object. It is removed when its PUT fails or is dropped (client gone);
//! [`remove_leftovers`] clears any that a killed process left behind.
//!
//! Every directory from the destination's up to the data root is fsynced at commit, so the
//! new entry is reachable after a power loss even when another, unfinished PUT created one
//! of those directories.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use std::io::Write;

use bytes::Bytes;
use futures::StreamExt;

use crate::error::StoreError;
use crate::store::ByteStream;

static NEXT_STAGED: AtomicU64 = AtomicU64::new(0);
/// Bytes gathered before a batch goes to the writer thread.
const WRITE_BATCH: usize = 1 << 20;
/// Batches queued for the writer thread (bounds a PUT's memory).
const WRITE_QUEUE: usize = 4;

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
    key: String,
    /// The destination's directory and its ancestors up to the data root.
    dirs: Vec<PathBuf>,
}

/// Streams `body` into a staged file beside `dest` (under `root`) and fsyncs it. Nothing
/// is visible yet.
///
/// The body is gathered into ~1 MiB batches and handed to one blocking writer thread
/// through a short queue, so the reactor never waits on the disk and a PUT holds at most
/// a few MiB whatever the object's size.
pub(crate) async fn stage(
    root: &Path,
    dest: &Path,
    key: &str,
    mut body: ByteStream,
) -> Result<StagedWrite, StoreError> {
    let parent = dest
        .parent()
        .ok_or_else(|| StoreError::Internal(format!("{} has no parent", dest.display())))?;
    create_dirs(parent, key).await?;
    let path = parent.join(format!(
        "#{}{:012}",
        std::process::id(),
        NEXT_STAGED.fetch_add(1, Ordering::Relaxed)
    ));
    let staged = Staged {
        path: Some(path.clone()),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(WRITE_QUEUE);
    let writer = tokio::task::spawn_blocking({
        let path = path.clone();
        move || -> std::io::Result<std::fs::File> {
            let open = || {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
            };
            // A DELETE of the directory's last object may remove the directory between
            // create_dirs and this open; make it again.
            let mut file = match open() {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    open()?
                }
                other => other?,
            };
            while let Some(batch) = rx.blocking_recv() {
                for chunk in batch {
                    file.write_all(&chunk)?;
                }
            }
            Ok(file)
        }
    });
    let fed = feed(&mut body, &tx).await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| StoreError::Internal(format!("write task: {e}")))?;
    fed?;
    let file = written.map_err(|e| io_error("write", &path, e))?;
    tokio::task::spawn_blocking(move || file.sync_all())
        .await
        .map_err(|e| StoreError::Internal(format!("fsync task: {e}")))?
        .map_err(|e| io_error("fsync", &path, e))?;
    let dirs = dest
        .ancestors()
        .skip(1)
        .take_while(|d| d.starts_with(root))
        .map(Path::to_path_buf)
        .collect();
    Ok(StagedWrite {
        staged,
        dest: dest.to_path_buf(),
        key: key.to_string(),
        dirs,
    })
}

/// Moves the body into the writer's queue in batches of about [`WRITE_BATCH`] bytes.
/// Stops early (without error) if the writer is gone: its own error is the one to report.
async fn feed(
    body: &mut ByteStream,
    tx: &tokio::sync::mpsc::Sender<Vec<Bytes>>,
) -> Result<(), StoreError> {
    let mut batch = Vec::new();
    let mut size = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        size += chunk.len();
        batch.push(chunk);
        if size >= WRITE_BATCH {
            size = 0;
            if tx.send(std::mem::take(&mut batch)).await.is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch).await;
    }
    Ok(())
}

impl StagedWrite {
    /// Renames the staged file over the destination and makes the rename durable.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let Some(path) = self.staged.path.take() else {
            return Err(StoreError::Internal("staged file already committed".into()));
        };
        if let Err(e) = tokio::fs::rename(&path, &self.dest).await {
            let _ = tokio::fs::remove_file(&path).await;
            if e.kind() == std::io::ErrorKind::IsADirectory {
                return Err(StoreError::Conflict(format!(
                    "key {} names a directory of other objects on the local backend",
                    self.key
                )));
            }
            return Err(io_error("rename", &self.dest, e));
        }
        let dirs = std::mem::take(&mut self.dirs);
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

/// Removes the object file `dest` (under `root`) durably: unlink, fsync its directory, then
/// remove the directories the unlink left empty (each removal fsynced in its parent), so a
/// key that was a directory of objects can become an object again. A missing file is not an
/// error. A concurrent PUT into a directory being removed re-creates it (see [`stage`]).
pub(crate) async fn remove(root: &Path, dest: &Path, key: &str) -> Result<(), StoreError> {
    let (root, dest, key) = (root.to_path_buf(), dest.to_path_buf(), key.to_string());
    tokio::task::spawn_blocking(move || {
        match std::fs::remove_file(&dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            // A directory (of other objects) or a path through a file: no such object.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::IsADirectory | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(io_error("unlink", &dest, e)),
        }
        let mut dir = dest.parent();
        while let Some(d) = dir.filter(|d| d.starts_with(&root) && *d != root) {
            if std::fs::remove_dir(d).is_err() {
                break; // not empty (or already gone): it and its ancestors stay
            }
            dir = d.parent();
        }
        let synced = dir.unwrap_or(&root);
        match std::fs::File::open(synced).and_then(|d| d.sync_all()) {
            Ok(()) => {}
            // A concurrent delete removed this directory once it was empty; that delete
            // fsynced the directory holding it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("fsync", synced, e)),
        }
        tracing::trace!(%key, "removed");
        Ok(())
    })
    .await
    .map_err(|e| StoreError::Internal(format!("unlink task: {e}")))?
}

/// Creates `dir` and its missing ancestors. An ancestor that is a file is an object whose
/// key is a prefix of this one: a conflict on the local backend.
async fn create_dirs(dir: &Path, key: &str) -> Result<(), StoreError> {
    match tokio::fs::create_dir_all(dir).await {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotADirectory | std::io::ErrorKind::AlreadyExists
            ) =>
        {
            Err(StoreError::Conflict(format!(
                "key {key}: a shorter key that is a prefix of it is an object, so it cannot \
                 also be a directory on the local backend"
            )))
        }
        Err(e) => Err(io_error("mkdir", dir, e)),
    }
}

/// An object opened for reading: small ones already read, larger ones as an open file.
pub(crate) enum Opened {
    Whole(Bytes),
    File(std::fs::File),
}

/// What a local read learned about the object, in `object_store`'s terms.
pub(crate) struct FileMeta {
    pub size: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
    pub etag: String,
}

/// Opens `path`, stats it and, when it is at most `small` bytes, reads it — all in one
/// call. `Ok(None)` when there is no object (missing, a directory, or a path through a
/// file). Blocking.
pub(crate) fn open_for_read(
    path: &Path,
    small: u64,
) -> std::io::Result<Option<(FileMeta, Opened)>> {
    use std::io::{ErrorKind, Read};
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let metadata = file.metadata()?;
    if metadata.is_dir() {
        return Ok(None);
    }
    let meta = file_meta(&metadata);
    if meta.size <= small {
        let mut buf = Vec::with_capacity(meta.size as usize);
        file.read_to_end(&mut buf)?;
        return Ok(Some((meta, Opened::Whole(Bytes::from(buf)))));
    }
    Ok(Some((meta, Opened::File(file))))
}

/// The etag scheme of `object_store`'s `LocalFileSystem` (inode, mtime in µs, size, in hex,
/// Apache-style), so a GET's etag equals the one HEAD, LIST and conditional PUTs see. A
/// test pins the two together.
fn file_meta(metadata: &std::fs::Metadata) -> FileMeta {
    use std::os::unix::fs::MetadataExt;
    let modified = metadata
        .modified()
        .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    let micros = modified
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    FileMeta {
        size: metadata.len(),
        last_modified: modified.into(),
        etag: format!("{:x}-{micros:x}-{:x}", metadata.ino(), metadata.len()),
    }
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

/// `object_store`'s rule for a write in progress: the text after the first `#` is digits.
pub(crate) fn is_staged_name(name: &str) -> bool {
    match name.split_once('#') {
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
    use futures::stream;

    fn body(parts: Vec<Result<Bytes, StoreError>>) -> ByteStream {
        stream::iter(parts).boxed()
    }

    #[tokio::test]
    async fn commit_publishes_and_failure_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a/b/obj");
        let staged = stage(
            dir.path(),
            &dest,
            "a/b/obj",
            body(vec![Ok(Bytes::from_static(b"hello"))]),
        )
        .await
        .unwrap();
        assert!(!dest.exists(), "nothing visible before commit");
        staged.commit().await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");

        let err = stage(
            dir.path(),
            &dest,
            "a/b/obj",
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

    #[tokio::test]
    async fn our_etag_is_object_stores_etag() {
        use object_store::ObjectStoreExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"some bytes").unwrap();
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let theirs = fs.head(&object_store::path::Path::from("f")).await.unwrap();
        let (ours, opened) = open_for_read(&dir.path().join("f"), 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(Some(ours.etag), theirs.e_tag);
        assert_eq!(ours.last_modified, theirs.last_modified);
        assert!(matches!(opened, Opened::Whole(b) if b.as_ref() == b"some bytes"));
        assert!(
            open_for_read(&dir.path().join("f/below"), 10)
                .unwrap()
                .is_none()
        );
        assert!(open_for_read(dir.path(), 10).unwrap().is_none());
        assert!(matches!(
            open_for_read(&dir.path().join("f"), 3).unwrap().unwrap().1,
            Opened::File(_)
        ));
    }

    #[tokio::test]
    async fn prefix_clashes_are_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        stage(
            dir.path(),
            &a,
            "a",
            body(vec![Ok(Bytes::from_static(b"x"))]),
        )
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
        let deeper = dir.path().join("a/b");
        let err = stage(dir.path(), &deeper, "a/b", body(vec![]))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        std::fs::create_dir_all(dir.path().join("d/e")).unwrap();
        let staged = stage(dir.path(), &dir.path().join("d"), "d", body(vec![]))
            .await
            .unwrap();
        assert!(matches!(
            staged.commit().await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no staged file left"
        );
    }

    #[test]
    fn staged_names_follow_object_stores_rule() {
        assert!(is_staged_name("#123"));
        assert!(is_staged_name("obj#123"));
        assert!(
            !is_staged_name("notes#draft#123"),
            "first '#' decides, as in object_store"
        );
        assert!(!is_staged_name("obj#"));
        assert!(!is_staged_name("obj"));
    }

    #[test]
    fn leftovers_are_removed_and_objects_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("x/y")).unwrap();
        std::fs::write(dir.path().join("x/y/#123"), b"partial").unwrap();
        std::fs::write(dir.path().join("x/y/obj"), b"whole").unwrap();
        std::fs::write(
            dir.path().join("x/tag#v2#1"),
            b"an object with # in its name",
        )
        .unwrap();
        assert_eq!(remove_leftovers(dir.path()).unwrap(), 1);
        assert!(dir.path().join("x/y/obj").exists());
        assert!(dir.path().join("x/tag#v2#1").exists());
        assert!(!dir.path().join("x/y/#123").exists());
    }
}
