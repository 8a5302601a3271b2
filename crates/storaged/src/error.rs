//! [`StoreError`]: every way a store operation fails, typed, so callers branch on the
//! variant (a missing object is `NotFound`, never a string match — seed finding O-B1).
//! The one mapping to HTTP status and code is the `IntoResponse` impl below; the HTTP
//! client maps the code back, so both wirings return the same variants.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::key::KeyError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {key:?} not found")]
    NotFound { key: String },
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
    /// The body passed `[storaged] max_object_bytes`; the message names the limit.
    #[error("{0}")]
    TooLarge(String),
    /// `If-Match` / `If-None-Match` did not hold.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The key clashes with other objects' layout on the local backend (`a` is an object
    /// and `a/b` was asked for, or the reverse).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is unusable (a body that broke off, a bad header).
    #[error("{0}")]
    BadRequest(String),
    /// The backing store (S3) or storaged itself cannot be reached; the message names it.
    #[error("{0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn too_large(limit: u64) -> StoreError {
        StoreError::TooLarge(format!(
            "object is larger than the {limit}-byte limit ([storaged] max_object_bytes)"
        ))
    }

    pub fn invalid_key(key: &str, err: KeyError) -> StoreError {
        StoreError::InvalidKey {
            key: key.to_string(),
            reason: err.to_string(),
        }
    }

    /// The stable snake_case code on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "not_found",
            StoreError::InvalidKey { .. } => "invalid_key",
            StoreError::TooLarge(_) => "too_large",
            StoreError::PreconditionFailed(_) => "precondition_failed",
            StoreError::Conflict(_) => "conflict",
            StoreError::BadRequest(_) => "bad_request",
            StoreError::Unavailable(_) => "store_unavailable",
            StoreError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::InvalidKey { .. } => StatusCode::BAD_REQUEST,
            StoreError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            StoreError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::BadRequest(_) => StatusCode::BAD_REQUEST,
            StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for StoreError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::warn!(error = %self, "storage request failed");
        }
        common::error_response(self.status(), self.code(), self.to_string())
    }
}
