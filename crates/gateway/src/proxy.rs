//! Streaming reverse proxy from the gateway to one upstream service (split deployment).
//!
//! Bodies stream both ways, chunk by chunk: the gateway holds no whole body. An upstream
//! that cannot be reached is a 503 naming it; one that breaks the protocol or the
//! connection, a 502; one silent for longer than `[gateway] upstream_timeout` — to answer
//! once the request has been sent in full, or between two chunks of its answer — a 504
//! (or, mid-answer, a cut-off body). A slow upload is never timed out by the gateway: the
//! clock starts when the client has sent its last byte.

use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::{Stream, StreamExt};

#[derive(Clone, Debug)]
pub(crate) struct Proxy {
    name: &'static str,
    base: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl Proxy {
    pub(crate) fn new(name: &'static str, base: &str, timeout: Duration) -> Proxy {
        let http = common::tls::http_client()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Proxy {
            name,
            base: base.trim_end_matches('/').to_string(),
            http,
            timeout,
        }
    }

    fn error(&self, status: StatusCode, code: &str, what: String) -> Response {
        common::error_response(
            status,
            code,
            format!("{} at {} {what}", self.name, self.base),
        )
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
    // The request body, signalling once its last byte has been handed to the upstream.
    let (sent, all_sent) = tokio::sync::oneshot::channel::<()>();
    let request = proxy.http.request(parts.method, &url).headers(headers);
    let upstream = if body.is_end_stream() {
        let _ = sent.send(());
        request.send()
    } else {
        let body = SignalsEnd {
            body,
            sent: Some(sent),
        };
        request.body(reqwest::Body::wrap_stream(body)).send()
    };
    let deadline = async {
        // A body that broke off never signals; the upstream's answer (or error) decides.
        if all_sent.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(proxy.timeout).await;
    };
    let upstream = tokio::select! {
        upstream = upstream => upstream,
        () = deadline => {
            return proxy.error(
                StatusCode::GATEWAY_TIMEOUT,
                "gateway_timeout",
                format!("did not answer within {:?}", proxy.timeout),
            );
        }
    };
    let upstream = match upstream {
        Ok(r) => r,
        Err(e) if e.is_connect() => {
            return proxy.error(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                format!("is unreachable: {e}"),
            );
        }
        Err(e) if e.is_body() => {
            return common::error_response(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the request body broke off: {e}"),
            );
        }
        Err(e) => {
            return proxy.error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                format!("failed to answer: {}", common::error::chain(&e)),
            );
        }
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = upstream.status();
    copy_headers(upstream.headers(), response.headers_mut());
    *response.body_mut() = Body::from_stream(idle_limited(
        Box::pin(upstream.bytes_stream()),
        proxy.timeout,
        proxy.name,
    ));
    response
}

/// A request body as a stream of its data, firing `sent` once the last byte has been taken:
/// when the body says it has ended (a `Content-Length` body is not polled past its last
/// byte), or at its end of stream.
struct SignalsEnd {
    body: Body,
    sent: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SignalsEnd {
    fn fire(&mut self) {
        if let Some(sent) = self.sent.take() {
            let _ = sent.send(());
        }
    }
}

impl Stream for SignalsEnd {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers are not forwarded (none of the services reads them).
                    if let Ok(data) = frame.into_data() {
                        if this.body.is_end_stream() {
                            this.fire();
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    this.fire();
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The upstream's answer, cut off with an error once it stays silent for `limit`.
fn idle_limited(
    upstream: std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    limit: Duration,
    name: &'static str,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    futures::stream::unfold(Some(upstream), move |state| async move {
        let mut upstream = state?;
        match tokio::time::timeout(limit, upstream.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(upstream))),
            Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{name} sent nothing for {limit:?}"),
                )),
                None,
            )),
        }
    })
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
