//! The gateway: the one front door (DESIGN §2).
//!
//! - [`standalone`]: every service's routes mounted in-process on one router.
//! - [`split`]: `/v1/...` prefixes proxied to each service's URL from `lakehouse.toml`.
//!
//! Both add `/health` (aggregating every service), `/metrics`, and, when `[gateway]
//! api_key` is set, bearer-token auth on every route but `/health`.

mod auth;
mod health;
mod proxy;

use axum::Router;
use axum::routing::get;

pub use health::Health;

/// The gateway's own settings.
#[derive(Clone, Debug, Default)]
pub struct GatewayOptions {
    pub api_key: Option<String>,
}

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
    let storage = proxy::Proxy::new("storaged", &upstreams.storaged);
    let catalog = proxy::Proxy::new("catalogd", &upstreams.catalogd);
    let ingest = proxy::Proxy::new("ingestd", &upstreams.ingestd);
    let query = proxy::Proxy::new("queryd", &upstreams.queryd);
    let vectors = proxy::Proxy::new("vectord", &upstreams.vectord);
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
    let health = Health::remote(vec![
        ("storaged".into(), upstreams.storaged.clone()),
        ("catalogd".into(), upstreams.catalogd.clone()),
        ("ingestd".into(), upstreams.ingestd.clone()),
        ("queryd".into(), upstreams.queryd.clone()),
        ("vectord".into(), upstreams.vectord.clone()),
    ]);
    finish(routes, health, options)
}

fn finish(routes: Router, health: Health, options: &GatewayOptions) -> Router {
    let routes = routes
        .route("/metrics", get(common::telemetry::metrics_endpoint))
        .fallback(common::error::route_not_found);
    let routes = auth::require_key(routes, options.api_key.clone());
    // /health stays open even with an API key, so load balancers can probe it.
    let open = Router::new().route("/health", get(health::endpoint).with_state(health));
    common::telemetry::layer(open.merge(routes))
}
