//! [`IngestError`]: every way an ingest fails, each mapped to one status and a stable code
//! (the `IntoResponse` impl below). Whatever the error, nothing was registered. A dataset
//! that exists (`mode=create`) or an append of another schema is the catalog's error
//! ([`CatalogError::Exists`], [`CatalogError::SchemaMismatch`]), as a commit would give it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use catalogd::CatalogError;
use storaged::StoreError;

use crate::convert::csv::convert::TypeError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    InvalidOption(String),
    #[error("the body is empty: send a CSV with a header line")]
    EmptyBody,
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
    #[error("line {line} has {found} fields, but the header has {expected}")]
    Ragged {
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error("{0}")]
    Type(TypeError),
    #[error(
        "the body is larger than the {limit}-byte limit ([ingestd] max_ingest_bytes; a gzip \
         body counts what it decodes to)"
    )]
    TooLarge { limit: u64 },
    #[error(
        "the gzip body decodes to more than {ratio} times its size ([ingestd] max_gzip_ratio): \
         refused as a decompression bomb; raise the limit, or send it uncompressed"
    )]
    GzipRatio { ratio: u64 },
    #[error(
        "the upload has {columns} columns; a dataset may have at most {limit} \
         ([ingestd] max_columns)"
    )]
    TooManyColumns { columns: usize, limit: usize },
    #[error("the body is not valid gzip: {0}")]
    BadGzip(String),
    #[error("the body is not a readable Parquet file: {0}")]
    BadParquet(String),
    #[error(
        "column {column:?} has type {data_type}, which a dataset cannot hold (int, float, boolean, date, timestamp and string columns can)"
    )]
    UnsupportedColumn { column: String, data_type: String },
    #[error("reading the request body failed: {0}")]
    Body(String),
    #[error("unsupported Content-Type {0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Partitioning(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl IngestError {
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::InvalidOption(_) => "invalid_option",
            IngestError::EmptyBody => "empty_body",
            IngestError::Malformed { .. } => "malformed_csv",
            IngestError::Ragged { .. } => "ragged_row",
            IngestError::Type(_) => "type_mismatch",
            IngestError::TooLarge { .. } | IngestError::GzipRatio { .. } => "too_large",
            IngestError::TooManyColumns { .. } => "too_many_columns",
            IngestError::BadGzip(_) => "invalid_gzip",
            IngestError::BadParquet(_) => "invalid_parquet",
            IngestError::UnsupportedColumn { .. } => "unsupported_type",
            IngestError::Body(_) => "body_read_failed",
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::Catalog(e) => e.code(),
            IngestError::Store(e) => e.code(),
            IngestError::Partitioning(_) => "invalid_partitioning",
            IngestError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::InvalidOption(_)
            | IngestError::EmptyBody
            | IngestError::Malformed { .. }
            | IngestError::Ragged { .. }
            | IngestError::BadGzip(_)
            | IngestError::BadParquet(_)
            | IngestError::Body(_) => StatusCode::BAD_REQUEST,
            IngestError::Type(_)
            | IngestError::UnsupportedColumn { .. }
            | IngestError::TooManyColumns { .. }
            | IngestError::Partitioning(_) => StatusCode::UNPROCESSABLE_ENTITY,
            IngestError::TooLarge { .. } | IngestError::GzipRatio { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            IngestError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::Catalog(e) => e.status(),
            IngestError::Store(e) => e.status(),
            IngestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::write::PartError> for IngestError {
    fn from(e: crate::write::PartError) -> Self {
        match e {
            crate::write::PartError::Store(e) => IngestError::Store(e),
            crate::write::PartError::Parquet(e) => IngestError::Internal(e.to_string()),
            crate::write::PartError::Partitioning(m) => IngestError::Partitioning(m),
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "ingest failed");
        }
        // A catalog's or store's error keeps the structured fields it has on their routes.
        let fields = match &self {
            IngestError::Catalog(e) => e.fields(),
            IngestError::Store(e) => e.fields(),
            _ => serde_json::Map::new(),
        };
        common::error::error_response_with(status, self.code(), self.to_string(), fields)
    }
}
