//! The storaged HTTP API (docs/api.md), mounted at `/v1/storage` in both deployments.
//!
//! Handlers parse (key, conditions, size limit), call the [`Store`], and encode. Keys are
//! taken from the raw request path, not axum's decoded capture, so that `%2F` inside a
//! segment stays a literal (see [`crate::key`]).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use crate::error::StoreError;
use crate::key::{KeyPrefix, ObjectKey};
use crate::store::{ByteStream, ObjectMeta, PutMode, Store};

const PREFIX: &str = "/v1/storage/";

/// What the storaged handlers share.
#[derive(Clone)]
pub struct StorageApi {
    pub store: Arc<dyn Store>,
    /// `[storaged] max_object_bytes`.
    pub max_object_bytes: u64,
}

/// The `/v1/storage` routes.
pub fn router(api: StorageApi) -> Router {
    Router::new()
        .route("/v1/storage", get(list_objects))
        .route(
            "/v1/storage/",
            get(empty_key)
                .put(empty_key)
                .head(empty_key)
                .delete(empty_key),
        )
        .route(
            "/v1/storage/{*key}",
            get(get_object)
                .put(put_object)
                .head(head_object)
                .delete(delete_object),
        )
        .method_not_allowed_fallback(common::error::method_not_allowed)
        .with_state(api)
}

pub(crate) fn key_of(uri: &axum::http::Uri) -> Result<ObjectKey, StoreError> {
    let raw = uri.path().strip_prefix(PREFIX).unwrap_or_default();
    ObjectKey::parse(raw).map_err(|e| StoreError::invalid_key(raw, e))
}

async fn empty_key() -> StoreError {
    StoreError::InvalidKey {
        key: String::new(),
        reason: "key is empty".into(),
    }
}

async fn put_object(
    State(api): State<StorageApi>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, StoreError> {
    let key = key_of(&uri)?;
    let mode = put_mode(&headers)?;
    let limit = api.max_object_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(StoreError::too_large(limit));
    }
    let meta = api.store.put(&key, limited(body, limit), mode).await?;
    Ok((StatusCode::CREATED, axum::Json(meta)).into_response())
}

/// The request body as a [`ByteStream`] that fails once it passes `limit` bytes, so a body
/// without (or lying about) Content-Length still cannot exceed it.
fn limited(body: Body, limit: u64) -> ByteStream {
    let mut seen = 0u64;
    body.into_data_stream()
        .map_err(|e| StoreError::BadRequest(format!("request body ended early: {e}")))
        .and_then(move |chunk| {
            seen += chunk.len() as u64;
            let over = seen > limit;
            async move {
                if over {
                    Err(StoreError::too_large(limit))
                } else {
                    Ok(chunk)
                }
            }
        })
        .boxed()
}

fn put_mode(headers: &HeaderMap) -> Result<PutMode, StoreError> {
    let text = |name: header::HeaderName| -> Result<Option<String>, StoreError> {
        headers
            .get(&name)
            .map(|v| {
                v.to_str()
                    .map(str::to_string)
                    .map_err(|_| StoreError::BadRequest(format!("{name} is not valid text")))
            })
            .transpose()
    };
    match (text(header::IF_MATCH)?, text(header::IF_NONE_MATCH)?) {
        (Some(_), Some(_)) => Err(StoreError::BadRequest(
            "send If-Match or If-None-Match, not both".into(),
        )),
        (Some(etag), None) => Ok(PutMode::IfMatch(etag)),
        (None, Some(v)) if v.trim() == "*" => Ok(PutMode::Create),
        (None, Some(v)) => Err(StoreError::BadRequest(format!(
            "If-None-Match on PUT supports only \"*\", got {v:?}"
        ))),
        (None, None) => Ok(PutMode::Overwrite),
    }
}

async fn get_object(
    State(api): State<StorageApi>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, StoreError> {
    let key = key_of(&uri)?;
    let asked = if headers.contains_key(header::IF_RANGE) {
        // (Whether the object is still the one the client has a part of: not checked, so
        // the whole object, which is always right.)
        None
    } else {
        headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_range)
    };
    let range = match asked {
        None => None,
        Some(Asked::From(start, end)) => Some(start..end),
        // The last n bytes: the size first.
        Some(Asked::Last(n)) => {
            let size = api.store.head(&key).await?.size;
            Some(size.saturating_sub(n)..size.max(1))
        }
    };
    let Some(range) = range else {
        let object = api.store.get(&key).await?;
        let mut response = Response::new(Body::from_stream(object.body));
        meta_headers(response.headers_mut(), &object.meta);
        return Ok(response);
    };
    let part = match api.store.get_range(&key, range).await {
        Ok(part) => part,
        Err(StoreError::RangeNotSatisfiable { key, size }) => {
            let mut response = StoreError::RangeNotSatisfiable { key, size }.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
        Err(e) => return Err(e),
    };
    let mut response = Response::new(Body::from_stream(part.body));
    *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    let headers = response.headers_mut();
    meta_headers(headers, &part.meta);
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(part.range.end - part.range.start),
    );
    let content_range = format!(
        "bytes {}-{}/{}",
        part.range.start,
        part.range.end - 1,
        part.meta.size
    );
    if let Ok(v) = HeaderValue::from_str(&content_range) {
        headers.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

/// A `Range` header's one byte range.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    /// `bytes=a-b` (`start..end`, end exclusive) or `bytes=a-` (end `u64::MAX`).
    From(u64, u64),
    /// `bytes=-n`: the last n bytes.
    Last(u64),
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n`. Anything else — another unit, several
/// ranges, `b < a`, `-0` — is `None`, and the whole object is sent, as RFC 9110 lets a
/// server do with a Range it does not take.
fn parse_range(text: &str) -> Option<Asked> {
    let spec = text.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => number(last).filter(|n| *n > 0).map(Asked::Last),
        (false, true) => Some(Asked::From(number(first)?, u64::MAX)),
        (false, false) => {
            let (a, b) = (number(first)?, number(last)?);
            (b >= a).then(|| Asked::From(a, b.saturating_add(1)))
        }
        (true, true) => None,
    }
}

async fn head_object(
    State(api): State<StorageApi>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, StoreError> {
    let key = key_of(&uri)?;
    let meta = api.store.head(&key).await?;
    let mut response = Response::new(Body::empty());
    meta_headers(response.headers_mut(), &meta);
    Ok(response)
}

fn meta_headers(headers: &mut HeaderMap, meta: &ObjectMeta) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let modified = meta
        .last_modified
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(v) = HeaderValue::from_str(&modified) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    if let Some(v) = meta
        .etag
        .as_deref()
        .and_then(|e| HeaderValue::from_str(e).ok())
    {
        headers.insert(header::ETAG, v);
    }
}

async fn delete_object(
    State(api): State<StorageApi>,
    OriginalUri(uri): OriginalUri,
) -> Result<StatusCode, StoreError> {
    let key = key_of(&uri)?;
    api.store.delete(&key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    prefix: String,
}

async fn list_objects(
    State(api): State<StorageApi>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, StoreError> {
    let prefix = prefix_of(query)?;
    let keys = api.store.list(&prefix).await?;
    Ok(axum::Json(serde_json::json!({ "keys": keys })).into_response())
}

/// The LIST prefix of a query string as axum extracted it.
pub(crate) fn prefix_of(
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<KeyPrefix, StoreError> {
    let Query(query) = query.map_err(|e| StoreError::BadRequest(format!("query string: {e}")))?;
    KeyPrefix::parse(&query.prefix).map_err(|e| StoreError::invalid_key(&query.prefix, e))
}
