//! [`StoreClient`]: the [`Store`] over storaged's HTTP API, for services of a split
//! deployment. Errors come back as the same [`StoreError`] variants the in-process store
//! returns, decoded from the JSON error code, never from message text.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::{Method, StatusCode, header};
use serde::Deserialize;

use common::ErrorBody;

use crate::error::StoreError;
use crate::key::{KeyPrefix, ObjectKey};
use crate::store::{ByteStream, GetObject, ObjectMeta, PutMode, Store};

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
    http: reqwest::Client,
    base: String,
    /// `Authorization: Bearer KEY` when the deployment has an API key.
    auth: Option<reqwest::header::HeaderValue>,
}

impl StoreClient {
    /// `base` is the service's URL, e.g. `http://127.0.0.1:3211`.
    pub fn new(base: &str) -> StoreClient {
        let http = common::tls::http_client()
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        StoreClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            auth: None,
        }
    }

    /// Sends the deployment's API key with every request (`None`: no key).
    pub fn with_api_key(mut self, key: Option<&str>) -> StoreClient {
        self.auth = common::auth::bearer_header(key);
        self
    }

    fn url(&self, key: &ObjectKey) -> String {
        format!(
            "{}/v1/storage/{}",
            self.base,
            utf8_percent_encode(key.as_str(), PATH_SEGMENT)
        )
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        key: &str,
    ) -> Result<reqwest::Response, StoreError> {
        let request = match &self.auth {
            Some(auth) => request.header(reqwest::header::AUTHORIZATION, auth.clone()),
            None => request,
        };
        let response = request.send().await.map_err(|e| {
            let what = if e.is_connect() {
                "is unreachable"
            } else {
                "failed to answer"
            };
            StoreError::Unavailable(format!(
                "storaged at {} {what}: {}",
                self.base,
                common::error::chain(&e)
            ))
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(decode_error(response, &self.base, key).await)
    }

    fn unavailable(&self, e: reqwest::Error) -> StoreError {
        StoreError::Unavailable(format!("storaged at {}: {e}", self.base))
    }
}

async fn decode_error(response: reqwest::Response, base: &str, key: &str) -> StoreError {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(&body) else {
        let text = String::from_utf8_lossy(&body);
        return match status {
            StatusCode::NOT_FOUND => StoreError::NotFound {
                key: key.to_string(),
            },
            // A HEAD's answer has no body to say more.
            StatusCode::UNAUTHORIZED => refused_key(base, "401 Unauthorized"),
            s if s.is_server_error() => {
                StoreError::Unavailable(format!("storaged answered {s}: {text}"))
            }
            s => StoreError::BadRequest(format!("storaged answered {s}: {text}")),
        };
    };
    match error.code.as_str() {
        "not_found" => StoreError::NotFound {
            key: key.to_string(),
        },
        "invalid_key" => StoreError::InvalidKey {
            key: key.to_string(),
            reason: error.message,
        },
        "too_large" => StoreError::TooLarge(error.message),
        "precondition_failed" => StoreError::PreconditionFailed(error.message),
        "store_unavailable" | "service_unavailable" => StoreError::Unavailable(error.message),
        "bad_request" => StoreError::BadRequest(error.message),
        "conflict" => StoreError::Conflict(error.message),
        "unauthorized" => refused_key(base, &error.message),
        _ => StoreError::Internal(error.message),
    }
}

/// A 401 from a service this process calls: the two were given different keys. Not the
/// caller's fault, and nothing a retry mends: unavailable, with the cure.
pub fn refused_key(base: &str, message: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "{base} refused this process's API key ({message}); every process of a deployment \
         needs the same key ([gateway] api_key or LAKEHOUSE_API_KEY)"
    ))
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
            .http
            .put(self.url(key))
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
        let sent = self.send(self.http.get(self.url(key)), key.as_str());
        let response = tokio::time::timeout(CALL_TIMEOUT, sent)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "storaged at {} did not answer a GET of {key} within {} s",
                    self.base,
                    CALL_TIMEOUT.as_secs()
                ))
            })??;
        let meta = header_meta(key, response.headers())?;
        let base = self.base.clone();
        let body = response
            .bytes_stream()
            .map_err(move |e| {
                StoreError::Unavailable(format!("reading from storaged at {base}: {e}"))
            })
            .boxed();
        Ok(GetObject { meta, body })
    }

    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        let response = self
            .send(
                self.http
                    .request(Method::HEAD, self.url(key))
                    .timeout(CALL_TIMEOUT),
                key.as_str(),
            )
            .await?;
        header_meta(key, response.headers())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let request = self.http.delete(self.url(key)).timeout(CALL_TIMEOUT);
        self.send(request, key.as_str()).await?;
        Ok(())
    }

    async fn list(&self, prefix: &KeyPrefix) -> Result<Vec<ObjectMeta>, StoreError> {
        let request = self
            .http
            .get(format!("{}/v1/storage", self.base))
            .query(&[("prefix", prefix.as_str())])
            .timeout(CALL_TIMEOUT);
        let response = self.send(request, prefix.as_str()).await?;
        let listing: Listing = response.json().await.map_err(|e| self.unavailable(e))?;
        Ok(listing.keys)
    }

    fn describe(&self) -> String {
        format!("storaged at {}", self.base)
    }

    /// storaged's own `/health`, which probes its store.
    async fn probe(&self) -> Result<(), StoreError> {
        let request = self
            .http
            .get(format!("{}/health", self.base))
            .timeout(PROBE_TIMEOUT);
        let response = self.send(request, "/health").await?;
        let _ = response.bytes().await;
        Ok(())
    }
}
