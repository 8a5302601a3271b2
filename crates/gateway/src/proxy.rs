//! Streaming reverse proxy from the gateway to one upstream service (split deployment).
//! Bodies stream both ways; an unreachable upstream is a 503 naming it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::Response;
use futures::TryStreamExt;

#[derive(Clone, Debug)]
pub(crate) struct Proxy {
    name: &'static str,
    base: String,
    http: reqwest::Client,
}

impl Proxy {
    pub(crate) fn new(name: &'static str, base: &str) -> Proxy {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Proxy {
            name,
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }
}

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let hop = HOP_BY_HOP.contains(name)
            || name == header::TRANSFER_ENCODING
            || name == header::HOST
            || name.as_str() == "keep-alive";
        if !hop {
            to.append(name.clone(), value.clone());
        }
    }
}

/// A `.` or `..` segment, plain or percent-encoded. The HTTP client would resolve it
/// (RFC 3986 §5.2.4) before forwarding, turning `a/%2e%2e/b` into `b`: a request would reach
/// a path other than the one it named, past the service's own checks. Refused here instead.
fn dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        decoded == "." || decoded == ".."
    })
}

pub(crate) async fn forward(State(proxy): State<Proxy>, req: Request) -> Response {
    if dot_segment(req.uri().path()) {
        return common::error_response(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            format!("path {} has a '.' or '..' segment", req.uri().path()),
        );
    }
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{}{}", proxy.base, path);
    let (parts, body) = req.into_parts();
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    let upstream = proxy
        .http
        .request(parts.method, &url)
        .headers(headers)
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .send()
        .await;
    let upstream = match upstream {
        Ok(r) => r,
        Err(e) => {
            return common::error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                format!("{} at {} is unreachable: {e}", proxy.name, proxy.base),
            );
        }
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = upstream.status();
    copy_headers(upstream.headers(), response.headers_mut());
    *response.body_mut() =
        Body::from_stream(upstream.bytes_stream().map_err(std::io::Error::other));
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_segments_are_found_however_encoded() {
        for p in [
            "/v1/storage/a/../b",
            "/v1/storage/a/%2e%2E/b",
            "/v1/storage/.%2e/x",
            "/v1/storage/./x",
            "/v1/storage/%2E",
        ] {
            assert!(super::dot_segment(p), "{p}");
        }
        for p in [
            "/v1/storage/a..b/c",
            "/v1/storage/.hidden",
            "/v1/storage/a%2Fb",
        ] {
            assert!(!super::dot_segment(p), "{p}");
        }
    }
}
