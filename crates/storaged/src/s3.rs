//! The S3 side of [`crate::ObjectStoreBackend`]: the HTTP client's timeouts, multipart
//! uploads that are always either completed or aborted, and the start-up probe that the
//! endpoint honours conditional writes.
//!
//! Timeouts (`[s3]`, [`S3Timeouts`]): the HTTP client gives up on a connection after
//! `connect_timeout` and on an answer after `read_timeout` of silence (first byte, or the
//! next chunk of a body); `object_store` retries idempotent calls up to `max_retries` times
//! within `retry_timeout`; and every call this crate makes is bounded as a whole by
//! `request_timeout` (GETs until their body starts; a body then streams for as long as it
//! keeps moving). A store that accepts connections and never answers therefore turns every
//! request into `503 store_unavailable` within `request_timeout`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::S3Timeouts;
use bytes::Bytes;
use object_store::client::{HttpClient, HttpConnector};
use object_store::{ClientOptions, MultipartUpload, PutPayload, PutResult};
use tokio::task::JoinSet;

use crate::error::StoreError;

/// Size of one multipart part (S3's minimum is 5 MiB), and the largest body sent as a
/// single PUT.
pub(crate) const PART_SIZE: usize = 8 << 20;
/// Parts uploading at once: a PUT holds at most this many parts plus the one filling.
const PARTS_IN_FLIGHT: usize = 2;
/// Where create-only PUTs larger than one part are staged before their conditional copy.
pub(crate) const STAGING_PREFIX: &str = "_lakehouse/staging/";
/// The largest object S3 copies in one part: the bound of a create-only PUT over one part.
pub(crate) const MAX_CONDITIONAL_COPY: u64 = 5 << 30;

static NEXT_STAGED: AtomicU64 = AtomicU64::new(0);

/// A key under [`STAGING_PREFIX`] no other writer uses: time, process and a counter.
pub(crate) fn staging_key() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{STAGING_PREFIX}{nanos:x}-{:x}-{:x}",
        std::process::id(),
        NEXT_STAGED.fetch_add(1, Ordering::Relaxed)
    )
}

/// Builds the S3 HTTP client with [`S3Timeouts`]' connect and read timeouts. No total
/// timeout: a large GET may stream for minutes while it keeps moving; whole calls are
/// bounded by [`Bounds::call`] instead.
#[derive(Debug)]
pub(crate) struct Connector(pub S3Timeouts);

impl HttpConnector for Connector {
    fn connect(&self, _: &ClientOptions) -> object_store::Result<HttpClient> {
        let client = common::tls::http_client()
            .connect_timeout(self.0.connect_timeout)
            .read_timeout(self.0.read_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(HttpClient::new(client))
    }
}

/// How calls to one bucket are bounded, and how their failures are named.
#[derive(Clone, Debug)]
pub(crate) struct Bounds {
    pub timeouts: S3Timeouts,
    /// `S3 bucket "b" at http://…`, for messages.
    pub store: String,
}

impl Bounds {
    /// Runs `call` for at most `request_timeout`; past it, `Unavailable` naming what was
    /// asked of which store and the setting that bounded it.
    pub(crate) async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = T>,
    ) -> Result<T, StoreError> {
        self.call_within(self.timeouts.request_timeout, what, call)
            .await
    }

    /// [`Bounds::call`] with another limit (a server-side copy, which scales with size).
    pub(crate) async fn call_within<T>(
        &self,
        limit: Duration,
        what: &str,
        call: impl Future<Output = T>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(limit, call).await.map_err(|_| {
            StoreError::Unavailable(format!(
                "{} did not answer {what} within {} ([s3] request_timeout)",
                self.store,
                seconds(limit)
            ))
        })
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// One multipart upload: parts of about [`PART_SIZE`], at most [`PARTS_IN_FLIGHT`]
/// uploading at once (each in its own task, so parts move while the body is read), every
/// wait bounded by `request_timeout`. Unless [`Upload::finish`] completes it, the upload is
/// aborted — after a failed part, a failed or timed-out completion, or a request dropped
/// mid-body — so the bucket keeps no orphaned parts.
pub(crate) struct Upload {
    upload: Option<Box<dyn MultipartUpload>>,
    parts: JoinSet<object_store::Result<()>>,
    buffer: Vec<Bytes>,
    buffered: usize,
    parts_sent: usize,
    size: u64,
    bounds: Bounds,
    key: String,
}

impl Upload {
    pub(crate) fn new(upload: Box<dyn MultipartUpload>, bounds: Bounds, key: &str) -> Upload {
        Upload {
            upload: Some(upload),
            parts: JoinSet::new(),
            buffer: Vec::new(),
            buffered: 0,
            parts_sent: 0,
            size: 0,
            bounds,
            key: key.to_string(),
        }
    }

    /// Bytes taken so far.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) async fn put(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.size += chunk.len() as u64;
        self.buffered += chunk.len();
        self.buffer.push(chunk);
        if self.buffered >= PART_SIZE {
            self.send_part().await?;
        }
        Ok(())
    }

    async fn send_part(&mut self) -> Result<(), StoreError> {
        while self.parts.len() >= PARTS_IN_FLIGHT {
            self.wait_one().await?;
        }
        let payload = PutPayload::from_iter(std::mem::take(&mut self.buffer));
        self.buffered = 0;
        let upload = self
            .upload
            .as_mut()
            .ok_or_else(|| StoreError::Internal("multipart upload already finished".into()))?;
        self.parts.spawn(upload.put_part(payload));
        self.parts_sent += 1;
        Ok(())
    }

    async fn wait_one(&mut self) -> Result<(), StoreError> {
        let what = format!("a part of {}", self.key);
        match self.bounds.call(&what, self.parts.join_next()).await? {
            None => Ok(()),
            Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(self.failed(&what, e)),
            Some(Err(e)) => Err(StoreError::Internal(format!("{what}: {e}"))),
        }
    }

    fn failed(&self, what: &str, e: object_store::Error) -> StoreError {
        StoreError::Unavailable(format!(
            "{} failed {what}: {}",
            self.bounds.store,
            common::error::chain(&e)
        ))
    }

    /// Sends the last part, waits for every part and completes the upload.
    pub(crate) async fn finish(mut self) -> Result<PutResult, StoreError> {
        if self.buffered > 0 || self.parts_sent == 0 {
            self.send_part().await?;
        }
        while !self.parts.is_empty() {
            self.wait_one().await?;
        }
        let what = format!("the completion of {}", self.key);
        let upload = self
            .upload
            .as_mut()
            .ok_or_else(|| StoreError::Internal("multipart upload already finished".into()))?;
        let done = self.bounds.call(&what, upload.complete()).await?;
        match done {
            Ok(result) => {
                self.upload = None;
                Ok(result)
            }
            Err(e) => Err(self.failed(&what, e)),
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.parts.abort_all();
        let Some(mut upload) = self.upload.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (key, bounds) = (self.key.clone(), self.bounds.clone());
        runtime.spawn(async move {
            match bounds.call("an abort", upload.abort()).await {
                Ok(Ok(())) => tracing::debug!(%key, "aborted an unfinished multipart upload"),
                Ok(Err(e)) => {
                    tracing::warn!(%key, error = %e, "could not abort an unfinished multipart upload")
                }
                Err(e) => {
                    tracing::warn!(%key, error = %e, "could not abort an unfinished multipart upload")
                }
            }
        });
    }
}
