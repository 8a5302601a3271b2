//! [`CatalogError`]: every way a catalog operation fails, typed. The one mapping to HTTP
//! status and code is [`CatalogError::status`] / [`CatalogError::code`] and the
//! `IntoResponse` impl below; [`crate::CatalogClient`] maps the code back, so both wirings
//! return the same variants.
//!
//! A schema mismatch's differences travel as an extra `differences` array in the error
//! object (beside `code` and `message`), so the client rebuilds the list exactly.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use storaged::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("invalid dataset name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("dataset {name:?} not found")]
    NotFound { name: String },
    #[error("dataset {name:?} already exists (use mode overwrite or append)")]
    Exists { name: String },
    #[error("the upload's schema does not match dataset {name:?}: {}", differences.join("; "))]
    SchemaMismatch {
        name: String,
        differences: Vec<String>,
    },
    /// Other writers kept changing the manifest; nothing was written. Safe to retry.
    #[error("{0}")]
    ConcurrentUpdate(String),
    /// The commit itself is unusable (a file outside the dataset, a malformed body).
    #[error("{0}")]
    BadCommit(String),
    /// A stored manifest that does not decode; `key` names it.
    #[error("manifest {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CatalogError {
    /// The stable snake_case code on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            CatalogError::InvalidName { .. } => "invalid_name",
            CatalogError::NotFound { .. } => "dataset_not_found",
            CatalogError::Exists { .. } => "dataset_exists",
            CatalogError::SchemaMismatch { .. } => "schema_mismatch",
            CatalogError::ConcurrentUpdate(_) => "concurrent_update",
            CatalogError::BadCommit(_) => "bad_commit",
            CatalogError::Corrupt { .. } => "corrupt_manifest",
            CatalogError::Store(e) => e.code(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            CatalogError::InvalidName { .. } | CatalogError::BadCommit(_) => {
                StatusCode::BAD_REQUEST
            }
            CatalogError::NotFound { .. } => StatusCode::NOT_FOUND,
            CatalogError::Exists { .. }
            | CatalogError::SchemaMismatch { .. }
            | CatalogError::ConcurrentUpdate(_) => StatusCode::CONFLICT,
            CatalogError::Corrupt { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            CatalogError::Store(e) => e.status(),
        }
    }
}

impl IntoResponse for CatalogError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "catalog request failed");
        }
        let message = self.to_string();
        match self {
            CatalogError::SchemaMismatch { differences, .. } => {
                let body = serde_json::json!({"error": {
                    "code": "schema_mismatch",
                    "message": message,
                    "differences": differences,
                }});
                (status, axum::Json(body)).into_response()
            }
            other => common::error_response(status, other.code(), message),
        }
    }
}
