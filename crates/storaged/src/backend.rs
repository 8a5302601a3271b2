//! [`ObjectStoreBackend`]: the in-process [`Store`], over `object_store`.
//!
//! Two flavours behind one type:
//! - **local**: `LocalFileSystem` for reads and LIST; writes and deletes go through
//!   [`crate::local`] (staged file, fsync, rename, directory fsync; unlink, directory fsync)
//!   because `object_store` 0.13 does not fsync. Conditional PUTs are checked under a per-key
//!   lock, since the local backend has no native compare-and-swap.
//! - **S3**: `AmazonS3`, every call bounded in time ([`crate::s3`]). Bodies up to one part
//!   go up in a single PUT (native conditional headers); larger ones as a multipart upload
//!   with at most two parts in flight, so a PUT holds at most ~3 parts of memory whatever
//!   the object's size. A create-only PUT larger than one part is staged under a unique key
//!   and copied into place with `If-None-Match: *` on the copy's completion, so its
//!   condition is as atomic as a single PUT's.
//!
//! Both expose [`ObjectStoreBackend::object_store`], the same `Arc<dyn ObjectStore>` that
//! the query engine registers, so every reader sees the same bytes.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, S3CopyIfNotExists};
use object_store::local::LocalFileSystem;
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetResultPayload, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload, RetryConfig, UpdateVersion,
};
use tokio_util::io::ReaderStream;

use crate::config::S3Config;

use crate::error::StoreError;
use crate::key::{KeyPrefix, ObjectKey};
use crate::local;
use crate::s3::{self, Bounds, PART_SIZE, Upload};
use crate::store::{
    self, ByteStream, GetObject, ObjectMeta, ObjectRange, PutMode, Store, StoreExt,
};

/// Read size when streaming a local file: large enough that a 1 GiB GET is a few thousand
/// reads, small enough to keep a GET's memory flat.
const READ_CHUNK: usize = 256 << 10;
/// Objects up to this size are read whole when opened (see `get_local`).
const INLINE_READ: u64 = 64 << 10;

#[derive(Debug)]
enum Flavour {
    Local {
        fs: Arc<LocalFileSystem>,
        root: PathBuf,
    },
    S3 {
        endpoint: String,
        bucket: String,
        bounds: Bounds,
    },
}

/// The in-process [`Store`].
#[derive(Debug)]
pub struct ObjectStoreBackend {
    inner: Arc<dyn ObjectStore>,
    flavour: Flavour,
    key_locks: KeyLocks,
}

impl ObjectStoreBackend {
    /// A local directory, created if missing. Staged files left by a killed process are
    /// removed before the store is handed out.
    pub fn local(root: &FsPath) -> Result<ObjectStoreBackend, StoreError> {
        std::fs::create_dir_all(root).map_err(|e| {
            StoreError::Internal(format!(
                "cannot create data directory {}: {e}",
                root.display()
            ))
        })?;
        let root = root
            .canonicalize()
            .map_err(|e| StoreError::Internal(format!("data directory {}: {e}", root.display())))?;
        let removed = local::remove_leftovers(&root)
            .map_err(|e| StoreError::Internal(format!("cleaning {}: {e}", root.display())))?;
        if removed > 0 {
            tracing::info!(removed, root = %root.display(), "removed staged files of interrupted writes");
        }
        let fs = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| StoreError::Internal(format!("data directory {}: {e}", root.display())))?
            .with_automatic_cleanup(true);
        let fs = Arc::new(fs);
        Ok(ObjectStoreBackend {
            inner: fs.clone(),
            flavour: Flavour::Local { fs, root },
            key_locks: KeyLocks::default(),
        })
    }

    /// An S3 bucket. Credentials must be configured (config, secrets file or `AWS_*`): the
    /// instance-metadata fallback is deliberately not used.
    pub fn s3(config: &S3Config) -> Result<ObjectStoreBackend, StoreError> {
        let endpoint = config
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", config.region));
        let (Some(key_id), Some(secret)) = (&config.access_key_id, &config.secret_access_key)
        else {
            return Err(StoreError::Unavailable(format!(
                "S3 bucket {:?} at {endpoint}: no credentials; set [s3] access_key_id and \
                 secret_access_key, the [queryd] secrets_path file, or AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY",
                config.bucket
            )));
        };
        let timeouts = config.timeouts;
        let retry = RetryConfig {
            max_retries: timeouts.max_retries as usize,
            retry_timeout: timeouts.retry_timeout,
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(key_id)
            .with_secret_access_key(secret)
            .with_virtual_hosted_style_request(!config.use_path_style)
            .with_http_connector(s3::Connector(timeouts))
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart)
            .with_retry(retry);
        if let Some(e) = &config.endpoint {
            builder = builder.with_endpoint(e);
        }
        let s3 = builder.build().map_err(|e| {
            StoreError::Unavailable(format!("S3 bucket {:?} at {endpoint}: {e}", config.bucket))
        })?;
        Ok(ObjectStoreBackend {
            inner: Arc::new(s3),
            flavour: Flavour::S3 {
                bounds: Bounds {
                    timeouts,
                    store: format!("S3 bucket {:?} at {endpoint}", config.bucket),
                },
                endpoint,
                bucket: config.bucket.clone(),
            },
            key_locks: KeyLocks::default(),
        })
    }

    /// Start-up check: a missing bucket is an error naming bucket and endpoint. An
    /// unreachable endpoint is only logged: requests answer 503 until it comes back (and
    /// [`ObjectStoreBackend::verify_conditional_writes`] should be retried until it answers).
    pub async fn check(&self) -> Result<(), StoreError> {
        let Flavour::S3 {
            endpoint,
            bucket,
            bounds,
        } = &self.flavour
        else {
            return Ok(());
        };
        let probe = object_store::path::Path::from("_catalog");
        let first = bounds
            .call("a LIST", async {
                self.inner.list(Some(&probe)).next().await.transpose()
            })
            .await;
        match first {
            Ok(Ok(_)) => Ok(()),
            // A LIST on an existing bucket never answers 404. object_store 0.13 keeps the
            // HTTP status of a failed LIST private, so the S3 error code is the only sign;
            // this is a start-up diagnostic, never a data-path decision (cf. seed O-B1).
            Ok(Err(e))
                if matches!(e, object_store::Error::NotFound { .. })
                    || e.to_string().contains("NoSuchBucket") =>
            {
                Err(StoreError::Unavailable(format!(
                    "S3 bucket {bucket:?} does not exist at {endpoint}"
                )))
            }
            Ok(Err(e)) => {
                tracing::warn!(%endpoint, %bucket, error = %e, "S3 is not reachable yet; serving 503 until it is");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(%endpoint, %bucket, error = %e, "S3 is not reachable yet; serving 503 until it is");
                Ok(())
            }
        }
    }

    /// Asks the store whether it honours `If-None-Match: *` and `If-Match` — a store that
    /// ignores them would turn every catalog commit into a blind overwrite. Writes, then
    /// removes, one small object under `_lakehouse/probe/`. `Err` when the store could not
    /// be asked (unreachable: try again later); `Ok(Err(why))` when it answered and broke a
    /// promise. Always `Ok(Ok(()))` on a local directory (conditions are checked here).
    pub async fn verify_conditional_writes(&self) -> Result<Result<(), String>, StoreError> {
        let Flavour::S3 { endpoint, .. } = &self.flavour else {
            return Ok(Ok(()));
        };
        let key = ObjectKey::parse(&format!(
            "_lakehouse/probe/{}",
            s3::staging_key().rsplit('/').next().unwrap_or("probe")
        ))
        .map_err(|e| StoreError::Internal(format!("probe key: {e}")))?;
        let verdict = self.probe_conditions(&key).await;
        if let Err(e) = self.delete(&key).await {
            tracing::warn!(%key, error = %e, "could not remove the conditional-write probe");
        }
        Ok(verdict?.map_err(|broken| {
            format!(
                "the S3 endpoint {endpoint} does not honour conditional writes: {broken}. \
                 Every catalog commit and vector log record relies on them; use a store that \
                 supports If-None-Match: * and If-Match on PUT (AWS S3, MinIO, Ceph RGW ≥ 18)"
            )
        }))
    }

    async fn probe_conditions(&self, key: &ObjectKey) -> Result<Result<(), String>, StoreError> {
        let put = |body: &'static str, mode: PutMode| self.put_bytes(key, Bytes::from(body), mode);
        let first = match put("1", PutMode::Create).await {
            Ok(meta) => meta,
            // A probe left by a run that died between its two steps: start over.
            Err(StoreError::PreconditionFailed(_)) => {
                self.delete(key).await?;
                put("1", PutMode::Create).await?
            }
            Err(e) => return Err(e),
        };
        match put("2", PutMode::Create).await {
            Err(StoreError::PreconditionFailed(_)) => {}
            Ok(_) => {
                return Ok(Err(
                    "a PUT with If-None-Match: * replaced an existing object".into(),
                ));
            }
            Err(e) => return Err(e),
        }
        match put("3", PutMode::IfMatch("\"0123456789abcdef\"".into())).await {
            Err(StoreError::PreconditionFailed(_)) => {}
            Ok(_) => {
                return Ok(Err(
                    "a PUT with If-Match: <another etag> replaced the object".into(),
                ));
            }
            Err(e) => return Err(e),
        }
        let Some(etag) = first.etag else {
            return Ok(Err("a PUT answered no ETag".into()));
        };
        match put("4", PutMode::IfMatch(etag)).await {
            Ok(_) => {}
            Err(StoreError::PreconditionFailed(_)) => {
                return Ok(Err(
                    "a PUT with If-Match: <the current etag> was refused".into()
                ));
            }
            Err(e) => return Err(e),
        }
        let now = self.get_bytes(key).await?;
        if now.as_ref() != b"4" {
            return Ok(Err(format!(
                "after the probe's writes the object holds {:?}, not \"4\"",
                String::from_utf8_lossy(&now)
            )));
        }
        Ok(Ok(()))
    }

    /// A cheap reachability check for `/health`: a HEAD on S3 (a missing object is an
    /// answer), bounded by `[s3] read_timeout` and never retried; a stat of the directory on
    /// a local one.
    async fn probe_backend(&self) -> Result<(), StoreError> {
        match &self.flavour {
            Flavour::Local { root, .. } => match std::fs::metadata(root) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => Err(StoreError::Unavailable(format!(
                    "{} is not a directory",
                    root.display()
                ))),
                Err(e) => Err(StoreError::Unavailable(format!("{}: {e}", root.display()))),
            },
            Flavour::S3 { bounds, .. } => {
                let path = object_store::path::Path::from("_lakehouse/health");
                let limit = bounds.timeouts.read_timeout.min(Duration::from_secs(5));
                match bounds
                    .call_within(limit, "a HEAD", self.inner.head(&path))
                    .await?
                {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(self.map_err("_lakehouse/health", e)),
                }
            }
        }
    }

    /// The underlying `object_store`, for readers that speak it (the query engine).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
    }

    fn map_err(&self, key: &str, e: object_store::Error) -> StoreError {
        // On the local backend, a key that runs through an object (`a/b` when `a` is a file)
        // or names a directory holds no object: not found, as on S3.
        if matches!(self.flavour, Flavour::Local { .. })
            && matches!(
                io_kind(&e),
                Some(std::io::ErrorKind::NotADirectory | std::io::ErrorKind::IsADirectory)
            )
        {
            return StoreError::NotFound {
                key: key.to_string(),
            };
        }
        match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                key: key.to_string(),
            },
            object_store::Error::AlreadyExists { .. } => StoreError::PreconditionFailed(format!(
                "object {key:?} already exists (If-None-Match: *)"
            )),
            object_store::Error::Precondition { .. } => StoreError::PreconditionFailed(format!(
                "object {key:?} does not have the given etag (If-Match)"
            )),
            object_store::Error::InvalidPath { source } => StoreError::InvalidKey {
                key: key.to_string(),
                reason: source.to_string(),
            },
            other => match &self.flavour {
                Flavour::S3 { bounds, .. } => StoreError::Unavailable(format!(
                    "{} is unavailable: {}",
                    bounds.store,
                    common::error::chain(&other)
                )),
                Flavour::Local { .. } => StoreError::Internal(other.to_string()),
            },
        }
    }

    fn meta(&self, m: object_store::ObjectMeta) -> Result<ObjectMeta, StoreError> {
        let key = ObjectKey::from_path(&m.location).map_err(|e| {
            StoreError::Internal(format!("store holds an invalid key {}: {e}", m.location))
        })?;
        Ok(ObjectMeta {
            key: key.as_str().to_string(),
            size: m.size,
            last_modified: m.last_modified,
            etag: m.e_tag,
        })
    }

    async fn put_local(
        &self,
        fs: &LocalFileSystem,
        root: &FsPath,
        key: &ObjectKey,
        body: ByteStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, StoreError> {
        let path = key.to_path();
        let dest = fs
            .path_to_filesystem(&path)
            .map_err(|e| self.map_err(key.as_str(), e))?;
        // Fail a create-only PUT before spending a whole body's I/O on it; the check is
        // repeated under the lock below, which is the one that decides.
        if mode == PutMode::Create {
            self.check_condition(key, &mode).await?;
        }
        let staged = local::stage(root, &dest, key.as_str(), body).await?;
        // The body is on disk; only the check-and-rename runs under the key's lock.
        let lock = self.key_locks.get(key);
        let _held = lock.lock().await;
        self.check_condition(key, &mode).await?;
        staged.commit().await?;
        let meta = self
            .inner
            .head(&path)
            .await
            .map_err(|e| self.map_err(key.as_str(), e))?;
        self.meta(meta)
    }

    /// Local GET: open, stat and (for objects up to [`INLINE_READ`]) read, on the calling
    /// thread, as nginx does without `aio threads`: for page-cached files these are a few
    /// microseconds of syscalls, cheaper than a round trip through the blocking pool (4 KiB
    /// GETs: 40.8k/s inline vs 27.0k/s via `spawn_blocking`, decision 002). Larger objects
    /// stream through the blocking pool.
    async fn get_local(
        &self,
        fs: &LocalFileSystem,
        key: &ObjectKey,
    ) -> Result<GetObject, StoreError> {
        let (meta, opened) = self.open_local(fs, key)?;
        let body = match opened {
            local::Opened::Whole(bytes) => futures::stream::once(async move { Ok(bytes) }).boxed(),
            local::Opened::File(file) => file_stream(file),
        };
        Ok(GetObject { meta, body })
    }

    /// Local [`Store::get_bytes`]: as [`ObjectStoreBackend::get_local`], but a larger file
    /// is read straight into its buffer by one blocking read rather than streamed in chunks
    /// and copied again (a 576 MiB snapshot: 0.24–0.30 s → 0.13–0.15 s, huge pages
    /// permitting).
    async fn get_bytes_local(
        &self,
        fs: &LocalFileSystem,
        key: &ObjectKey,
    ) -> Result<Bytes, StoreError> {
        let (meta, opened) = self.open_local(fs, key)?;
        let mut file = match opened {
            local::Opened::Whole(bytes) => return Ok(bytes),
            local::Opened::File(file) => file,
        };
        let mut buf = store::whole_buffer(meta.size, key.as_str())?;
        let read = tokio::task::spawn_blocking(move || {
            std::io::Read::read_to_end(&mut file, &mut buf).map(|_| buf)
        });
        let failed =
            |e: &dyn std::fmt::Display| StoreError::Internal(format!("reading {key}: {e}"));
        let buf = read
            .await
            .map_err(|e| failed(&e))?
            .map_err(|e| failed(&e))?;
        Ok(buf.into())
    }

    /// Opens a local object (reading it whole when it is at most [`INLINE_READ`] bytes).
    fn open_local(
        &self,
        fs: &LocalFileSystem,
        key: &ObjectKey,
    ) -> Result<(ObjectMeta, local::Opened), StoreError> {
        let dest = fs
            .path_to_filesystem(&key.to_path())
            .map_err(|e| self.map_err(key.as_str(), e))?;
        let opened = local::open_for_read(&dest, INLINE_READ)
            .map_err(|e| StoreError::Internal(format!("reading {key}: {e}")))?;
        let Some((file_meta, opened)) = opened else {
            return Err(StoreError::NotFound {
                key: key.to_string(),
            });
        };
        let meta = ObjectMeta {
            key: key.as_str().to_string(),
            size: file_meta.size,
            last_modified: file_meta.last_modified,
            etag: Some(file_meta.etag),
        };
        Ok((meta, opened))
    }

    /// Checks `If-None-Match: *` / `If-Match` against the current object (local backend).
    async fn check_condition(&self, key: &ObjectKey, mode: &PutMode) -> Result<(), StoreError> {
        if *mode == PutMode::Overwrite {
            return Ok(());
        }
        let current = match self.head(key).await {
            Ok(m) => Some(m.etag.unwrap_or_default()),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        // ETags compare without their optional quotes (RFC 9110 strong comparison).
        let unquote = |e: &str| e.trim_matches('"').to_string();
        match (mode, current) {
            (PutMode::Create, Some(_)) => Err(StoreError::PreconditionFailed(format!(
                "object {key} already exists (If-None-Match: *)"
            ))),
            (PutMode::IfMatch(_), None) => Err(StoreError::PreconditionFailed(format!(
                "object {key} does not exist (If-Match)"
            ))),
            (PutMode::IfMatch(want), Some(have))
                if want.trim() != "*" && unquote(want) != unquote(&have) =>
            {
                Err(StoreError::PreconditionFailed(format!(
                    "object {key} does not have etag {want:?} (If-Match)"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Local-backend key rule: a last segment whose text after its first `#` is all digits
    /// names a write in progress (see [`crate::local`]), so it cannot be an object's key.
    fn check_local_key(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let last = key.as_str().rsplit('/').next().unwrap_or_default();
        if matches!(self.flavour, Flavour::Local { .. }) && local::is_staged_name(last) {
            return Err(StoreError::InvalidKey {
                key: key.to_string(),
                reason: "on the local backend a last segment may not end in '#' and digits \
                         (that names a write in progress)"
                    .into(),
            });
        }
        Ok(())
    }

    async fn put_s3(
        &self,
        bounds: &Bounds,
        key: &ObjectKey,
        mut body: ByteStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, StoreError> {
        let mut head: Vec<Bytes> = Vec::new();
        let mut buffered = 0;
        while buffered < PART_SIZE {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    buffered += chunk.len();
                    head.push(chunk);
                }
                None => {
                    let opts = PutOptions {
                        mode: object_store_mode(mode),
                        ..PutOptions::default()
                    };
                    let path = key.to_path();
                    let put = self
                        .inner
                        .put_opts(&path, PutPayload::from_iter(head), opts);
                    let result = self.run(|| format!("a PUT of {key}"), key, put).await?;
                    return Ok(ObjectMeta {
                        key: key.as_str().to_string(),
                        size: buffered as u64,
                        last_modified: chrono::Utc::now(),
                        etag: result.e_tag,
                    });
                }
            }
        }
        match mode {
            PutMode::Overwrite => self.upload(bounds, key, head, body).await,
            PutMode::Create => self.put_create_large(bounds, key, head, body).await,
            PutMode::IfMatch(_) => Err(StoreError::BadRequest(format!(
                "an If-Match PUT is limited to {PART_SIZE} bytes on the S3 backend (S3 has no \
                 conditional multipart replace); write the body under a new key, or use \
                 If-None-Match: *, which has no such limit"
            ))),
        }
    }

    /// A multipart upload of `head` then the rest of `body` to `key` (see [`Upload`]: it is
    /// completed, or aborted).
    async fn upload(
        &self,
        bounds: &Bounds,
        key: &ObjectKey,
        head: Vec<Bytes>,
        mut body: ByteStream,
    ) -> Result<ObjectMeta, StoreError> {
        let path = key.to_path();
        let started = self.inner.put_multipart(&path);
        let upload = self
            .run(|| format!("the start of an upload of {key}"), key, started)
            .await?;
        let mut upload = Upload::new(upload, bounds.clone(), key.as_str());
        for chunk in head {
            upload.put(chunk).await?;
        }
        while let Some(chunk) = body.next().await {
            upload.put(chunk?).await?;
        }
        let size = upload.size();
        let result = upload.finish().await?;
        Ok(ObjectMeta {
            key: key.as_str().to_string(),
            size,
            last_modified: chrono::Utc::now(),
            etag: result.e_tag,
        })
    }

    /// A create-only PUT larger than one part: uploaded to a unique staging key, then
    /// copied to `key` by a multipart copy whose completion carries `If-None-Match: *` (the
    /// same guarantee as a single conditional PUT), and the staged object removed whatever
    /// happened.
    async fn put_create_large(
        &self,
        bounds: &Bounds,
        key: &ObjectKey,
        head: Vec<Bytes>,
        body: ByteStream,
    ) -> Result<ObjectMeta, StoreError> {
        let staging = ObjectKey::parse(&s3::staging_key())
            .map_err(|e| StoreError::Internal(format!("staging key: {e}")))?;
        let staged = self.upload(bounds, &staging, head, body).await?;
        let copied = self.copy_create(bounds, &staging, key, staged.size).await;
        let staged_path = staging.to_path();
        let removed = self.inner.delete(&staged_path);
        match bounds.call("a DELETE", removed).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(%staging, error = %e, "could not remove a staged upload"),
            Err(e) => tracing::warn!(%staging, error = %e, "could not remove a staged upload"),
        }
        copied?;
        let path = key.to_path();
        let meta = self.run(|| format!("a HEAD of {key}"), key, self.inner.head(&path));
        self.meta(meta.await?)
    }

    async fn copy_create(
        &self,
        bounds: &Bounds,
        staging: &ObjectKey,
        key: &ObjectKey,
        size: u64,
    ) -> Result<(), StoreError> {
        if size > s3::MAX_CONDITIONAL_COPY {
            return Err(StoreError::TooLarge(format!(
                "a create-only PUT (If-None-Match: *) is limited to {} bytes on the S3 backend \
                 (S3 copies at most that much in one part); this body has {size}",
                s3::MAX_CONDITIONAL_COPY
            )));
        }
        let options = CopyOptions {
            mode: CopyMode::Create,
            ..CopyOptions::default()
        };
        // A server-side copy moves about 50 MB/s at worst; allow for it on top of the bound.
        let limit = bounds.timeouts.request_timeout + Duration::from_secs(size / (50 << 20));
        let (from, to) = (staging.to_path(), key.to_path());
        let copy = self.inner.copy_opts(&from, &to, options);
        bounds
            .call_within(limit, &format!("a conditional copy to {key}"), copy)
            .await?
            .map_err(|e| self.map_err(key.as_str(), e))
    }

    /// A GET's body as the store streams it, a break naming the key and the store.
    fn remote_body(
        &self,
        stream: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
        key: &ObjectKey,
    ) -> ByteStream {
        let source = self.describe();
        let key = key.as_str().to_string();
        stream
            .map_err(move |e| StoreError::Unavailable(format!("reading {key} from {source}: {e}")))
            .boxed()
    }

    /// Runs one `object_store` call: on S3 bounded by `[s3] request_timeout` (see
    /// [`crate::s3`]), on a local directory as it is.
    async fn run<T>(
        &self,
        what: impl FnOnce() -> String,
        key: &impl std::fmt::Display,
        call: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<T, StoreError> {
        let result = match &self.flavour {
            Flavour::S3 { bounds, .. } => bounds.call(&what(), call).await?,
            Flavour::Local { .. } => call.await,
        };
        result.map_err(|e| self.map_err(&key.to_string(), e))
    }
}

/// The kind of the first I/O error in `e`'s source chain.
fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cursor = Some(e);
    while let Some(err) = cursor {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cursor = err.source();
    }
    None
}

fn object_store_mode(mode: PutMode) -> object_store::PutMode {
    match mode {
        PutMode::Overwrite => object_store::PutMode::Overwrite,
        PutMode::Create => object_store::PutMode::Create,
        PutMode::IfMatch(e_tag) => object_store::PutMode::Update(UpdateVersion {
            e_tag: Some(e_tag),
            version: None,
        }),
    }
}

/// One async mutex per key with a conditional PUT in progress; entries are dropped when
/// no one holds them, so the map stays as small as the number of concurrent writers.
#[derive(Debug, Default)]
struct KeyLocks(Mutex<HashMap<ObjectKey, Arc<tokio::sync::Mutex<()>>>>);

impl KeyLocks {
    fn get(&self, key: &ObjectKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
        map.entry(key.clone()).or_default().clone()
    }
}

#[async_trait]
impl Store for ObjectStoreBackend {
    async fn put(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, StoreError> {
        match &self.flavour {
            Flavour::Local { fs, root } => {
                self.check_local_key(key)?;
                self.put_local(fs, root, key, body, mode).await
            }
            Flavour::S3 { bounds, .. } => self.put_s3(bounds, key, body, mode).await,
        }
    }

    async fn get(&self, key: &ObjectKey) -> Result<GetObject, StoreError> {
        self.check_local_key(key)?;
        if let Flavour::Local { fs, .. } = &self.flavour {
            return self.get_local(fs, key).await;
        }
        let path = key.to_path();
        let get = self.inner.get_opts(&path, GetOptions::default());
        let result = self.run(|| format!("a GET of {key}"), key, get).await?;
        let meta = self.meta(result.meta)?;
        let body = match result.payload {
            GetResultPayload::File(file, _) => file_stream(file),
            GetResultPayload::Stream(stream) => self.remote_body(stream, key),
        };
        Ok(GetObject { meta, body })
    }

    async fn get_range(
        &self,
        key: &ObjectKey,
        range: std::ops::Range<u64>,
    ) -> Result<ObjectRange, StoreError> {
        store::check_range(&range)?;
        self.check_local_key(key)?;
        if let Flavour::Local { fs, .. } = &self.flavour {
            let (meta, opened) = self.open_local(fs, key)?;
            let range = store::clip_range(key, &range, meta.size)?;
            let body = match opened {
                local::Opened::Whole(bytes) => {
                    let part = bytes.slice(range.start as usize..range.end as usize);
                    futures::stream::once(async move { Ok(part) }).boxed()
                }
                local::Opened::File(file) => file_range_stream(file, range.clone())?,
            };
            return Ok(ObjectRange { meta, range, body });
        }
        let path = key.to_path();
        let options = GetOptions {
            range: Some(object_store::GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let get = self.inner.get_opts(&path, options);
        let result = match self
            .run(|| format!("a ranged GET of {key}"), key, get)
            .await
        {
            Ok(result) => result,
            Err(e @ StoreError::NotFound { .. }) => return Err(e),
            // S3 answers 416 to a range past the end: learn the size to say so.
            Err(e) => {
                return match self.head(key).await {
                    Ok(meta) => store::clip_range(key, &range, meta.size).and(Err(e)),
                    Err(_) => Err(e),
                };
            }
        };
        let meta = self.meta(result.meta)?;
        let served = result.range.clone();
        let body = match result.payload {
            GetResultPayload::File(file, _) => file_range_stream(file, served.clone())?,
            GetResultPayload::Stream(stream) => self.remote_body(stream, key),
        };
        Ok(ObjectRange {
            meta,
            range: served,
            body,
        })
    }

    async fn get_bytes(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        self.check_local_key(key)?;
        match &self.flavour {
            Flavour::Local { fs, .. } => self.get_bytes_local(fs, key).await,
            Flavour::S3 { .. } => store::collect_whole(self.get(key).await?).await,
        }
    }

    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        self.check_local_key(key)?;
        let path = key.to_path();
        let meta = self.run(|| format!("a HEAD of {key}"), key, self.inner.head(&path));
        self.meta(meta.await?)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.check_local_key(key)?;
        // Serialised with conditional PUTs of the key, so a delete cannot fall between a
        // PUT's precondition check and its rename.
        let lock = self.key_locks.get(key);
        let _held = lock.lock().await;
        if let Flavour::Local { fs, root } = &self.flavour {
            let dest = fs
                .path_to_filesystem(&key.to_path())
                .map_err(|e| self.map_err(key.as_str(), e))?;
            return local::remove(root, &dest, key.as_str()).await;
        }
        let path = key.to_path();
        let deleted = self.inner.delete(&path);
        match self
            .run(|| format!("a DELETE of {key}"), key, deleted)
            .await
        {
            Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(other) => Err(other),
        }
    }

    async fn list(&self, prefix: &KeyPrefix) -> Result<Vec<ObjectMeta>, StoreError> {
        let dir = prefix.directory();
        let mut pages = self.inner.list(dir.as_ref());
        let mut listed: Result<Vec<object_store::ObjectMeta>, StoreError> = Ok(Vec::new());
        // Each page is bounded on its own: a long listing may take many request times.
        while let Some(next) = self
            .run(
                || format!("a LIST of {prefix:?}"),
                &prefix.as_str(),
                async { pages.next().await.transpose() },
            )
            .await
            .transpose()
        {
            match (next, &mut listed) {
                (Ok(m), Ok(found)) if prefix.matches(m.location.as_ref()) => found.push(m),
                (Ok(_), _) => {}
                (Err(e), _) => {
                    listed = Err(e);
                    break;
                }
            }
        }
        let found = match listed {
            Ok(found) => found,
            // The prefix runs through an object (local backend): nothing lies below it.
            Err(StoreError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        // A key this service could not have written (another tool's object in a shared
        // bucket) is skipped, not allowed to fail the whole listing.
        let mut out: Vec<ObjectMeta> = found
            .into_iter()
            .filter_map(|m| {
                let location = m.location.to_string();
                self.meta(m)
                    .map_err(
                        |e| tracing::warn!(key = %location, error = %e, "skipping unlistable key"),
                    )
                    .ok()
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn probe(&self) -> Result<(), StoreError> {
        self.probe_backend().await
    }

    fn describe(&self) -> String {
        match &self.flavour {
            Flavour::Local { root, .. } => format!("local directory {}", root.display()),
            Flavour::S3 {
                endpoint, bucket, ..
            } => format!("S3 bucket {bucket} at {endpoint}"),
        }
    }
}

/// Streams an open local file in [`READ_CHUNK`] reads.
/// The bytes `range` of a file, streamed.
fn file_range_stream(
    mut file: std::fs::File,
    range: std::ops::Range<u64>,
) -> Result<ByteStream, StoreError> {
    use std::io::Seek;
    use tokio::io::AsyncReadExt;

    file.seek(std::io::SeekFrom::Start(range.start))
        .map_err(|e| StoreError::Internal(format!("reading object: {e}")))?;
    let part = tokio::fs::File::from_std(file).take(range.end - range.start);
    Ok(ReaderStream::with_capacity(part, READ_CHUNK)
        .map_err(|e| StoreError::Internal(format!("reading object: {e}")))
        .boxed())
}

fn file_stream(file: std::fs::File) -> ByteStream {
    ReaderStream::with_capacity(tokio::fs::File::from_std(file), READ_CHUNK)
        .map_err(|e| StoreError::Internal(format!("reading object: {e}")))
        .boxed()
}
