//! The API key (docs/api.md): `[gateway] api_key`, or `LAKEHOUSE_API_KEY`. When it is set,
//! every HTTP route but `/health` (whose details it hides, see [`authorized`]) needs `Authorization: Bearer KEY` — on the gateway and,
//! in a split deployment, on every service too, so going around the gateway is refused
//! as well — and the PostgreSQL port takes it as the password.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use sha2::{Digest, Sha256};

/// Wraps `routes` so that each needs `Authorization: Bearer KEY` when `key` is set
/// (routes merged in afterwards, such as `/health`, stay open).
pub fn require_key(routes: Router, key: Option<&str>) -> Router {
    match key {
        None => routes,
        Some(key) => {
            let key: std::sync::Arc<str> = key.into();
            routes.layer(middleware::from_fn(move |req: Request, next: Next| {
                let key = key.clone();
                async move { check(&key, req, next).await }
            }))
        }
    }
}

async fn check(key: &str, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let mut refused = match given {
        Some(token) if key_matches(token.as_bytes(), key.as_bytes()) => {
            return next.run(req).await;
        }
        Some(_) => crate::error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the API key is wrong",
        ),
        None => crate::error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs an API key: send Authorization: Bearer KEY",
        ),
    };
    refused
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    refused
}

/// Whether a request with `headers` may see what only key holders see: always when no key
/// is set (everything is open then), else when it carries the key.
pub fn authorized(headers: &axum::http::HeaderMap, key: Option<&str>) -> bool {
    let Some(key) = key else { return true };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .is_some_and(|token| key_matches(token.as_bytes(), key.as_bytes()))
}

/// The token of an `Authorization: Bearer TOKEN` value (the scheme in any case, RFC 9110
/// §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether `given` is the key. Both are hashed first and the digests compared without an
/// early exit, so the time taken reveals neither how much of a guess was right nor the
/// key's length.
pub fn key_matches(given: &[u8], key: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(key));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// `Authorization: Bearer KEY` for a client of another service, `None` without a key.
pub fn bearer_header(key: Option<&str>) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key?)).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_exactly() {
        assert!(key_matches(b"abc", b"abc"));
        assert!(!key_matches(b"abc", b"abd"));
        assert!(!key_matches(b"abc", b"abcd"));
        assert!(!key_matches(b"", b"abc"));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer_token("Bearer k1"), Some("k1"));
        assert_eq!(bearer_token("bearer  k1 "), Some("k1"));
        assert_eq!(bearer_token("BEARER k1"), Some("k1"));
        assert_eq!(bearer_token("Basic k1"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
