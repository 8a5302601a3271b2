//! The vectord HTTP API (docs/api.md), mounted at `/v1/vectors` in both deployments.
//!
//! Handlers parse (names from the path, bodies read as bytes and parsed by
//! [`crate::validate`], so every rejection is our JSON error shape with a position), call
//! [`Vectors`], and encode. Bodies are capped at [`DEFAULT_MAX_BODY_BYTES`] (or the limit
//! given to [`router_with_limit`]); a larger one is 413.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::error::VectorError;
use crate::index::Hit;
use crate::registry::{IndexSummary, Vectors};
use crate::validate::{CreateRequest, SearchRequest, parse_add, parse_json};

/// Largest request body: 64 MiB (an add of ~100,000 vectors of dimension 128).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

#[derive(Clone)]
struct Api {
    vectors: Vectors,
    max_body: usize,
}

#[derive(Serialize)]
struct Indexes {
    indexes: Vec<IndexSummary>,
}

#[derive(Serialize)]
struct Results {
    results: Vec<Hit>,
}

/// The `/v1/vectors` routes with the default body limit.
pub fn router(vectors: Vectors) -> Router {
    router_with_limit(vectors, DEFAULT_MAX_BODY_BYTES)
}

/// The `/v1/vectors` routes, refusing bodies over `max_body` bytes with 413.
pub fn router_with_limit(vectors: Vectors, max_body: usize) -> Router {
    Router::new()
        .route("/v1/vectors", get(list).post(create))
        .route("/v1/vectors/{name}", get(info).delete(drop_index))
        .route("/v1/vectors/{name}/add", post(add))
        .route("/v1/vectors/{name}/search", post(search))
        .route("/v1/vectors/{name}/items/{id}", delete(delete_item))
        .method_not_allowed_fallback(common::error::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(Api { vectors, max_body })
}

fn body_of(api: &Api, body: Result<Bytes, BytesRejection>) -> Result<Bytes, VectorError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            VectorError::TooLarge(format!(
                "the request body is larger than {} bytes; send the items in smaller batches",
                api.max_body
            ))
        } else {
            VectorError::BadRequest(format!("request body: {}", e.body_text()))
        }
    })
}

fn path_error(rejection: PathRejection) -> VectorError {
    VectorError::BadRequest(format!("in the URL path: {}", rejection.body_text()))
}

async fn list(State(api): State<Api>) -> Json<Indexes> {
    Json(Indexes {
        indexes: api.vectors.list(),
    })
}

async fn create(
    State(api): State<Api>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, VectorError> {
    let request: CreateRequest = parse_json(&body_of(&api, body)?)?;
    let info = api.vectors.create(&request).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

async fn info(
    State(api): State<Api>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, VectorError> {
    let Path(name) = path.map_err(path_error)?;
    Ok(Json(api.vectors.info(&name)?).into_response())
}

async fn drop_index(
    State(api): State<Api>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, VectorError> {
    let Path(name) = path.map_err(path_error)?;
    api.vectors.drop_index(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add(
    State(api): State<Api>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, VectorError> {
    let Path(name) = path.map_err(path_error)?;
    let body = body_of(&api, body)?;
    // Parsing a large batch is CPU work: off the reactor.
    let request = tokio::task::spawn_blocking(move || parse_add(&body)).await??;
    Ok(Json(api.vectors.add(&name, request).await?).into_response())
}

async fn search(
    State(api): State<Api>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, VectorError> {
    let Path(name) = path.map_err(path_error)?;
    let request: SearchRequest = parse_json(&body_of(&api, body)?)?;
    let results = api.vectors.search(&name, request).await?;
    Ok(Json(Results { results }).into_response())
}

async fn delete_item(
    State(api): State<Api>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, VectorError> {
    let Path((name, id)) = path.map_err(path_error)?;
    api.vectors.delete_item(&name, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
