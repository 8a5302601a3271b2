//! [`VectorError`]: every way a vectord operation fails, typed. The one mapping to HTTP
//! status and code is [`VectorError::status`] / [`VectorError::code`] and the
//! `IntoResponse` impl below.
//!
//! Messages say what and where: a refused batch names the item's position in `items` (and
//! its id when it has a usable one) and the rule it broke, so a client can fix its input
//! without guessing.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use storaged::StoreError;

use crate::format::FormatError;

#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error("invalid index name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    /// The request body is not what the route takes (malformed JSON, an unknown field, a
    /// parameter out of range).
    #[error("{0}")]
    BadRequest(String),
    /// One item of an add batch breaks a rule; nothing of the batch was applied.
    #[error("item {item}{}: {reason}", id_suffix(id.as_deref()))]
    InvalidItem {
        /// Position in `items`, from 0.
        item: usize,
        id: Option<String>,
        reason: String,
    },
    /// The search request's vector, `k`, `ef` or `filter` is unusable.
    #[error("{0}")]
    InvalidQuery(String),
    #[error("index {name:?} not found")]
    IndexNotFound { name: String },
    #[error("index {name:?} has no item {id:?}")]
    ItemNotFound { name: String, id: String },
    #[error("index {name:?} already exists")]
    IndexExists { name: String },
    /// The index's stored file (or its log) exists but does not load; it is kept untouched
    /// for an operator to inspect, and only `DELETE /v1/vectors/{name}` removes it.
    #[error(
        "index {name:?} exists in the store but could not be loaded ({reason}); \
         it is left untouched: inspect it, or DELETE the index to remove it"
    )]
    Unreadable { name: String, reason: String },
    /// Another process wrote the same log sequence number: two vectord processes are
    /// writing one index. Nothing was applied.
    #[error("{0}")]
    ConcurrentWriter(String),
    #[error("{0}")]
    TooLarge(String),
    /// The batch would take the indexes together past `[vectord] memory_limit`; nothing
    /// of it was applied.
    #[error(
        "adding {items} items needs about {} MiB, and the vector indexes hold {} MiB of their {} MiB budget ([vectord] memory_limit); nothing was added",
        mib(*.needed), mib(*.used), mib(*.limit)
    )]
    MemoryBudget {
        items: usize,
        needed: usize,
        used: usize,
        limit: usize,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bytes read from the store that do not decode (used while loading; `name` is the key).
    #[error("{key}: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: FormatError,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

/// Bytes as MiB with one decimal.
fn mib(bytes: usize) -> String {
    format!("{:.1}", bytes as f64 / (1 << 20) as f64)
}

fn id_suffix(id: Option<&str>) -> String {
    match id {
        Some(id) => format!(" (id {id:?})"),
        None => String::new(),
    }
}

impl VectorError {
    /// The stable snake_case code on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            VectorError::InvalidName { .. } => "invalid_name",
            VectorError::BadRequest(_) => "bad_request",
            VectorError::InvalidItem { .. } => "invalid_item",
            VectorError::InvalidQuery(_) => "invalid_query",
            VectorError::IndexNotFound { .. } => "index_not_found",
            VectorError::ItemNotFound { .. } => "item_not_found",
            VectorError::IndexExists { .. } => "index_exists",
            VectorError::Unreadable { .. } => "index_unreadable",
            VectorError::ConcurrentWriter(_) => "concurrent_writer",
            VectorError::TooLarge(_) => "too_large",
            VectorError::MemoryBudget { .. } => "vector_memory_exceeded",
            VectorError::Store(e) => e.code(),
            VectorError::Corrupt { .. } => "corrupt",
            VectorError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            VectorError::InvalidName { .. }
            | VectorError::BadRequest(_)
            | VectorError::InvalidItem { .. }
            | VectorError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            VectorError::IndexNotFound { .. } | VectorError::ItemNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            VectorError::IndexExists { .. } | VectorError::ConcurrentWriter(_) => {
                StatusCode::CONFLICT
            }
            VectorError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            VectorError::MemoryBudget { .. } => StatusCode::INSUFFICIENT_STORAGE,
            VectorError::Store(e) => e.status(),
            VectorError::Unreadable { .. }
            | VectorError::Corrupt { .. }
            | VectorError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn item(item: usize, id: Option<&str>, reason: impl Into<String>) -> VectorError {
        VectorError::InvalidItem {
            item,
            id: id.map(str::to_string),
            reason: reason.into(),
        }
    }
}

impl IntoResponse for VectorError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "vector request failed");
        }
        common::error_response(status, self.code(), self.to_string())
    }
}

/// A task that ran CPU work or a write to completion panicked or was cancelled.
impl From<tokio::task::JoinError> for VectorError {
    fn from(e: tokio::task::JoinError) -> VectorError {
        VectorError::Internal(format!("a background task failed: {e}"))
    }
}
