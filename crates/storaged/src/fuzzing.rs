//! Entry points for the fuzz targets (`fuzz/` at the repository root): what the HTTP
//! handlers parse from a request's URI, without a server. Not an API: hidden from the docs.

use axum::extract::Query;
use axum::http::Uri;

use crate::error::StoreError;
use crate::key::{KeyPrefix, ObjectKey};

/// The object key of a `/v1/storage/{key}` request, as its handlers read it.
pub fn key_of(uri: &Uri) -> Result<ObjectKey, StoreError> {
    crate::http::key_of(uri)
}

/// The prefix of a `GET /v1/storage?prefix=...` request, extracted as axum does.
pub fn list_prefix(uri: &Uri) -> Result<KeyPrefix, StoreError> {
    crate::http::prefix_of(Query::try_from_uri(uri))
}
