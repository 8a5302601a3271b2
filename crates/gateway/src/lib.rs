//! The gateway: the one front door (docs/api.md).
//!
//! - [`standalone`]: every service's routes mounted in-process on one router.
//! - [`split`]: `/v1/...` prefixes proxied to each service's URL from `lakehouse.toml`.
//!
//! Both add `/health` (aggregating every service), `/metrics`, the browser checks of
//! [`common::browser`] on every route and, when `[gateway] api_key` is set, bearer-token
//! auth on every route but `/health`.

pub mod config;
mod health;
mod proxy;

use axum::Router;
use axum::routing::get;

pub use health::Health;

/// The gateway's own settings.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// The API key and the browser checks.
    pub access: common::server::Access,
    /// (split) How long a service may stay silent (`[gateway] upstream_timeout`).
    pub upstream_timeout: std::time::Duration,
}

impl Default for GatewayOptions {
    fn default() -> GatewayOptions {
        GatewayOptions {
            access: common::server::Access::default(),
            upstream_timeout: std::time::Duration::from_secs(600),
        }
    }
}

/// This API's OpenAPI document (`docs/openapi.json`), served at `/v1/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// The standalone gateway: `services` is the merge of every in-process service router.
pub fn standalone(services: Router, health: Health, options: &GatewayOptions) -> Router {
    finish(services, health, options)
}

/// A service of a split deployment, as the gateway reaches it.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// Its name, in `/health` and in errors about it.
    pub name: &'static str,
    /// Its base URL (`[gateway] {name}_url`).
    pub url: String,
    /// The paths it answers: each, and everything under it, is forwarded to it.
    pub prefixes: &'static [&'static str],
}

/// The split gateway: every path of a service proxied to it; `/health` asks each one.
pub fn split(upstreams: &[Upstream], options: &GatewayOptions) -> Router {
    let mut routes = Router::new();
    for upstream in upstreams {
        let proxy = proxy::Proxy::new(upstream.name, &upstream.url, options.upstream_timeout);
        for prefix in upstream.prefixes {
            for path in [
                prefix.to_string(),
                format!("{prefix}/"),
                format!("{prefix}/{{*rest}}"),
            ] {
                routes = routes.route(
                    &path,
                    axum::routing::any(proxy::forward).with_state(proxy.clone()),
                );
            }
        }
    }
    let health = Health::remote(
        upstreams
            .iter()
            .map(|u| (u.name.to_string(), u.url.clone()))
            .collect(),
        options.access.api_key.as_deref(),
    );
    finish(routes, health, options)
}

fn finish(routes: Router, health: Health, options: &GatewayOptions) -> Router {
    let routes = routes
        .route("/metrics", get(common::telemetry::metrics_endpoint))
        .route("/v1/openapi.json", get(openapi))
        .fallback(common::error::route_not_found);
    // /health stays open even with an API key, so load balancers can probe it.
    let key = options.access.api_key.as_deref().map(Into::into);
    let open = Router::new().route(
        "/health",
        get(health::endpoint).with_state(std::sync::Arc::new((health, key))),
    );
    common::telemetry::layer(options.access.wrap(open, routes))
}

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_is_json_and_names_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI_JSON).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/health",
            "/metrics",
            "/v1/openapi.json",
            "/v1/storage",
            "/v1/storage/{key}",
            "/v1/datasets",
            "/v1/datasets/{name}",
            "/v1/ingest/{name}",
            "/v1/sql",
            "/v1/vectors",
            "/v1/vectors/{name}",
            "/v1/vectors/{name}/add",
            "/v1/vectors/{name}/search",
        ] {
            assert!(
                paths.contains_key(path),
                "{path} is not in docs/openapi.json"
            );
        }
    }
}
