//! `GET /health` on the gateway: the status of every service behind it, and of the store.
//! 200 when all are up, 503 (same body shape) when any is not.

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
    pub fn remote(services: Vec<(String, String)>) -> Health {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        Health::Remote { services, http }
    }
}

pub(crate) async fn endpoint(State(health): State<Health>) -> Response {
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
                services.insert(name, entry);
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
    let status = if all_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if all_up { "ok" } else { "degraded" }, "services": Value::Object(services)});
    (status, Json(body)).into_response()
}
