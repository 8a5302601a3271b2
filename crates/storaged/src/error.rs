//! [`StoreError`]: every way a store operation fails, typed, so callers branch on the
//! variant (a missing object is `NotFound`, never a string match). Its wire table is
//! written once, here: [`StoreError::code`], [`StoreError::status`] and
//! [`StoreError::fields`] on the way out, [`StoreError::from_wire`] on the way back, so the
//! HTTP client returns the variants the in-process store does.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::error::{ErrorDetail, fields};
use serde_json::{Map, Value};

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
    /// A byte range that starts at or past the object's end.
    #[error("object {key:?} has {size} bytes: the range asked for starts past its end")]
    RangeNotSatisfiable { key: String, size: u64 },
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
            StoreError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
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
            StoreError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            StoreError::BadRequest(_) => StatusCode::BAD_REQUEST,
            StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The structured fields beside the message: what [`StoreError::from_wire`] needs
    /// besides the code to give back this variant.
    pub fn fields(&self) -> Map<String, Value> {
        match self {
            StoreError::NotFound { key } => fields([("key", key.as_str().into())]),
            StoreError::InvalidKey { key, reason } => fields([
                ("key", key.as_str().into()),
                ("reason", reason.as_str().into()),
            ]),
            StoreError::RangeNotSatisfiable { key, size } => {
                fields([("key", key.as_str().into()), ("size", (*size).into())])
            }
            StoreError::Internal(reason) => fields([("reason", reason.as_str().into())]),
            _ => Map::new(),
        }
    }

    /// The error a response encodes (`status` and its body's `error` object): the inverse
    /// of the `IntoResponse` impl. A code this enum does not have (a gateway's own error)
    /// is `Unavailable` when answered 503, `Internal` otherwise, its words kept.
    pub fn from_wire(status: StatusCode, detail: ErrorDetail) -> StoreError {
        let message = detail.message.clone();
        match detail.code.as_str() {
            "not_found" => StoreError::NotFound {
                key: detail.text("key"),
            },
            "invalid_key" => StoreError::InvalidKey {
                key: detail.text("key"),
                reason: detail.text("reason"),
            },
            "too_large" => StoreError::TooLarge(message),
            "precondition_failed" => StoreError::PreconditionFailed(message),
            "conflict" => StoreError::Conflict(message),
            "range_not_satisfiable" => StoreError::RangeNotSatisfiable {
                key: detail.text("key"),
                size: detail
                    .fields
                    .get("size")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            },
            "bad_request" => StoreError::BadRequest(message),
            "store_unavailable" | "service_unavailable" => StoreError::Unavailable(message),
            "internal" => StoreError::Internal(detail.text("reason")),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => StoreError::Unavailable(message),
            code => StoreError::Internal(format!("answered {status} {code}: {message}")),
        }
    }
}

impl IntoResponse for StoreError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::warn!(error = %self, "storage request failed");
        }
        common::error::error_response_with(
            self.status(),
            self.code(),
            self.to_string(),
            self.fields(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, through its response and back.
    #[tokio::test]
    async fn every_error_decodes_to_the_variant_it_was() {
        let all = [
            StoreError::NotFound { key: "a/b".into() },
            StoreError::InvalidKey {
                key: "a//b".into(),
                reason: "empty segment".into(),
            },
            StoreError::too_large(5),
            StoreError::PreconditionFailed("If-Match did not hold".into()),
            StoreError::Conflict("a is an object".into()),
            StoreError::RangeNotSatisfiable {
                key: "a/b".into(),
                size: 3,
            },
            StoreError::BadRequest("body broke off".into()),
            StoreError::Unavailable("S3 is down".into()),
            StoreError::Internal("disk on fire".into()),
        ];
        for error in all {
            let (code, text) = (error.code(), error.to_string());
            let response = error.into_response();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let body: common::ErrorBody = serde_json::from_slice(&body).unwrap();
            let back = StoreError::from_wire(status, body.error);
            assert_eq!((back.code(), back.to_string()), (code, text));
        }
    }
}
