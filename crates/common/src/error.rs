//! The error body every service answers with: `{"error": {"code", "message", ...}}`.
//!
//! Each service crate has its own error enum and writes its wire table once, next to the
//! enum: the status, the stable snake_case code, and the structured fields an error carries
//! beside its message (the key or name it is about, a reason, a schema's differences). A
//! client decodes the error back from the code and those fields, never from the message
//! text, so both wirings of a seam return the same variants.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The wire shape of an error; also what HTTP clients decode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// Structured fields beside the message (`key`, `name`, `reason`, `differences`, ...).
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl ErrorDetail {
    /// The string field `name`, or empty.
    pub fn text(&self, name: &str) -> String {
        self.fields
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

/// Builds a map of an error's structured fields from `(name, value)` pairs.
pub fn fields<const N: usize>(
    pairs: [(&str, serde_json::Value); N],
) -> serde_json::Map<String, serde_json::Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// An error and its causes as one line, `outer: cause: cause` (many errors, reqwest's
/// among them, print only the outermost in `Display`).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Builds the JSON error response.
pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    error_response_with(status, code, message, serde_json::Map::new())
}

/// Builds the JSON error response with structured fields beside the message.
pub fn error_response_with(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    fields: serde_json::Map<String, serde_json::Value>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_string(),
            message: message.into(),
            fields,
        },
    };
    (status, Json(body)).into_response()
}

/// 405 for a method a route does not take, as JSON like every other error.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// 404 for a path no service owns.
pub async fn route_not_found(uri: axum::http::Uri) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no route for {}", uri.path()),
    )
}
