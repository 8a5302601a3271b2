//! [`CatalogError`]: every way a catalog operation fails, typed. Its wire table is written
//! once, here: [`CatalogError::code`], [`CatalogError::status`] and
//! [`CatalogError::fields`] on the way out, [`CatalogError::from_wire`] on the way back, so
//! [`crate::CatalogClient`] returns the variants the in-process catalog does.
//!
//! The fields beside the message carry what a variant holds: the dataset `name`, a
//! `reason`, a corrupt manifest's `key`, a schema mismatch's `differences` (an array), so
//! the client rebuilds each exactly.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::error::{ErrorDetail, fields};
use serde_json::{Map, Value};
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
    /// A table lakehouse reads but does not write (`reason` names what it does not write).
    #[error("dataset {name:?} is read-only to lakehouse: {reason}")]
    ReadOnly { name: String, reason: String },
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
            CatalogError::ReadOnly { .. } => "read_only_table",
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
            | CatalogError::ReadOnly { .. }
            | CatalogError::ConcurrentUpdate(_) => StatusCode::CONFLICT,
            CatalogError::Corrupt { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            CatalogError::Store(e) => e.status(),
        }
    }
}

impl CatalogError {
    /// The structured fields beside the message (a store error's own, for `Store`).
    pub fn fields(&self) -> Map<String, Value> {
        match self {
            CatalogError::InvalidName { name, reason } => fields([
                ("name", name.as_str().into()),
                ("reason", reason.as_str().into()),
            ]),
            CatalogError::NotFound { name } | CatalogError::Exists { name } => {
                fields([("name", name.as_str().into())])
            }
            CatalogError::SchemaMismatch { name, differences } => fields([
                ("name", name.as_str().into()),
                ("differences", differences.clone().into()),
            ]),
            CatalogError::Corrupt { key, reason } => fields([
                ("key", key.as_str().into()),
                ("reason", reason.as_str().into()),
            ]),
            CatalogError::ReadOnly { name, reason } => fields([
                ("name", name.as_str().into()),
                ("reason", reason.as_str().into()),
            ]),
            CatalogError::ConcurrentUpdate(_) | CatalogError::BadCommit(_) => Map::new(),
            CatalogError::Store(e) => e.fields(),
        }
    }

    /// The error a response encodes: the inverse of the `IntoResponse` impl; a code that is
    /// not the catalog's own is a store error's ([`StoreError::from_wire`]).
    pub fn from_wire(status: StatusCode, detail: ErrorDetail) -> CatalogError {
        let name = detail.text("name");
        match detail.code.as_str() {
            "invalid_name" => CatalogError::InvalidName {
                name,
                reason: detail.text("reason"),
            },
            "dataset_not_found" => CatalogError::NotFound { name },
            "dataset_exists" => CatalogError::Exists { name },
            "schema_mismatch" => CatalogError::SchemaMismatch {
                name,
                differences: detail
                    .fields
                    .get("differences")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect(),
            },
            "read_only_table" => CatalogError::ReadOnly {
                name,
                reason: detail.text("reason"),
            },
            "concurrent_update" => CatalogError::ConcurrentUpdate(detail.message),
            "bad_commit" => CatalogError::BadCommit(detail.message),
            "corrupt_manifest" => CatalogError::Corrupt {
                key: detail.text("key"),
                reason: detail.text("reason"),
            },
            _ => CatalogError::Store(StoreError::from_wire(status, detail)),
        }
    }
}

impl IntoResponse for CatalogError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "catalog request failed");
        }
        common::error::error_response_with(status, self.code(), self.to_string(), self.fields())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, through its response and back.
    #[tokio::test]
    async fn every_error_decodes_to_the_variant_it_was() {
        let all = [
            CatalogError::InvalidName {
                name: "1x".into(),
                reason: "starts with a digit".into(),
            },
            CatalogError::NotFound {
                name: "sales".into(),
            },
            CatalogError::Exists {
                name: "sales".into(),
            },
            CatalogError::SchemaMismatch {
                name: "sales".into(),
                differences: vec!["column a: int64 vs utf8".into(), "b missing".into()],
            },
            CatalogError::ReadOnly {
                name: "ext".into(),
                reason: "the table uses deletion vectors".into(),
            },
            CatalogError::ConcurrentUpdate("gave up after 8 tries".into()),
            CatalogError::BadCommit("a file outside the dataset".into()),
            CatalogError::Corrupt {
                key: "_catalog/sales.json".into(),
                reason: "expected value at line 1".into(),
            },
            CatalogError::Store(StoreError::Unavailable("S3 is down".into())),
            CatalogError::Store(StoreError::NotFound { key: "a".into() }),
        ];
        for error in all {
            let (code, text) = (error.code(), error.to_string());
            let response = error.into_response();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let body: common::ErrorBody = serde_json::from_slice(&body).unwrap();
            let back = CatalogError::from_wire(status, body.error);
            assert_eq!((back.code(), back.to_string()), (code, text));
        }
    }
}
