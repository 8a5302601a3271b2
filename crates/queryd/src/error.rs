//! Query errors: one enum for both front ends. HTTP maps each to a status and a stable
//! code ([`QueryError::status`], [`QueryError::code`]); the PostgreSQL front end maps each
//! to a SQLSTATE ([`QueryError::sqlstate`]).

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use catalogd::CatalogError;
use datafusion::arrow::error::ArrowError;
use datafusion::common::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueryError {
    /// The SQL does not parse; `line`/`column` (1-based) locate the problem when known.
    #[error("syntax error: {message}")]
    Syntax {
        message: String,
        line: Option<u64>,
        column: Option<u64>,
    },
    /// A statement that would write, or read outside the catalog; `kind` names it
    /// (`INSERT`, `CREATE EXTERNAL TABLE`, `a file path as a table`, ...).
    #[error("queries are read-only: {kind} is not allowed{}", detail_suffix(.detail))]
    ReadOnly { kind: String, detail: String },
    #[error("table {name:?} not found{}", suggestion_suffix(.suggestions))]
    UnknownTable {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("dataset {dataset:?} has no kept version {version} (kept: {})", list(.kept))]
    UnknownVersion {
        dataset: String,
        version: u64,
        kept: Vec<u64>,
    },
    /// The query is well-formed SQL but cannot be planned (unknown column, type mismatch,
    /// unsupported feature, several statements in one request).
    #[error("{0}")]
    Invalid(String),
    /// Execution failed on the data (a failed cast, division by zero, ...).
    #[error("{0}")]
    Failed(String),
    #[error(
        "the query ran longer than its limit of {}s ([queryd] query_timeout) and was stopped",
        .limit.as_secs_f64()
    )]
    Timeout { limit: Duration },
    #[error(
        "the query needed more memory than its limit ([queryd] query_memory_limit) and was stopped: {0}"
    )]
    MemoryExceeded(String),
    /// Every query slot stayed taken for the whole queue wait.
    #[error(
        "the server is running as many queries as it may ([queryd] max_concurrent_queries) and none finished within {}s ([queryd] query_queue_timeout); retry later",
        .waited.as_secs_f64()
    )]
    Busy { waited: Duration },
    /// The request itself is unusable (not JSON, unknown format).
    #[error("{0}")]
    BadRequest(String),
    /// The catalog (catalogd, or the manifests in the store) failed.
    #[error("catalog: {message}")]
    Catalog {
        status: u16,
        code: &'static str,
        message: String,
    },
    /// Reading data files failed (the store is down, a file is missing).
    #[error("reading data: {0}")]
    Store(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

fn suggestion_suffix(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        names => format!(
            "; did you mean {}?",
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

fn list(values: &[u64]) -> String {
    values
        .iter()
        .map(|v| format!("v{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<CatalogError> for QueryError {
    fn from(e: CatalogError) -> QueryError {
        QueryError::Catalog {
            status: e.status().as_u16(),
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<QueryError> for DataFusionError {
    fn from(e: QueryError) -> DataFusionError {
        DataFusionError::External(Box::new(e))
    }
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> QueryError {
        classify(&e)
    }
}

/// Finds what a DataFusion error is really about: ours (raised by a table provider and
/// wrapped on the way out), or DataFusion's own, by kind.
fn classify(e: &DataFusionError) -> QueryError {
    match e {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            classify(inner)
        }
        DataFusionError::Shared(inner) => classify(inner),
        DataFusionError::Collection(errors) => match errors.first() {
            Some(first) => classify(first),
            None => QueryError::Internal(e.to_string()),
        },
        DataFusionError::External(inner) => classify_boxed(inner.as_ref(), e),
        DataFusionError::ArrowError(inner, _) => match inner.as_ref() {
            ArrowError::ExternalError(boxed) => classify_boxed(boxed.as_ref(), e),
            ArrowError::MemoryError(m) => QueryError::MemoryExceeded(m.clone()),
            _ => QueryError::Failed(strip(e)),
        },
        DataFusionError::SQL(parser, _) => syntax(parser),
        DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_) => QueryError::Invalid(strip(e)),
        DataFusionError::Execution(_) | DataFusionError::ParquetError(_) => {
            QueryError::Failed(strip(e))
        }
        DataFusionError::ResourcesExhausted(m) => QueryError::MemoryExceeded(m.clone()),
        DataFusionError::ObjectStore(inner) => QueryError::Store(inner.to_string()),
        DataFusionError::IoError(_)
        | DataFusionError::ExecutionJoin(_)
        | DataFusionError::Internal(_)
        | DataFusionError::Substrait(_)
        | DataFusionError::Ffi(_) => QueryError::Internal(e.to_string()),
    }
}

fn classify_boxed(
    inner: &(dyn std::error::Error + Send + Sync + 'static),
    outer: &DataFusionError,
) -> QueryError {
    if let Some(ours) = inner.downcast_ref::<QueryError>() {
        ours.clone()
    } else if let Some(df) = inner.downcast_ref::<DataFusionError>() {
        classify(df)
    } else if let Some(store) = inner.downcast_ref::<object_store::Error>() {
        QueryError::Store(store.to_string())
    } else {
        QueryError::Failed(strip(outer))
    }
}

/// DataFusion's message without its kind prefix ("Error during planning: ").
fn strip(e: &DataFusionError) -> String {
    e.message().to_string()
}

/// Places a syntax error that sqlparser reports without a position ("found: EOF") at
/// the end of `sql`.
pub fn locate_at_end(error: QueryError, sql: &str) -> QueryError {
    match error {
        QueryError::Syntax {
            message,
            line: None,
            column: None,
        } if message.ends_with("found: EOF") => {
            let trimmed = sql.trim_end();
            let line = trimmed.lines().count().max(1) as u64;
            let column = trimmed.lines().last().map_or(0, |l| l.chars().count()) as u64 + 1;
            QueryError::Syntax {
                message: format!("{message} at Line: {line}, Column: {column}"),
                line: Some(line),
                column: Some(column),
            }
        }
        other => other,
    }
}

fn syntax(e: &ParserError) -> QueryError {
    let message = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "the query nests too deeply".to_string(),
    };
    let (line, column) = position(&message);
    QueryError::Syntax {
        message,
        line,
        column,
    }
}

/// sqlparser ends its messages with "at Line: L, Column: C".
fn position(message: &str) -> (Option<u64>, Option<u64>) {
    let number_after = |label: &str| {
        let start = message.rfind(label)? + label.len();
        let digits: String = message[start..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    };
    (number_after("Line: "), number_after("Column: "))
}

impl QueryError {
    /// A query whose parsing [`crate::dialect::LakehouseDialect`] stopped: deep nestings
    /// that do not parse make sqlparser retry every level.
    pub fn too_complex(why: crate::dialect::Refused) -> QueryError {
        let limit = match why {
            crate::dialect::Refused::Fuel => "too many retries".to_string(),
            crate::dialect::Refused::Time => format!(
                "more than {} s",
                crate::dialect::LakehouseDialect::TIME_LIMIT.as_secs()
            ),
        };
        QueryError::Syntax {
            message: format!(
                "the query nests too deeply to parse ({limit}: deeply nested calls, casts or \
                 arrays that do not parse make the parser retry every level); look for the \
                 syntax error in the innermost levels"
            ),
            line: None,
            column: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            QueryError::Syntax { .. } | QueryError::Invalid(_) | QueryError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            QueryError::ReadOnly { .. } => StatusCode::FORBIDDEN,
            QueryError::UnknownTable { .. } | QueryError::UnknownVersion { .. } => {
                StatusCode::NOT_FOUND
            }
            QueryError::Failed(_) | QueryError::MemoryExceeded(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            QueryError::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            QueryError::Catalog { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            QueryError::Store(_) | QueryError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            QueryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable snake_case code on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Syntax { .. } => "syntax_error",
            QueryError::ReadOnly { .. } => "read_only",
            QueryError::UnknownTable { .. } => "unknown_table",
            QueryError::UnknownVersion { .. } => "unknown_version",
            QueryError::Invalid(_) => "invalid_query",
            QueryError::Failed(_) => "query_failed",
            QueryError::Timeout { .. } => "query_timeout",
            QueryError::MemoryExceeded(_) => "query_memory_exceeded",
            QueryError::Busy { .. } => "too_many_queries",
            QueryError::BadRequest(_) => "bad_request",
            QueryError::Catalog { code, .. } => code,
            QueryError::Store(_) => "store_unavailable",
            QueryError::Internal(_) => "internal",
        }
    }

    /// The PostgreSQL error code (SQLSTATE) closest in meaning.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            QueryError::Syntax { .. } => "42601",
            QueryError::ReadOnly { .. } => "25006",
            QueryError::UnknownTable { .. } | QueryError::UnknownVersion { .. } => "42P01",
            QueryError::Invalid(m) if m.contains("No field named") => "42703",
            QueryError::Invalid(m) if m.contains("Invalid function") => "42883",
            QueryError::Invalid(_) => "42000",
            QueryError::Failed(m) if m.contains("Divide by zero") => "22012",
            QueryError::Failed(m) if m.contains("Cast error") || m.contains("Cannot cast") => {
                "22P02"
            }
            QueryError::Failed(_) => "22000",
            QueryError::Timeout { .. } => "57014",
            QueryError::MemoryExceeded(_) => "53200",
            QueryError::Busy { .. } => "53000",
            QueryError::BadRequest(_) => "08P01",
            QueryError::Catalog { status: 404, .. } => "42P01",
            QueryError::Catalog { .. } | QueryError::Store(_) => "58000",
            QueryError::Internal(_) => "XX000",
        }
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "query failed");
        }
        let message = self.to_string();
        match self {
            QueryError::Busy { .. } => {
                let mut response = common::error::error_response(status, self.code(), message);
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("1"),
                );
                response
            }
            QueryError::Syntax {
                line: Some(line),
                column: Some(column),
                ..
            } => {
                let body = serde_json::json!({"error": {
                    "code": "syntax_error",
                    "message": message,
                    "line": line,
                    "column": column,
                }});
                (status, axum::Json(body)).into_response()
            }
            QueryError::UnknownTable { name, suggestions } => {
                let body = serde_json::json!({"error": {
                    "code": "unknown_table",
                    "message": message,
                    "table": name,
                    "suggestions": suggestions,
                }});
                (status, axum::Json(body)).into_response()
            }
            other => common::error::error_response(status, other.code(), message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlparser_positions() {
        assert_eq!(
            position("Expected: an expression, found: FROM at Line: 1, Column: 8"),
            (Some(1), Some(8))
        );
        assert_eq!(position("no position"), (None, None));
    }

    #[test]
    fn our_errors_survive_datafusion_wrapping() {
        let ours = QueryError::UnknownTable {
            name: "trip".into(),
            suggestions: vec!["trips".into()],
        };
        let wrapped = DataFusionError::Context(
            "while planning".into(),
            Box::new(DataFusionError::from(ours)),
        );
        let back = QueryError::from(wrapped);
        assert_eq!(back.code(), "unknown_table");
        assert_eq!(
            back.to_string(),
            "table \"trip\" not found; did you mean \"trips\"?"
        );
    }
}
