//! Browser safety: what keeps a web page the user happens to open away from the API.
//!
//! A page of any site can send "simple" requests (no preflight) to `127.0.0.1:3110`, and a
//! page served under a hostile name that resolves to 127.0.0.1 (DNS rebinding) can even read
//! the answers. So, on every route of the gateway and of every split service:
//!
//! - **`Host`** must be one of the server's own names: an IP address (a rebinding attack
//!   needs a name), `localhost`, a host of a service URL in the config, or one of
//!   `[gateway] allowed_hosts`. Else `403 forbidden_host`.
//! - **`Origin`**, when present, must be the request's own (`http(s)://` + its `Host`) or one
//!   of `[gateway] allowed_origins`. Else `403 forbidden_origin`.
//! - **`Sec-Fetch-Site: cross-site` / `same-site`** (what a browser sends for another site's
//!   request, even one without `Origin`, such as an `<img>`) is refused unless the `Origin` is
//!   an allowed one: `403 cross_site`.
//!
//! Requests that carry none of these headers beyond `Host` — curl, the CLI, drivers — pass
//! as before. CORS headers are sent only to allowed origins, whose preflights (`OPTIONS` with
//! `Access-Control-Request-Method`) are answered here with 204.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

/// Which names and origins a server answers browsers for. The default allows loopback use
/// only (IP addresses and `localhost`) and no other origin.
#[derive(Clone, Debug, Default)]
pub struct BrowserPolicy {
    /// Host names (lowercase, no port) besides IP addresses and `localhost`.
    hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`, lowercase) whose pages may call the API.
    origins: Vec<String>,
}

impl BrowserPolicy {
    /// `hosts`: extra names of this server; `origins`: other sites allowed to call it.
    pub fn new(
        hosts: impl IntoIterator<Item = String>,
        origins: impl IntoIterator<Item = String>,
    ) -> BrowserPolicy {
        BrowserPolicy {
            hosts: hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
            origins: origins
                .into_iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether `host` (a `Host` header value: name or address, maybe with a port) names
    /// this server.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        let ip = match name.strip_prefix('[') {
            Some(inner) => inner
                .strip_suffix(']')
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok()),
            None => name.parse::<IpAddr>().is_ok(),
        };
        ip || name == "localhost" || self.hosts.contains(&name)
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.origins.contains(&origin)
    }

    /// `Ok(Some(origin))` for a request from an allowed other origin (CORS headers go on
    /// its answer), `Ok(None)` for one that needs none, `Err` with the refusal otherwise.
    /// `host`: the request's `Host` (or its URI's authority); `None` when it has neither.
    fn check(
        &self,
        headers: &HeaderMap,
        host: Option<&str>,
    ) -> Result<Option<HeaderValue>, Refusal> {
        if let Some(host) = host
            && !self.host_allowed(host)
        {
            return Err(refuse(
                "forbidden_host",
                format!(
                    "Host {host:?} is not a name of this server (an IP address, localhost, \
                     or one of [gateway] allowed_hosts); a request through another name \
                     may come from a web page by DNS rebinding"
                ),
            ));
        }
        let mut cors = None;
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("(not text)");
            let own = host.is_some_and(|h| is_own_origin(origin, h));
            if self.origin_allowed(origin) {
                cors = HeaderValue::from_str(origin).ok();
            } else if !own {
                return Err(refuse(
                    "forbidden_origin",
                    format!(
                        "Origin {origin:?}: pages of another origin may not call this API; \
                         add it to [gateway] allowed_origins to allow it"
                    ),
                ));
            }
        }
        if let Some(Ok(site)) = headers
            .get("sec-fetch-site")
            .map(|v| v.to_str().map(str::to_ascii_lowercase))
            && (site == "cross-site" || site == "same-site")
            && cors.is_none()
        {
            return Err(refuse(
                "cross_site",
                format!(
                    "Sec-Fetch-Site: {site}: a page of another site may not call this API; \
                     allow its origin in [gateway] allowed_origins"
                ),
            ));
        }
        Ok(cors)
    }
}

/// The name part of a `Host` value (or a URL's authority): `example.com:80` →
/// `example.com`, `[::1]:80` → `[::1]`.
pub(crate) fn host_name(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Whether `origin` is `http://HOST` or `https://HOST` for the request's `Host`.
fn is_own_origin(origin: &str, host: &str) -> bool {
    let origin = origin.to_ascii_lowercase();
    let host = host.trim().to_ascii_lowercase();
    ["http://", "https://"]
        .iter()
        .any(|scheme| origin.strip_prefix(scheme) == Some(host.as_str()))
}

/// Why a request was refused: its error code and message (a 403).
#[derive(Debug)]
struct Refusal {
    code: &'static str,
    message: String,
}

fn refuse(code: &'static str, message: String) -> Refusal {
    Refusal { code, message }
}

/// Wraps `routes` (every route, `/health` included) in the checks of `policy`.
pub fn guard(routes: Router, policy: Arc<BrowserPolicy>) -> Router {
    routes.layer(middleware::from_fn(move |req: Request, next: Next| {
        let policy = policy.clone();
        async move { screen(&policy, req, next).await }
    }))
}

async fn screen(policy: &BrowserPolicy, req: Request, next: Next) -> Response {
    let host = match req.headers().get(header::HOST) {
        Some(value) => Some(value.to_str().unwrap_or("(not text)")),
        None => req.uri().authority().map(|a| a.as_str()),
    };
    let cors = match policy.check(req.headers(), host) {
        Ok(cors) => cors,
        Err(refused) => {
            return crate::error_response(StatusCode::FORBIDDEN, refused.code, refused.message);
        }
    };
    let Some(origin) = cors else {
        return next.run(req).await;
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut answer = StatusCode::NO_CONTENT.into_response();
        let h = answer.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE"),
        );
        if let Some(asked) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        answer
    } else {
        next.run(req).await
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn code(result: Result<Option<HeaderValue>, Refusal>) -> String {
        match result {
            Ok(None) => "pass".into(),
            Ok(Some(origin)) => format!("cors {}", origin.to_str().unwrap()),
            Err(refused) => refused.code.into(),
        }
    }

    #[test]
    fn hosts_are_ip_addresses_localhost_or_configured_names() {
        let p = BrowserPolicy::new(["Lake.Example".to_string()], []);
        for ok in [
            "127.0.0.1:3110",
            "127.0.0.1",
            "[::1]:3110",
            "[::1]",
            "10.1.2.3:80",
            "localhost:3110",
            "LOCALHOST",
            "lake.example:443",
            "lake.example",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for refused in [
            "evil.example:3110",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "lake.example.evil",
            "",
            "[::1",
        ] {
            assert!(!p.host_allowed(refused), "{refused}");
        }
    }

    #[test]
    fn cross_origin_and_cross_site_requests_are_refused_same_origin_and_tools_pass() {
        let p = BrowserPolicy::new([], ["https://console.example".to_string()]);
        let cases: &[(&[(&'static str, &str)], &str)] = &[
            // curl, drivers: Host only, or nothing.
            (&[("host", "127.0.0.1:3110")], "pass"),
            (&[], "pass"),
            // DNS rebinding.
            (&[("host", "rebind.evil.example:3110")], "forbidden_host"),
            // The server's own pages.
            (
                &[
                    ("host", "127.0.0.1:3110"),
                    ("origin", "http://127.0.0.1:3110"),
                    ("sec-fetch-site", "same-origin"),
                ],
                "pass",
            ),
            // Another site's page: a no-cors POST, and an <img> without Origin.
            (
                &[
                    ("host", "127.0.0.1:3110"),
                    ("origin", "http://evil.example"),
                ],
                "forbidden_origin",
            ),
            (
                &[
                    ("host", "127.0.0.1:3110"),
                    ("origin", "http://127.0.0.1:8000"),
                ],
                "forbidden_origin",
            ),
            (
                &[("host", "127.0.0.1:3110"), ("origin", "null")],
                "forbidden_origin",
            ),
            (
                &[("host", "127.0.0.1:3110"), ("sec-fetch-site", "cross-site")],
                "cross_site",
            ),
            (
                &[("host", "127.0.0.1:3110"), ("sec-fetch-site", "same-site")],
                "cross_site",
            ),
            (
                &[("host", "127.0.0.1:3110"), ("sec-fetch-site", "none")],
                "pass",
            ),
            // A configured origin, in any case.
            (
                &[
                    ("host", "127.0.0.1:3110"),
                    ("origin", "https://Console.example"),
                    ("sec-fetch-site", "cross-site"),
                ],
                "cors https://Console.example",
            ),
        ];
        for (pairs, want) in cases {
            let map = headers(pairs);
            let host = map.get(header::HOST).map(|h| h.to_str().unwrap());
            assert_eq!(code(p.check(&map, host)), *want, "{pairs:?}");
        }
    }
}
