//! The catalogd HTTP API (docs/api.md), mounted at `/v1/datasets` in both deployments.
//!
//! Handlers parse (a [`DatasetName`] from the path, a [`Commit`] from the body), call the
//! [`Catalog`], and encode. Every rejection — a name that breaks the rules, a body that is
//! not JSON or not a commit — is the JSON error shape with a message saying what and where,
//! never axum's plain-text default.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use storaged::StoreError;

use crate::catalog::Catalog;
use crate::error::CatalogError;
use crate::manifest::{Commit, Committed, Manifest, Version};
use crate::name::DatasetName;

/// Largest commit body. A manifest must stay within one conditional PUT (8 MiB on S3), so
/// a larger commit could not be stored anyway.
pub const MAX_COMMIT_BYTES: usize = 8 << 20;

type Api = State<Arc<dyn Catalog>>;

/// `GET /v1/datasets`. (Structs, not `json!`, so fields keep the manifest's order.)
#[derive(Serialize)]
struct Datasets {
    datasets: Vec<Manifest>,
}

/// `GET /v1/datasets/{name}/versions`: newest first, current included.
#[derive(Serialize)]
struct Versions<'a> {
    name: &'a DatasetName,
    versions: Vec<&'a Version>,
}

/// The `/v1/datasets` routes.
pub fn router(catalog: Arc<dyn Catalog>) -> Router {
    Router::new()
        .route("/v1/datasets", get(list_datasets).post(commit))
        .route(
            "/v1/datasets/{name}",
            get(get_dataset).delete(delete_dataset),
        )
        .route("/v1/datasets/{name}/versions", get(list_versions))
        .method_not_allowed_fallback(common::error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_COMMIT_BYTES))
        .with_state(catalog)
}

fn name_of(path: Result<Path<String>, PathRejection>) -> Result<DatasetName, CatalogError> {
    match path {
        Ok(Path(text)) => text.parse(),
        Err(rejection) => Err(CatalogError::InvalidName {
            name: String::new(),
            reason: format!("in the URL path: {}", rejection.body_text()),
        }),
    }
}

async fn list_datasets(State(catalog): Api) -> Result<Response, CatalogError> {
    let datasets = catalog.list().await?;
    Ok(Json(Datasets { datasets }).into_response())
}

async fn get_dataset(
    State(catalog): Api,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, CatalogError> {
    let manifest = catalog.get(&name_of(path)?).await?;
    Ok(Json(manifest).into_response())
}

async fn list_versions(
    State(catalog): Api,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, CatalogError> {
    let manifest = catalog.get(&name_of(path)?).await?;
    let versions = Versions {
        name: &manifest.name,
        versions: manifest.all_versions().collect(),
    };
    Ok(Json(versions).into_response())
}

async fn delete_dataset(
    State(catalog): Api,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, CatalogError> {
    catalog.delete(&name_of(path)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/datasets` with a `location`: register an external table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    name: DatasetName,
    location: String,
}

/// `POST /v1/datasets`: a commit, or — a body with a `location` — a registration.
async fn commit(
    State(catalog): Api,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, CatalogError> {
    let Json(body) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            StoreError::TooLarge(format!(
                "the commit body is larger than {MAX_COMMIT_BYTES} bytes"
            ))
            .into()
        } else {
            CatalogError::BadCommit(format!("request body: {}", e.body_text()))
        }
    })?;
    let bad = |e: serde_path_to_error::Error<serde_json::Error>| {
        CatalogError::BadCommit(format!("request body: {e}"))
    };
    if body.get("location").is_some() {
        let register: Register = serde_path_to_error::deserialize(body).map_err(bad)?;
        let manifest = catalog.register(&register.name, &register.location).await?;
        return Ok((StatusCode::CREATED, Json(manifest.head())).into_response());
    }
    let commit: Commit = serde_path_to_error::deserialize(body).map_err(bad)?;
    Ok(match catalog.commit(commit).await? {
        Committed::Created(m) => (StatusCode::CREATED, Json(m.head())).into_response(),
        Committed::Existing(m) => (StatusCode::OK, Json(m.head())).into_response(),
    })
}
