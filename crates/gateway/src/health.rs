//! `GET /health` on the gateway: the status of every service behind it.
//! 200 when all are up, 503 (same body shape) when any is not.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// How the gateway learns each service's health.
#[derive(Clone, Debug)]
pub enum Health {
    /// In-process services: up while this process is; each with a description.
    Local(Vec<(String, String)>),
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
        Health::Local(list) => {
            for (name, detail) in list {
                services.insert(name, json!({"status": "ok", "detail": detail}));
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
                        Ok(r) => json!({"status": "down", "url": url, "error": format!("answered {}", r.status())}),
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
