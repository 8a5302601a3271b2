//! The gateway: the one front door (docs/api.md).
//!
//! - [`standalone`]: every service's routes mounted in-process on one router.
//! - [`split`]: `/v1/...` prefixes proxied to each service's URL from `lakehouse.toml`.
//!
//! Both add `/health` (aggregating every service), `/metrics`, the browser checks of
//! [`common::browser`] on every route and, when `[gateway] api_key` is set, bearer-token
//! auth on every route but `/health`.

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

/// Upstream URLs of a split deployment (the `[gateway] *_url` keys).
#[derive(Clone, Debug)]
pub struct Upstreams {
    pub storaged: String,
    pub catalogd: String,
    pub ingestd: String,
    pub queryd: String,
    pub vectord: String,
}

/// The split gateway: every `/v1/...` route proxied to the service that owns it.
pub fn split(upstreams: &Upstreams, options: &GatewayOptions) -> Router {
    let storage = proxy::Proxy::new("storaged", &upstreams.storaged, options.upstream_timeout);
    let catalog = proxy::Proxy::new("catalogd", &upstreams.catalogd, options.upstream_timeout);
    let ingest = proxy::Proxy::new("ingestd", &upstreams.ingestd, options.upstream_timeout);
    let query = proxy::Proxy::new("queryd", &upstreams.queryd, options.upstream_timeout);
    let vectors = proxy::Proxy::new("vectord", &upstreams.vectord, options.upstream_timeout);
    let routes = Router::new()
        .route(
            "/v1/storage",
            axum::routing::any(proxy::forward).with_state(storage.clone()),
        )
        .route(
            "/v1/storage/",
            axum::routing::any(proxy::forward).with_state(storage.clone()),
        )
        .route(
            "/v1/storage/{*key}",
            axum::routing::any(proxy::forward).with_state(storage),
        )
        .route(
            "/v1/datasets",
            axum::routing::any(proxy::forward).with_state(catalog.clone()),
        )
        .route(
            "/v1/datasets/{*rest}",
            axum::routing::any(proxy::forward).with_state(catalog),
        )
        .route(
            "/v1/ingest/{*rest}",
            axum::routing::any(proxy::forward).with_state(ingest),
        )
        .route(
            "/v1/sql",
            axum::routing::any(proxy::forward).with_state(query),
        )
        .route(
            "/v1/vectors",
            axum::routing::any(proxy::forward).with_state(vectors.clone()),
        )
        .route(
            "/v1/vectors/{*rest}",
            axum::routing::any(proxy::forward).with_state(vectors),
        );
    let health = Health::remote(
        vec![
            ("storaged".into(), upstreams.storaged.clone()),
            ("catalogd".into(), upstreams.catalogd.clone()),
            ("ingestd".into(), upstreams.ingestd.clone()),
            ("queryd".into(), upstreams.queryd.clone()),
            ("vectord".into(), upstreams.vectord.clone()),
        ],
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
    let open = Router::new().route("/health", get(health::endpoint).with_state((health, key)));
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
