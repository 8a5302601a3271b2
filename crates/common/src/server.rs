//! Serving a router on a bind, with graceful shutdown.
//!
//! Shutdown is one [`Shutdown`] handle shared by every listener of the process: SIGINT or
//! SIGTERM trips it, each server stops accepting, and in-flight requests run to completion
//! (a PUT being written finishes its rename or removes its temporary file) before the
//! process exits. Draining is bounded by [`DRAIN_LIMIT`]; a second signal exits at once.
//! Either way nothing is half-written: an unfinished PUT was never renamed into place.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long in-flight requests may run after a shutdown signal.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// A process-wide shutdown signal that any number of servers can wait on.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The sending side of [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown { rx })
    }

    /// Resolves once shutdown has been triggered.
    pub async fn wait(mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

/// Trips `trigger` on the first SIGINT or SIGTERM; exits the process on the second.
pub fn on_signals(trigger: ShutdownTrigger) {
    tokio::spawn(async move {
        signal().await;
        tracing::info!(
            "shutdown signal received: finishing in-flight requests (again to exit now)"
        );
        trigger.trigger();
        signal().await;
        tracing::warn!("second shutdown signal: exiting without waiting");
        std::process::exit(130);
    });
}

async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Binds `addr`, naming the role and address when it cannot.
pub async fn bind(role: &str, addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("{role}: cannot listen on {addr}: {e}")))
}

/// How long a client may take: bounds on slow clients (`[gateway] header_read_timeout`,
/// `body_idle_timeout`, `body_timeout`), for every HTTP server of the process.
#[derive(Clone, Copy, Debug)]
pub struct ClientLimits {
    /// From a connection's first byte (or its previous answer) to the end of a request's
    /// headers; past it the connection is closed.
    pub header_read_timeout: Duration,
    /// The longest silence while the server waits for more of a request's body.
    pub body_idle_timeout: Duration,
    /// The longest a whole request body may take; `None` = unbounded.
    pub body_timeout: Option<Duration>,
}

impl Default for ClientLimits {
    fn default() -> ClientLimits {
        ClientLimits {
            header_read_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            body_timeout: Some(Duration::from_secs(3600)),
        }
    }
}

/// How every HTTP server of the process serves: its bounds on slow clients and, with
/// `[gateway] tls_cert`, TLS.
#[derive(Clone, Default)]
pub struct ServeOptions {
    pub limits: ClientLimits,
    /// `Some`: connections must open with a TLS handshake (HTTPS only).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("limits", &self.limits)
            .field("transport", &TlsOption(&self.tls))
            .finish()
    }
}

impl std::fmt::Debug for TlsOption<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "tls" } else { "plain" })
    }
}

/// How a listener is logged: `tls` or `plain`.
struct TlsOption<'a>(&'a Option<tokio_rustls::TlsAcceptor>);

/// Serves `router` on `listener` (HTTP/1.1, over TLS when `options.tls` is set) until
/// `shutdown`, then drains in-flight requests, at most [`DRAIN_LIMIT`]. A client that does
/// not finish its TLS handshake and headers within `limits.header_read_timeout` is
/// disconnected; a body that stalls or overruns its limits fails the request (see
/// [`crate::slow`]).
pub async fn serve(
    role: &'static str,
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
    options: ServeOptions,
) -> std::io::Result<()> {
    use tower::ServiceExt;
    let addr = listener.local_addr()?;
    tracing::info!(role, %addr, transport = ?TlsOption(&options.tls), "listening");
    let limits = options.limits;
    let router = crate::slow::limit_bodies(router, limits);
    // Every connection task holds a clone; all dropped = all connections closed.
    let (open_tx, open_rx) = watch::channel(());
    let stop = shutdown.clone();
    let mut stopping = std::pin::pin!(stop.wait());
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(role, %addr, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopping => break,
        };
        // Small responses are written as headers then body; without TCP_NODELAY, Nagle's
        // algorithm holds the second write for the client's delayed ACK (~40 ms a request).
        let _ = tcp.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone().map_request(
            |r: axum::http::Request<hyper::body::Incoming>| r.map(axum::body::Body::new),
        ));
        let open = open_rx.clone();
        let stop = shutdown.clone();
        let tls = options.tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(tcp, service, limits, stop).await,
                Some(acceptor) => {
                    // The handshake counts against the header clock: a client that opens
                    // a connection and says nothing is gone as soon.
                    let handshake = acceptor.accept(tcp);
                    match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                        Ok(Ok(stream)) => serve_connection(stream, service, limits, stop).await,
                        Ok(Err(error)) => {
                            tracing::debug!(role, %peer, %error, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(role, %peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(open);
        });
    }
    drop(open_rx);
    tokio::select! {
        _ = open_tx.closed() => {}
        _ = tokio::time::sleep(DRAIN_LIMIT) => {
            tracing::warn!(role, %addr, "in-flight requests still running after {DRAIN_LIMIT:?}; stopping anyway");
        }
    }
    tracing::info!(role, %addr, "stopped");
    Ok(())
}

/// One HTTP/1.1 connection until it closes, or until `stop` and then its in-flight
/// request is done.
async fn serve_connection<IO, S>(io: IO, service: S, limits: ClientLimits, stop: Shutdown)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as http_body::Body>::Data: Send,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.wait() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// What `/health` asks before answering: `Ok` when the service can do its work (its store
/// answers), otherwise why not.
pub type HealthCheck = std::sync::Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// Who may call a server: the API key ([`crate::auth`]) and what browsers may do
/// ([`crate::browser`]).
#[derive(Clone, Debug, Default)]
pub struct Access {
    pub api_key: Option<String>,
    pub browser: std::sync::Arc<crate::browser::BrowserPolicy>,
}

impl Access {
    /// `routes` behind the API key (when set) and, with whatever is merged in later such
    /// as an open `/health`, behind the browser checks; `open` stays outside the key.
    pub fn wrap(&self, open: Router, routes: Router) -> Router {
        let routes = crate::auth::require_key(routes, self.api_key.as_deref());
        crate::browser::guard(open.merge(routes), self.browser.clone())
    }
}

/// A single service's router as served on its own bind: its routes and `/metrics`
/// (behind the API key when one is set, see [`crate::auth`]), `/health` (always open), a
/// JSON 404 for anything else, the browser checks ([`crate::browser`], loopback names
/// only), and the telemetry layer.
pub fn service_router(routes: Router, api_key: Option<&str>) -> Router {
    let access = Access {
        api_key: api_key.map(str::to_string),
        ..Access::default()
    };
    service_router_checked(routes, &access, None)
}

/// [`service_router`] with `access`, whose `/health` also runs `check`: 200
/// `{"status": "ok"}` when it passes, 503 `{"status": "down", "error": …}` when it does not
/// (`error` only for key holders when a key is set).
pub fn service_router_checked(
    routes: Router,
    access: &Access,
    check: Option<HealthCheck>,
) -> Router {
    let routes = routes
        .route(
            "/metrics",
            axum::routing::get(crate::telemetry::metrics_endpoint),
        )
        .fallback(crate::error::route_not_found);
    let key: Option<std::sync::Arc<str>> = access.api_key.as_deref().map(Into::into);
    let open = Router::new().route(
        "/health",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let shown = crate::auth::authorized(&headers, key.as_deref());
            health(check.clone(), shown)
        }),
    );
    crate::telemetry::layer(access.wrap(open, routes))
}

/// `/health`: `shown` false (a key is set and the request lacks it) keeps the cause of a
/// failure, which names endpoints and buckets, to key holders.
async fn health(check: Option<HealthCheck>, shown: bool) -> axum::response::Response {
    use axum::response::IntoResponse;
    let verdict = match check {
        Some(check) => check().await,
        None => Ok(()),
    };
    match verdict {
        Ok(()) => crate::telemetry::health_endpoint().await,
        Err(error) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(if shown {
                serde_json::json!({"status": "down", "error": error})
            } else {
                serde_json::json!({"status": "down"})
            }),
        )
            .into_response(),
    }
}
