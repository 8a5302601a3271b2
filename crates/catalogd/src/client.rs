//! [`CatalogClient`]: the [`Catalog`] over catalogd's HTTP API, for services of a split
//! deployment. Errors come back as the same [`CatalogError`] variants the in-process
//! catalog returns, decoded from the JSON error code, never from message text.

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use storaged::StoreError;

use crate::catalog::{Catalog, manifest_key};
use crate::error::CatalogError;
use crate::manifest::{Commit, Committed, Manifest};
use crate::name::DatasetName;

/// An HTTP client for one catalogd (or a gateway in front of it).
#[derive(Clone, Debug)]
pub struct CatalogClient {
    http: reqwest::Client,
    base: String,
    /// `Authorization: Bearer KEY` when the deployment has an API key.
    auth: Option<reqwest::header::HeaderValue>,
}

/// The error body, with the `differences` a schema mismatch carries.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    differences: Vec<String>,
}

#[derive(Deserialize)]
struct Listing {
    datasets: Vec<Manifest>,
}

impl CatalogClient {
    /// `base` is the service's URL, e.g. `http://127.0.0.1:3212`.
    pub fn new(base: &str) -> CatalogClient {
        // A catalogd that hangs must not hold an ingest (and its dataset's lock) forever;
        // every catalog call is small, so a minute is generous.
        let http = common::tls::http_client()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        CatalogClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            auth: None,
        }
    }

    /// Sends the deployment's API key with every request (`None`: no key).
    pub fn with_api_key(mut self, key: Option<&str>) -> CatalogClient {
        self.auth = common::auth::bearer_header(key);
        self
    }

    fn url(&self, name: &DatasetName) -> String {
        // A dataset name needs no escaping in a URL path.
        format!("{}/v1/datasets/{name}", self.base)
    }

    /// Sends `request`; a non-2xx answer becomes the error it encodes. `name` is the dataset
    /// the request is about (for the variants that name it).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        name: &str,
    ) -> Result<reqwest::Response, CatalogError> {
        let request = match &self.auth {
            Some(auth) => request.header(reqwest::header::AUTHORIZATION, auth.clone()),
            None => request,
        };
        let response = request.send().await.map_err(|e| {
            StoreError::Unavailable(format!("catalogd at {} is unreachable: {e}", self.base))
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(decode_error(response, &self.base, name).await)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, CatalogError> {
        response.json().await.map_err(|e| {
            StoreError::Unavailable(format!(
                "catalogd at {} sent an unreadable answer: {e}",
                self.base
            ))
            .into()
        })
    }
}

async fn decode_error(response: reqwest::Response, base: &str, name: &str) -> CatalogError {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(&body) else {
        let text = String::from_utf8_lossy(&body);
        let message = format!("catalogd answered {status}: {text}");
        return match status {
            StatusCode::UNAUTHORIZED => storaged::client::refused_key(base, &message).into(),
            s if s.is_server_error() => StoreError::Unavailable(message).into(),
            _ => StoreError::Internal(message).into(),
        };
    };
    let name = name.to_string();
    let ErrorDetail {
        code,
        message,
        differences,
    } = error;
    match code.as_str() {
        "invalid_name" => CatalogError::InvalidName {
            name,
            reason: message,
        },
        "dataset_not_found" => CatalogError::NotFound { name },
        "unauthorized" => storaged::client::refused_key(base, &message).into(),
        "dataset_exists" => CatalogError::Exists { name },
        "schema_mismatch" => CatalogError::SchemaMismatch { name, differences },
        "concurrent_update" => CatalogError::ConcurrentUpdate(message),
        "bad_commit" => CatalogError::BadCommit(message),
        "corrupt_manifest" => {
            let key = name
                .parse::<DatasetName>()
                .ok()
                .and_then(|n| manifest_key(&n).ok())
                .map(|k| k.to_string())
                .unwrap_or_default();
            let prefix = format!("manifest {key} is corrupt: ");
            let reason = message
                .strip_prefix(&prefix)
                .unwrap_or(&message)
                .to_string();
            CatalogError::Corrupt { key, reason }
        }
        _ => CatalogError::Store(store_error(&code, message, status)),
    }
}

/// A store error relayed by catalogd (or a gateway's own error), by code.
fn store_error(code: &str, message: String, status: StatusCode) -> StoreError {
    match code {
        "not_found" => StoreError::NotFound { key: message },
        "invalid_key" => StoreError::InvalidKey {
            key: String::new(),
            reason: message,
        },
        "too_large" => StoreError::TooLarge(message),
        "precondition_failed" => StoreError::PreconditionFailed(message),
        "conflict" => StoreError::Conflict(message),
        "bad_request" => StoreError::BadRequest(message),
        "store_unavailable" | "service_unavailable" => StoreError::Unavailable(message),
        _ if status == StatusCode::SERVICE_UNAVAILABLE => StoreError::Unavailable(message),
        _ => StoreError::Internal(format!("catalogd answered {status} {code}: {message}")),
    }
}

#[async_trait]
impl Catalog for CatalogClient {
    async fn list(&self) -> Result<Vec<Manifest>, CatalogError> {
        let request = self.http.get(format!("{}/v1/datasets", self.base));
        let response = self.send(request, "").await?;
        Ok(self.json::<Listing>(response).await?.datasets)
    }

    async fn get(&self, name: &DatasetName) -> Result<Manifest, CatalogError> {
        let response = self
            .send(self.http.get(self.url(name)), name.as_str())
            .await?;
        self.json(response).await
    }

    async fn commit(&self, commit: Commit) -> Result<Committed, CatalogError> {
        let request = self
            .http
            .post(format!("{}/v1/datasets", self.base))
            .json(&commit);
        let response = self.send(request, commit.name.as_str()).await?;
        let created = response.status() == StatusCode::CREATED;
        let manifest = self.json(response).await?;
        Ok(if created {
            Committed::Created(manifest)
        } else {
            Committed::Existing(manifest)
        })
    }

    async fn delete(&self, name: &DatasetName) -> Result<(), CatalogError> {
        self.send(self.http.delete(self.url(name)), name.as_str())
            .await?;
        Ok(())
    }
}
