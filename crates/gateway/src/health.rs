//! `GET /health` on the gateway: the status of every service behind it, and of the store.
//! 200 when all are up, 503 (same body shape) when any is not. With an API key set, a
//! request without it sees the statuses only, not descriptions, URLs or causes.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// How the gateway learns each service's health.
#[derive(Clone, Debug)]
pub enum Health {
    /// In-process services: up while this process is; each with a description. `store`
    /// is the services' store (standalone: reported as storaged's status).
    Local {
        services: Vec<(String, String)>,
        store: Option<Arc<storaged::StoreHealth>>,
    },
    /// Split deployment: `GET {url}/health` per service.
    Remote {
        services: Vec<(String, String)>,
        http: reqwest::Client,
    },
}

impl Health {
    /// Asks each service's `/health` with `api_key` (so they tell their causes).
    pub fn remote(services: Vec<(String, String)>, api_key: Option<&str>) -> Health {
        let mut headers = axum::http::HeaderMap::new();
        if let Some(value) = common::auth::bearer_header(api_key) {
            headers.insert(axum::http::header::AUTHORIZATION, value);
        }
        // A service's /health answers within its store probe's limit: wait that and a
        // second, so a slow store is reported with the service's own words for it.
        let http = common::tls::http_client()
            .timeout(storaged::health::PROBE_LIMIT + Duration::from_secs(1))
            .default_headers(headers)
            .build()
            .unwrap_or_default();
        Health::Remote { services, http }
    }
}

/// `/health`'s state: how to learn the services' health, and the API key that shows the
/// details (descriptions, URLs, causes). Shared, not copied per request.
pub(crate) type HealthState = Arc<(Health, Option<Arc<str>>)>;

pub(crate) async fn endpoint(
    State(state): State<HealthState>,
    headers: axum::http::HeaderMap,
) -> Response {
    let (health, key) = &*state;
    let body = check(health).await;
    let all_up = body["status"] == "ok";
    let status = if all_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if common::auth::authorized(&headers, key.as_deref()) {
        return (status, Json(body)).into_response();
    }
    // To strangers (a key is set and the request lacks it): statuses only.
    let services: Map<String, Value> = body["services"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, entry)| (name.clone(), json!({"status": entry["status"]})))
        .collect();
    (
        status,
        Json(json!({"status": body["status"], "services": services})),
    )
        .into_response()
}

/// Every service's entry (status, description or URL, cause) and the overall status.
async fn check(health: &Health) -> Value {
    let mut services = Map::new();
    let mut all_up = true;
    match health {
        Health::Local {
            services: list,
            store,
        } => {
            let store_verdict = match &store {
                Some(store) => store.check().await,
                None => Ok(()),
            };
            for (name, detail) in list {
                let entry = match &store_verdict {
                    Err(error) if name == "storaged" => {
                        all_up = false;
                        json!({"status": "down", "detail": detail, "error": error})
                    }
                    _ => json!({"status": "ok", "detail": detail}),
                };
                services.insert(name.clone(), entry);
            }
        }
        Health::Remote {
            services: list,
            http,
        } => {
            let checks = list.iter().map(|(name, url)| {
                let http = http.clone();
                async move {
                    let result = http.get(format!("{url}/health")).send().await;
                    let entry = match result {
                        Ok(r) if r.status().is_success() => json!({"status": "ok", "url": url}),
                        Ok(r) => {
                            let status = r.status();
                            // The service's own words when it gave them (its store is down).
                            let said = r.json::<Value>().await.ok().and_then(|v| {
                                v.get("error").and_then(Value::as_str).map(str::to_string)
                            });
                            let error = match said {
                                Some(said) => format!("answered {status}: {said}"),
                                None => format!("answered {status}"),
                            };
                            json!({"status": "down", "url": url, "error": error})
                        }
                        Err(e) => json!({"status": "down", "url": url, "error": e.to_string()}),
                    };
                    (name.clone(), entry)
                }
            });
            for (name, entry) in futures::future::join_all(checks).await {
                all_up &= entry["status"] == "ok";
                services.insert(name, entry);
            }
        }
    }
    json!({"status": if all_up { "ok" } else { "degraded" }, "services": Value::Object(services)})
}
