//! [`ObjectStoreBackend`]: the in-process [`Store`], over `object_store`.
//!
//! Two flavours behind one type:
//! - **local**: `LocalFileSystem` for reads, LIST and DELETE; writes go through
//!   [`crate::local`] (staged file, fsync, rename, directory fsync) because `object_store`
//!   0.13 does not fsync. Conditional PUTs are checked under a per-key lock, since the local
//!   backend has no native compare-and-swap.
//! - **S3**: `AmazonS3`; bodies up to one part go up in a single PUT (native conditional
//!   headers), larger ones as a multipart upload with at most two parts in flight, so a PUT
//!   holds at most ~3 parts of memory whatever the object's size.
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
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::{
    ClientOptions, GetOptions, GetResultPayload, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload, RetryConfig, UpdateVersion, WriteMultipart,
};
use tokio_util::io::ReaderStream;

use common::config::S3Config;

use crate::error::StoreError;
use crate::key::{KeyPrefix, ObjectKey};
use crate::local;
use crate::store::{self, ByteStream, GetObject, ObjectMeta, PutMode, Store};

/// Size of one multipart part on S3 (S3's minimum is 5 MiB), and the largest body sent as
/// a single PUT.
const PART_SIZE: usize = 8 << 20;
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
        let client = ClientOptions::new()
            .with_allow_http(true)
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(300));
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(15),
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(key_id)
            .with_secret_access_key(secret)
            .with_virtual_hosted_style_request(!config.use_path_style)
            .with_client_options(client)
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
                endpoint,
                bucket: config.bucket.clone(),
            },
            key_locks: KeyLocks::default(),
        })
    }

    /// Start-up check: a missing bucket is an error naming bucket and endpoint. An
    /// unreachable endpoint is only logged: requests answer 503 until it comes back.
    pub async fn check(&self) -> Result<(), StoreError> {
        let Flavour::S3 { endpoint, bucket } = &self.flavour else {
            return Ok(());
        };
        let probe = object_store::path::Path::from("_catalog");
        match self.inner.list(Some(&probe)).next().await {
            None | Some(Ok(_)) => Ok(()),
            // A LIST on an existing bucket never answers 404. object_store 0.13 keeps the
            // HTTP status of a failed LIST private, so the S3 error code is the only sign;
            // this is a start-up diagnostic, never a data-path decision (cf. seed O-B1).
            Some(Err(e))
                if matches!(e, object_store::Error::NotFound { .. })
                    || e.to_string().contains("NoSuchBucket") =>
            {
                Err(StoreError::Unavailable(format!(
                    "S3 bucket {bucket:?} does not exist at {endpoint}"
                )))
            }
            Some(Err(e)) => {
                tracing::warn!(%endpoint, %bucket, error = %e, "S3 is not reachable yet; serving 503 until it is");
                Ok(())
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
                Flavour::S3 { endpoint, bucket } => StoreError::Unavailable(format!(
                    "S3 bucket {bucket:?} at {endpoint} is unavailable: {other}"
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
        key: &ObjectKey,
        mut body: ByteStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, StoreError> {
        let path = key.to_path();
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
                    let result = self
                        .inner
                        .put_opts(&path, PutPayload::from_iter(head), opts)
                        .await
                        .map_err(|e| self.map_err(key.as_str(), e))?;
                    return Ok(ObjectMeta {
                        key: key.as_str().to_string(),
                        size: buffered as u64,
                        last_modified: chrono::Utc::now(),
                        etag: result.e_tag,
                    });
                }
            }
        }
        if mode != PutMode::Overwrite {
            return Err(StoreError::BadRequest(format!(
                "a conditional PUT is limited to {PART_SIZE} bytes on the S3 backend"
            )));
        }
        let upload = self
            .inner
            .put_multipart(&path)
            .await
            .map_err(|e| self.map_err(key.as_str(), e))?;
        let mut writer = AbortOnDrop(Some(WriteMultipart::new_with_chunk_size(upload, PART_SIZE)));
        let mut size = 0u64;
        for chunk in head {
            size += chunk.len() as u64;
            writer.get().put(chunk);
        }
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            writer
                .get()
                .wait_for_capacity(2)
                .await
                .map_err(|e| self.map_err(key.as_str(), e))?;
            size += chunk.len() as u64;
            writer.get().put(chunk);
        }
        let Some(done) = writer.0.take() else {
            return Err(StoreError::Internal(
                "multipart writer already finished".into(),
            ));
        };
        let result = done
            .finish()
            .await
            .map_err(|e| self.map_err(key.as_str(), e))?;
        Ok(ObjectMeta {
            key: key.as_str().to_string(),
            size,
            last_modified: chrono::Utc::now(),
            etag: result.e_tag,
        })
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

/// Aborts a multipart upload that did not finish (error or dropped request), so S3 keeps
/// no orphaned parts.
struct AbortOnDrop(Option<WriteMultipart>);

impl AbortOnDrop {
    fn get(&mut self) -> &mut WriteMultipart {
        self.0.as_mut().expect("writer present until finish")
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                if let Err(e) = writer.abort().await {
                    tracing::warn!(error = %e, "could not abort an unfinished multipart upload");
                }
            });
        }
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
            Flavour::S3 { .. } => self.put_s3(key, body, mode).await,
        }
    }

    async fn get(&self, key: &ObjectKey) -> Result<GetObject, StoreError> {
        self.check_local_key(key)?;
        if let Flavour::Local { fs, .. } = &self.flavour {
            return self.get_local(fs, key).await;
        }
        let result = self
            .inner
            .get_opts(&key.to_path(), GetOptions::default())
            .await
            .map_err(|e| self.map_err(key.as_str(), e))?;
        let meta = self.meta(result.meta)?;
        let body = match result.payload {
            GetResultPayload::File(file, _) => file_stream(file),
            GetResultPayload::Stream(stream) => {
                let source = self.describe();
                let key = key.as_str().to_string();
                stream
                    .map_err(move |e| {
                        StoreError::Unavailable(format!("reading {key} from {source}: {e}"))
                    })
                    .boxed()
            }
        };
        Ok(GetObject { meta, body })
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
        let meta = self
            .inner
            .head(&key.to_path())
            .await
            .map_err(|e| self.map_err(key.as_str(), e))?;
        self.meta(meta)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.check_local_key(key)?;
        // Serialised with conditional PUTs of the key, so a delete cannot fall between a
        // PUT's precondition check and its rename.
        let lock = self.key_locks.get(key);
        let _held = lock.lock().await;
        match self.inner.delete(&key.to_path()).await {
            Ok(()) => Ok(()),
            Err(e) => match self.map_err(key.as_str(), e) {
                StoreError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn list(&self, prefix: &KeyPrefix) -> Result<Vec<ObjectMeta>, StoreError> {
        let dir = prefix.directory();
        let listed: Result<Vec<object_store::ObjectMeta>, _> = self
            .inner
            .list(dir.as_ref())
            .try_filter(|m| futures::future::ready(prefix.matches(m.location.as_ref())))
            .try_collect()
            .await;
        let found = match listed.map_err(|e| self.map_err(prefix.as_str(), e)) {
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

    fn describe(&self) -> String {
        match &self.flavour {
            Flavour::Local { root, .. } => format!("local directory {}", root.display()),
            Flavour::S3 { endpoint, bucket } => format!("S3 bucket {bucket} at {endpoint}"),
        }
    }
}

/// Streams an open local file in [`READ_CHUNK`] reads.
fn file_stream(file: std::fs::File) -> ByteStream {
    ReaderStream::with_capacity(tokio::fs::File::from_std(file), READ_CHUNK)
        .map_err(|e| StoreError::Internal(format!("reading object: {e}")))
        .boxed()
}
