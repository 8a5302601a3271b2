//! Bearer-token auth for the gateway (`[gateway] api_key` or `LAKEHOUSE_API_KEY`).

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;

/// Wraps `routes` so that each needs `Authorization: Bearer KEY` when `key` is set.
pub(crate) fn require_key(routes: Router, key: Option<String>) -> Router {
    match key {
        None => routes,
        Some(key) => routes.layer(middleware::from_fn(move |req: Request, next: Next| {
            let key = key.clone();
            async move { check(&key, req, next).await }
        })),
    }
}

async fn check(key: &str, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), key.as_bytes()) => next.run(req).await,
        Some(_) => common::error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the API key is wrong",
        ),
        None => common::error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this gateway needs an API key: send Authorization: Bearer KEY",
        ),
    }
}

/// Compares without an early exit, so timing does not reveal how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_eq_compares() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"abcd"));
    }
}
