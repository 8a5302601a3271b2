//! [`CatalogClient`]: the [`Catalog`] over catalogd's HTTP API, for services of a split
//! deployment. Errors come back as the same [`CatalogError`] variants the in-process
//! catalog returns, decoded from the error's code and fields ([`CatalogError::from_wire`]),
//! never from message text.

use std::time::Duration;

use async_trait::async_trait;
use common::client::{CallError, ServiceClient};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::catalog::Catalog;
use crate::error::CatalogError;
use crate::manifest::{Commit, Committed, Manifest};
use crate::name::DatasetName;

/// An HTTP client for one catalogd (or a gateway in front of it).
#[derive(Clone, Debug)]
pub struct CatalogClient {
    core: ServiceClient,
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
        CatalogClient {
            core: ServiceClient::new("catalogd", base, Some(Duration::from_secs(60))),
        }
    }

    /// Sends the deployment's API key with every request (`None`: no key).
    pub fn with_api_key(mut self, key: Option<&str>) -> CatalogClient {
        self.core = self.core.with_api_key(key);
        self
    }

    fn dataset(&self, method: Method, name: &DatasetName) -> reqwest::RequestBuilder {
        // A dataset name needs no escaping in a URL path.
        self.core.request(method, &format!("/v1/datasets/{name}"))
    }

    /// Sends `request`; a non-2xx answer becomes the error it encodes. `name` is the dataset
    /// the request is about (for a 404 that does not name it).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        name: &str,
    ) -> Result<reqwest::Response, CatalogError> {
        self.core
            .send(request)
            .await
            .map_err(|e| catalog_error(e, name))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, CatalogError> {
        self.core
            .json(response)
            .await
            .map_err(|e| catalog_error(e, ""))
    }
}

/// The [`CatalogError`] a failed call stands for; `name` is the dataset it was about.
fn catalog_error(e: CallError, name: &str) -> CatalogError {
    match e {
        CallError::Answered {
            status,
            detail: Some(detail),
            ..
        } => {
            // A 404 from a gateway may not name the dataset: it is this one.
            if detail.code == "dataset_not_found" && detail.text("name").is_empty() {
                CatalogError::NotFound {
                    name: name.to_string(),
                }
            } else {
                CatalogError::from_wire(status, detail)
            }
        }
        // No error object, or no answer: what the store client makes of the same.
        other => CatalogError::Store(storaged::client::store_error(other, name)),
    }
}

#[async_trait]
impl Catalog for CatalogClient {
    async fn list(&self) -> Result<Vec<Manifest>, CatalogError> {
        let request = self.core.request(Method::GET, "/v1/datasets");
        let response = self.send(request, "").await?;
        Ok(self.json::<Listing>(response).await?.datasets)
    }

    async fn get(&self, name: &DatasetName) -> Result<Manifest, CatalogError> {
        let response = self
            .send(self.dataset(Method::GET, name), name.as_str())
            .await?;
        self.json(response).await
    }

    async fn commit(&self, commit: Commit) -> Result<Committed, CatalogError> {
        let request = self
            .core
            .request(Method::POST, "/v1/datasets")
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

    async fn register(&self, name: &DatasetName, location: &str) -> Result<Manifest, CatalogError> {
        let request = self
            .core
            .request(Method::POST, "/v1/datasets")
            .json(&serde_json::json!({"name": name, "location": location}));
        let response = self.send(request, name.as_str()).await?;
        self.json(response).await
    }

    async fn delete(&self, name: &DatasetName) -> Result<(), CatalogError> {
        self.send(self.dataset(Method::DELETE, name), name.as_str())
            .await?;
        Ok(())
    }
}
