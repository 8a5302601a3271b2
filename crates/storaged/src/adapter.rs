//! [`StoreObjects`]: an `object_store::ObjectStore` over any [`Store`] — the inverse of
//! [`crate::ObjectStoreBackend`]. It lets a library that speaks `object_store` (DataFusion's
//! Parquet scan) read and write through the seam every service uses, so a split queryd
//! reads its data files from storaged over HTTP (ranged GETs) instead of sharing
//! storaged's disk.
//!
//! What maps onto what:
//! - paths are canonical keys ([`ObjectKey::to_path`] and back); a path that is no valid
//!   key is `InvalidPath`-like (`Generic`, naming the rule it breaks);
//! - `get_opts` with a range is [`Store::get_range`] (a suffix range costs a HEAD first);
//!   `If-Match` and the other read preconditions are checked against the metadata the
//!   read itself returns, so they cost no extra round trip;
//! - `put_opts`' modes are [`PutMode`]'s (`Update` needs an etag); a multipart upload is
//!   one streamed [`Store::put`] fed part by part, committed by `complete` and by nothing
//!   else (an aborted or dropped upload changes nothing);
//! - LIST is [`Store::list`] below `prefix/` (object_store prefixes are whole segments);
//!   copy streams the object through this process; rename is copy then delete.
//! - Object versions, tags and attributes are not kept by a [`Store`]: asking for a
//!   version is `NotSupported`, tags and attributes are dropped.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::{Path, PathPart};
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult,
    MultipartUpload, ObjectMeta as OsMeta, ObjectStore, PutMultipartOptions, PutOptions,
    PutPayload, PutResult, UploadPart,
};
use percent_encoding::percent_decode_str;
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::key::{KeyPrefix, ObjectKey};
use crate::store::{ByteStream, ObjectMeta, PutMode, Store};

/// The name `object_store` errors give this store.
const NAME: &str = "lakehouse store";

/// An `object_store::ObjectStore` over a [`Store`]; see the module doc.
#[derive(Clone)]
pub struct StoreObjects {
    store: Arc<dyn Store>,
}

impl StoreObjects {
    pub fn new(store: Arc<dyn Store>) -> StoreObjects {
        StoreObjects { store }
    }
}

impl fmt::Debug for StoreObjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreObjects")
            .field("store", &self.store.describe())
            .finish()
    }
}

impl fmt::Display for StoreObjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreObjects({})", self.store.describe())
    }
}

/// The key a path names.
fn key(path: &Path) -> object_store::Result<ObjectKey> {
    ObjectKey::from_path(path).map_err(|e| generic(StoreError::invalid_key(path.as_ref(), e)))
}

fn generic(e: StoreError) -> object_store::Error {
    object_store::Error::Generic {
        store: NAME,
        source: Box::new(e),
    }
}

/// A store's error as `object_store` says it: the kinds callers match on (not found, a
/// failed precondition) as those, the rest `Generic` with the store's own error inside.
fn os_error(path: &Path, e: StoreError) -> object_store::Error {
    match e {
        StoreError::NotFound { .. } => object_store::Error::NotFound {
            path: path.to_string(),
            source: Box::new(e),
        },
        StoreError::PreconditionFailed(_) => object_store::Error::Precondition {
            path: path.to_string(),
            source: Box::new(e),
        },
        e => generic(e),
    }
}

/// The path `object_store` callers name the object with canonical key `key` by: each
/// segment decoded, then encoded as `object_store` encodes a path part, so that a path
/// handed in (`Path::from("a~b")`, stored as `a%7Eb`) comes back from LIST and HEAD as
/// that same path. (The inverse, [`key`], decodes the path's own encoding.)
fn path_of(key: &str) -> object_store::Result<Path> {
    key.split('/')
        .map(|segment| {
            percent_decode_str(segment)
                .decode_utf8()
                .map(|decoded| PathPart::from(decoded.into_owned()))
                .map_err(|_| generic(StoreError::Internal(format!("key {key:?} is not UTF-8"))))
        })
        .collect::<object_store::Result<Vec<_>>>()
        .map(Path::from_iter)
}

fn os_meta(meta: ObjectMeta) -> object_store::Result<OsMeta> {
    let location = path_of(&meta.key)?;
    Ok(OsMeta {
        location,
        last_modified: meta.last_modified,
        size: meta.size,
        e_tag: meta.etag,
        version: None,
    })
}

fn not_supported(what: &str) -> object_store::Error {
    object_store::Error::NotSupported {
        source: format!("{what} is not kept by the lakehouse store").into(),
    }
}

/// The prefix below which `prefix`'s objects lie: its whole segments.
fn list_prefix(prefix: Option<&Path>) -> object_store::Result<KeyPrefix> {
    let text = match prefix {
        Some(p) if !p.as_ref().is_empty() => format!("{}/", p.as_ref()),
        _ => String::new(),
    };
    KeyPrefix::parse(&text).map_err(|e| generic(StoreError::invalid_key(&text, e)))
}

fn payload_stream(payload: PutPayload) -> ByteStream {
    stream::iter(payload.into_iter().map(Ok)).boxed()
}

impl StoreObjects {
    async fn put_stream(
        &self,
        path: &Path,
        body: ByteStream,
        mode: object_store::PutMode,
    ) -> object_store::Result<PutResult> {
        let key = key(path)?;
        let create = matches!(mode, object_store::PutMode::Create);
        let mode = match mode {
            object_store::PutMode::Overwrite => PutMode::Overwrite,
            object_store::PutMode::Create => PutMode::Create,
            object_store::PutMode::Update(v) => match v.e_tag {
                Some(etag) => PutMode::IfMatch(etag),
                None => return Err(not_supported("an update by object version")),
            },
        };
        match self.store.put(&key, body, mode).await {
            Ok(meta) => Ok(PutResult {
                e_tag: meta.etag,
                version: None,
            }),
            Err(e @ StoreError::PreconditionFailed(_)) if create => {
                Err(object_store::Error::AlreadyExists {
                    path: path.to_string(),
                    source: Box::new(e),
                })
            }
            Err(e) => Err(os_error(path, e)),
        }
    }
}

#[async_trait]
impl ObjectStore for StoreObjects {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.put_stream(location, payload_stream(payload), opts.mode)
            .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        // Tags and attributes are not kept (module doc).
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        key(location)?;
        let (parts, received) = mpsc::unbounded_channel();
        let this = self.clone();
        let path = location.clone();
        let put = tokio::spawn(async move {
            this.put_stream(
                &path,
                upload_body(received),
                object_store::PutMode::Overwrite,
            )
            .await
        });
        Ok(Box::new(Upload {
            parts: Some(parts),
            put: Some(put),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if options.version.is_some() {
            return Err(not_supported("an object version"));
        }
        let key = key(location)?;
        let err = |e| os_error(location, e);
        if options.head {
            let meta = os_meta(self.store.head(&key).await.map_err(err)?)?;
            options.check_preconditions(&meta)?;
            return Ok(GetResult {
                payload: GetResultPayload::Stream(stream::empty().boxed()),
                range: 0..meta.size,
                meta,
                attributes: Default::default(),
            });
        }
        let range: Option<Range<u64>> = match options.range.clone() {
            None => None,
            Some(GetRange::Bounded(r)) => Some(r),
            Some(GetRange::Offset(start)) => Some(start..u64::MAX),
            Some(GetRange::Suffix(n)) => return self.get_suffix(location, &key, n, &options).await,
        };
        let (meta, range, body) = match range {
            None => {
                let object = self.store.get(&key).await.map_err(err)?;
                let size = object.meta.size;
                (object.meta, 0..size, object.body)
            }
            Some(range) => {
                let part = self.store.get_range(&key, range).await.map_err(err)?;
                (part.meta, part.range, part.body)
            }
        };
        read_result(location, meta, range, body, &options)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let store = self.store.clone();
        locations
            .and_then(move |path| {
                let store = store.clone();
                async move {
                    let key = key(&path)?;
                    store.delete(&key).await.map_err(|e| os_error(&path, e))?;
                    Ok(path)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<OsMeta>> {
        let store = self.store.clone();
        let prefix = list_prefix(prefix);
        stream::once(async move {
            let prefix = prefix?;
            let listed = store.list(&prefix).await.map_err(generic)?;
            Ok::<_, object_store::Error>(stream::iter(listed.into_iter().map(os_meta)))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let below = list_prefix(prefix)?;
        let listed = self.store.list(&below).await.map_err(generic)?;
        let base = below.as_str();
        let mut common_prefixes: Vec<Path> = Vec::new();
        let mut objects = Vec::new();
        for meta in listed {
            // A store that answered keys outside the prefix (another process's bug) is
            // not followed there.
            let Some(rest) = meta.key.strip_prefix(base) else {
                continue;
            };
            match rest.split_once('/') {
                None => objects.push(os_meta(meta)?),
                Some((dir, _)) => {
                    let dir = path_of(&meta.key[..base.len() + dir.len()])?;
                    if common_prefixes.last() != Some(&dir) {
                        common_prefixes.push(dir);
                    }
                }
            }
        }
        Ok(ListResult {
            common_prefixes,
            objects,
        })
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let source = self
            .store
            .get(&key(from)?)
            .await
            .map_err(|e| os_error(from, e))?;
        let mode = match options.mode {
            CopyMode::Overwrite => object_store::PutMode::Overwrite,
            CopyMode::Create => object_store::PutMode::Create,
        };
        self.put_stream(to, source.body, mode).await.map(|_| ())
    }
}

/// A read's answer: its metadata, checked against the read's preconditions, under the
/// caller's own path (see [`path_of`]).
fn read_result(
    location: &Path,
    meta: ObjectMeta,
    range: Range<u64>,
    body: ByteStream,
    options: &GetOptions,
) -> object_store::Result<GetResult> {
    let meta = OsMeta {
        location: location.clone(),
        ..os_meta(meta)?
    };
    options.check_preconditions(&meta)?;
    let path = location.clone();
    Ok(GetResult {
        payload: GetResultPayload::Stream(body.map_err(move |e| os_error(&path, e)).boxed()),
        meta,
        range,
        attributes: Default::default(),
    })
}

impl StoreObjects {
    /// The last `n` bytes: the size from a HEAD, then a ranged read, which must find an
    /// object of that size (its answer's metadata is then the object those bytes end);
    /// if the object changed size in between, once more. Nothing to read (`n` = 0, an
    /// empty object) is an empty answer, as `object_store`'s own stores give it.
    async fn get_suffix(
        &self,
        location: &Path,
        key: &ObjectKey,
        n: u64,
        options: &GetOptions,
    ) -> object_store::Result<GetResult> {
        let err = |e| os_error(location, e);
        for _ in 0..2 {
            let head = self.store.head(key).await.map_err(err)?;
            let size = head.size;
            if n == 0 || size == 0 {
                let empty: ByteStream = stream::empty().boxed();
                return read_result(location, head, size..size, empty, options);
            }
            let part = self
                .store
                .get_range(key, size.saturating_sub(n)..size)
                .await
                .map_err(err)?;
            if part.meta.size == size {
                return read_result(location, part.meta, part.range, part.body, options);
            }
        }
        Err(generic(StoreError::Conflict(format!(
            "object {:?} kept changing size while its last {n} bytes were read",
            key.as_str()
        ))))
    }
}

/// What a multipart upload sends its body: parts in the order `put_part` was called, then
/// whether it ended by `complete` (anything else leaves the put failing: nothing written).
enum Message {
    Part(PutPayload, oneshot::Sender<()>),
    Complete,
}

/// The body of an upload's [`Store::put`]: each part's bytes as the store asks for them
/// (which is when its `put_part` future resolves), ending well only after `Complete`.
fn upload_body(received: mpsc::UnboundedReceiver<Message>) -> ByteStream {
    stream::unfold(Some(received), |received| async move {
        let mut received = received?;
        match received.recv().await {
            Some(Message::Part(payload, taken)) => {
                let _ = taken.send(());
                Some((Ok(payload_stream(payload)), Some(received)))
            }
            Some(Message::Complete) => None,
            None => Some((
                Err(StoreError::BadRequest(
                    "the upload was aborted before it completed".into(),
                )),
                None,
            )),
        }
    })
    .try_flatten()
    .boxed()
}

/// A multipart upload in progress: see [`upload_body`].
struct Upload {
    parts: Option<mpsc::UnboundedSender<Message>>,
    put: Option<tokio::task::JoinHandle<object_store::Result<PutResult>>>,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("open", &self.parts.is_some())
            .finish()
    }
}

impl Upload {
    async fn finish(&mut self) -> object_store::Result<PutResult> {
        self.parts = None;
        match self.put.take() {
            Some(put) => put.await?,
            None => Err(generic(StoreError::BadRequest(
                "the upload has already ended".into(),
            ))),
        }
    }
}

#[async_trait]
impl MultipartUpload for Upload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let (taken, when_taken) = oneshot::channel();
        let sent = self
            .parts
            .as_ref()
            .is_some_and(|parts| parts.send(Message::Part(data, taken)).is_ok());
        Box::pin(async move {
            // The part is accepted once the store's write has taken it; if the write
            // ended first, `complete` says why.
            if sent && when_taken.await.is_ok() {
                Ok(())
            } else {
                Err(generic(StoreError::BadRequest(
                    "the upload's write has ended; complete() says why".into(),
                )))
            }
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        if let Some(parts) = &self.parts {
            let _ = parts.send(Message::Complete);
        }
        self.finish().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        // Closing the channel without `Complete` fails the body: the put writes nothing.
        match self.finish().await {
            Ok(_) => Err(generic(StoreError::Internal(
                "an aborted upload was written".into(),
            ))),
            Err(_) => Ok(()),
        }
    }
}
