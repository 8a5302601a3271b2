//! [`StoreClient`]: the [`Store`] over storaged's HTTP API, for services of a split
//! deployment. Errors come back as the same [`StoreError`] variants the in-process store
//! returns, decoded from the error's code and fields ([`StoreError::from_wire`]), never
//! from message text.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::{Method, StatusCode, header};
use serde::Deserialize;

use common::client::{CallError, ServiceClient};

use crate::error::StoreError;
use crate::key::{KeyPrefix, ObjectKey};
use crate::store::{self, ByteStream, GetObject, ObjectMeta, ObjectRange, PutMode, Store};

/// Characters escaped when a canonical key becomes a URL path. `%` is not among them: in
/// canonical text it only ever starts `%25` or `%2F`, which the server decodes back.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

/// How long a call without a streamed body (HEAD, LIST, DELETE, a GET until its body
/// starts) may take: storaged itself answers within `[s3] request_timeout` (30 s by default)
/// whatever its store does, so this only catches a storaged that stopped answering.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// How long `/health` may take to say whether storaged and its store answer.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// An HTTP client for one storaged (or a gateway in front of it).
#[derive(Clone, Debug)]
pub struct StoreClient {
    core: ServiceClient,
}

impl StoreClient {
    /// `base` is the service's URL, e.g. `http://127.0.0.1:3211`.
    pub fn new(base: &str) -> StoreClient {
        // No overall timeout: object bodies stream for as long as they take; each call
        // without one sets its own (CALL_TIMEOUT).
        StoreClient {
            core: ServiceClient::new("storaged", base, None),
        }
    }

    /// Sends the deployment's API key with every request (`None`: no key).
    pub fn with_api_key(mut self, key: Option<&str>) -> StoreClient {
        self.core = self.core.with_api_key(key);
        self
    }

    fn object(&self, method: Method, key: &ObjectKey) -> reqwest::RequestBuilder {
        let path = format!(
            "/v1/storage/{}",
            utf8_percent_encode(key.as_str(), PATH_SEGMENT)
        );
        self.core.request(method, &path)
    }

    /// Sends `request` (about `key`); an error answer becomes the [`StoreError`] it encodes.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        key: &str,
    ) -> Result<reqwest::Response, StoreError> {
        self.core
            .send(request)
            .await
            .map_err(|e| store_error(e, key))
    }

    /// Sends a GET (`what`, for the message) and waits at most [`CALL_TIMEOUT`] for its
    /// answer to start; the body then streams for as long as it takes.
    async fn answer_within(
        &self,
        request: reqwest::RequestBuilder,
        key: &ObjectKey,
        what: &str,
    ) -> Result<reqwest::Response, StoreError> {
        let sent = self.send(request, key.as_str());
        tokio::time::timeout(CALL_TIMEOUT, sent)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "{} did not answer {what} of {key} within {} s",
                    self.core.describe(),
                    CALL_TIMEOUT.as_secs()
                ))
            })?
    }

    /// An answer's body as a stream; a break names the server.
    fn body(&self, response: reqwest::Response) -> ByteStream {
        let source = self.core.describe();
        response
            .bytes_stream()
            .map_err(move |e| StoreError::Unavailable(format!("reading from {source}: {e}")))
            .boxed()
    }

    fn unavailable(&self, e: reqwest::Error) -> StoreError {
        StoreError::Unavailable(format!("{}: {e}", self.core.describe()))
    }
}

/// The [`StoreError`] a failed call to storaged (or to catalogd, relaying its store's
/// error) stands for; `key` is what the call was about.
pub fn store_error(e: CallError, key: &str) -> StoreError {
    match e {
        CallError::Unreachable { message, .. } | CallError::Refused { message, .. } => {
            StoreError::Unavailable(message)
        }
        CallError::Answered {
            status,
            detail: Some(detail),
            ..
        } => match detail.code.as_str() {
            // A 404 from a gateway may not name the key: it is this one.
            "not_found" if detail.text("key").is_empty() => StoreError::NotFound {
                key: key.to_string(),
            },
            _ => StoreError::from_wire(status, detail),
        },
        // No error object: a HEAD's answer, or a proxy's page.
        CallError::Answered {
            status: StatusCode::NOT_FOUND,
            ..
        } => StoreError::NotFound {
            key: key.to_string(),
        },
        CallError::Answered {
            status, message, ..
        } if status.is_server_error() => StoreError::Unavailable(message),
        CallError::Answered { message, .. } => StoreError::BadRequest(message),
    }
}

fn header_meta(key: &ObjectKey, headers: &header::HeaderMap) -> Result<ObjectMeta, StoreError> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let size = text(header::CONTENT_LENGTH)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Internal("storaged sent no Content-Length".into()))?;
    let last_modified = text(header::LAST_MODIFIED)
        .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    Ok(ObjectMeta {
        key: key.as_str().to_string(),
        size,
        last_modified,
        etag: text(header::ETAG).map(str::to_string),
    })
}

/// `bytes a-b/size` → (`a..b + 1`, size).
fn parse_content_range(text: &str) -> Option<(std::ops::Range<u64>, u64)> {
    let (span, size) = text.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b, size): (u64, u64, u64) = (a.parse().ok()?, b.parse().ok()?, size.parse().ok()?);
    (a <= b && b < size).then_some((a..b + 1, size))
}

#[derive(Deserialize)]
struct Listing {
    keys: Vec<ObjectMeta>,
}

#[async_trait]
impl Store for StoreClient {
    async fn put(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, StoreError> {
        let mut request = self
            .object(Method::PUT, key)
            .body(reqwest::Body::wrap_stream(body));
        request = match mode {
            PutMode::Overwrite => request,
            PutMode::Create => request.header(header::IF_NONE_MATCH, "*"),
            PutMode::IfMatch(etag) => request.header(header::IF_MATCH, etag),
        };
        let response = self.send(request, key.as_str()).await?;
        response.json().await.map_err(|e| self.unavailable(e))
    }

    async fn get(&self, key: &ObjectKey) -> Result<GetObject, StoreError> {
        let request = self.object(Method::GET, key);
        let response = self.answer_within(request, key, "a GET").await?;
        let meta = header_meta(key, response.headers())?;
        Ok(GetObject {
            meta,
            body: self.body(response),
        })
    }

    async fn get_range(
        &self,
        key: &ObjectKey,
        range: std::ops::Range<u64>,
    ) -> Result<ObjectRange, StoreError> {
        store::check_range(&range)?;
        let asked = match range.end {
            u64::MAX => format!("bytes={}-", range.start),
            end => format!("bytes={}-{}", range.start, end - 1),
        };
        let request = self.object(Method::GET, key).header(header::RANGE, asked);
        let response = self.answer_within(request, key, "a ranged GET").await?;
        let mut meta = header_meta(key, response.headers())?;
        let partial = response.status() == reqwest::StatusCode::PARTIAL_CONTENT;
        let served = if partial {
            // `bytes a-b/size`: the part, and the whole object's size.
            let content_range = response
                .headers()
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range)
                .ok_or_else(|| {
                    StoreError::Internal(format!(
                        "{} answered a ranged GET with no usable Content-Range",
                        self.core.describe()
                    ))
                })?;
            meta.size = content_range.1;
            content_range.0
        } else {
            // The whole object (a server or proxy that does not take ranges).
            store::clip_range(key, &range, meta.size)?
        };
        let body = self.body(response);
        let body = if partial {
            body
        } else {
            store::slice_stream(body, served.clone())
        };
        Ok(ObjectRange {
            meta,
            range: served,
            body,
        })
    }

    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        let response = self
            .send(
                self.object(Method::HEAD, key).timeout(CALL_TIMEOUT),
                key.as_str(),
            )
            .await?;
        header_meta(key, response.headers())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let request = self.object(Method::DELETE, key).timeout(CALL_TIMEOUT);
        self.send(request, key.as_str()).await?;
        Ok(())
    }

    async fn list(&self, prefix: &KeyPrefix) -> Result<Vec<ObjectMeta>, StoreError> {
        let request = self
            .core
            .request(Method::GET, "/v1/storage")
            .query(&[("prefix", prefix.as_str())])
            .timeout(CALL_TIMEOUT);
        let response = self.send(request, prefix.as_str()).await?;
        let listing: Listing = response.json().await.map_err(|e| self.unavailable(e))?;
        Ok(listing.keys)
    }

    fn describe(&self) -> String {
        self.core.describe()
    }

    /// storaged's own `/health`, which probes its store.
    async fn probe(&self) -> Result<(), StoreError> {
        let request = self
            .core
            .request(Method::GET, "/health")
            .timeout(PROBE_TIMEOUT);
        let response = self.send(request, "/health").await?;
        let _ = response.bytes().await;
        Ok(())
    }
}
