//! The PostgreSQL wire protocol on `[queryd] pg_bind` (docs/api.md), over pgwire: psql,
//! drivers (tokio-postgres, JDBC, psycopg) and BI tools query the same engine as
//! `POST /v1/sql`, with the same read-only rule, limits and errors.
//!
//! - startup.rs: trust, or the shared password (`[gateway] api_key`) by SCRAM-SHA-256
//!   (with channel binding over TLS); the connection cap and the TLS-only rule; the
//!   parameters clients read (`server_version`, `DateStyle`, ...).
//! - simple.rs / extended.rs: the two query protocols; backend.rs what they share.
//! - compat.rs, session.rs: `SET`, `SHOW`, `BEGIN`, `DISCARD`, ... recognised and answered
//!   here, never by the engine.
//! - rewrite.rs: PostgreSQL spellings DataFusion lacks, rewritten on the parsed statement;
//!   names.rs: result columns named as PostgreSQL names them.
//! - catalog/ and functions.rs: `pg_catalog` and the functions psql's `\d` family and BI
//!   tools use, registered on the engine by [`install`].
//! - types.rs, encode.rs, params.rs, numeric.rs: Arrow ⇄ PostgreSQL values, text and binary.
//!
//! Results stream: rows go to the socket batch by batch as the query produces them, so a
//! result of any size holds about one batch in memory. A client that disconnects stops
//! its query at the next write; a cancel request (psql's Ctrl-C) stops it at once.

mod backend;
mod catalog;
mod compat;
mod encode;
mod error;
mod extended;
mod functions;
mod names;
mod numeric;
mod params;
mod rewrite;
mod session;
mod simple;
mod startup;
mod statements;
mod types;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::server::Shutdown;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::{ClientInfo, ConnectionHandle, ConnectionManager, PgWireServerHandlers};
use pgwire::error::PgWireError;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::engine::QueryEngine;
use crate::error::QueryError;
use backend::Backend;
use extended::Parser;
use startup::{ConnectionStartup, Startup};

/// Registers `pg_catalog` and the functions PostgreSQL clients call (`version()`,
/// `current_database()`, `format_type(...)`, ...). Call once, before the engine is
/// shared.
pub fn install(engine: &mut QueryEngine) -> Result<(), QueryError> {
    let datasets = engine.datasets().clone();
    let options = engine.options().clone();
    for function in functions::all(datasets.clone(), &options) {
        engine.register_udf(function)?;
    }
    engine.register_schema(
        "pg_catalog",
        Arc::new(catalog::PgCatalog::new(datasets, &options)),
    )
}

/// Who may connect to the PostgreSQL port, and how.
#[derive(Clone, Debug, Default)]
pub struct PgOptions {
    /// With a password, every client must prove it by SCRAM-SHA-256; without, any user is
    /// let in (trust).
    pub password: Option<String>,
    /// Open connections at most (`[queryd] max_pg_connections`); past it a new one is
    /// refused with `53300 too_many_connections`. Zero for no limit.
    pub max_connections: usize,
    /// With a certificate, connections must negotiate TLS (`sslmode=require`); plain ones
    /// are refused with `28000`.
    pub tls: Option<common::tls::ServerTls>,
    /// How long a connection may take from accept to ready for queries (TLS, startup,
    /// authentication) before it is closed, freeing its place under `max_connections`
    /// (`[queryd] pg_startup_timeout`). `None`: pgwire's own 60 s.
    pub startup_timeout: Option<Duration>,
}

/// Serves the PostgreSQL protocol on `listener` until `shutdown` fires. At shutdown the
/// listener closes and open connections are dropped, which stops their queries.
pub async fn serve(
    engine: QueryEngine,
    listener: TcpListener,
    shutdown: Shutdown,
    options: PgOptions,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let acceptor = options
        .tls
        .as_ref()
        .map(|tls| pgwire::tokio::TlsAcceptor::from(tls.postgres()));
    tracing::info!(role = "queryd-pg", %addr, tls = acceptor.is_some(), "listening");
    let open = Arc::new(AtomicUsize::new(0));
    let handlers = Handlers::new(engine, &options, open.clone());
    let startup_timeout = options.startup_timeout;
    let mut connections = JoinSet::new();
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let ready = Arc::new(AtomicBool::new(false));
                    let handlers = Arc::new(handlers.for_connection(ready.clone()));
                    let acceptor = acceptor.clone();
                    let span = tracing::info_span!("pg_connection", %peer);
                    // Counted from accept to close; the startup handler refuses the ones
                    // past the cap (after TLS, so the client reads the reason).
                    let counted = Counted::new(open.clone());
                    connections.spawn(
                        async move {
                            let served =
                                pgwire::tokio::process_socket(socket, acceptor, handlers);
                            match within_startup(served, startup_timeout, &ready).await {
                                Some(Err(e)) => {
                                    tracing::debug!(error = %e, "PostgreSQL connection ended");
                                }
                                Some(Ok(())) => {}
                                None => tracing::debug!(
                                    "PostgreSQL connection closed: not ready for queries \
                                     within pg_startup_timeout"
                                ),
                            }
                            drop(counted);
                        }
                        .instrument(span),
                    );
                }
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a PostgreSQL connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
    tracing::info!(role = "queryd-pg", %addr, "stopped");
    Ok(())
}

/// Runs a connection to its end, or drops it (closing the socket) when `timeout` passes
/// before it is `ready` for queries: `None` then.
async fn within_startup<F: std::future::Future>(
    served: F,
    timeout: Option<Duration>,
    ready: &AtomicBool,
) -> Option<F::Output> {
    tokio::pin!(served);
    let Some(timeout) = timeout else {
        return Some(served.await);
    };
    tokio::select! {
        output = &mut served => return Some(output),
        () = tokio::time::sleep(timeout) => {}
    }
    if ready.load(Ordering::Acquire) {
        Some(served.await)
    } else {
        None
    }
}

/// One open connection in the count, until dropped.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(open: Arc<AtomicUsize>) -> Counted {
        open.fetch_add(1, Ordering::AcqRel);
        Counted(open)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The pgwire handlers, shared by every connection but for the startup handler, which
/// notes when its connection is ready for queries.
#[derive(Clone)]
struct Handlers {
    handler: Arc<Handler>,
    startup: Arc<ConnectionStartup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl Handlers {
    fn new(engine: QueryEngine, options: &PgOptions, open: Arc<AtomicUsize>) -> Handlers {
        let backend = Arc::new(Backend::new(engine));
        let connections = Arc::new(ConnectionManager::new());
        Handlers {
            handler: Arc::new(Handler {
                parser: Arc::new(Parser {
                    backend: backend.clone(),
                }),
                backend,
            }),
            startup: Arc::new(ConnectionStartup {
                shared: Arc::new(Startup::new(options, open, connections.clone())),
                ready: Arc::new(AtomicBool::new(false)),
            }),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
        }
    }

    /// The handlers of one connection, which sets `ready` once through its startup.
    fn for_connection(&self, ready: Arc<AtomicBool>) -> Handlers {
        Handlers {
            startup: Arc::new(ConnectionStartup {
                shared: self.startup.shared.clone(),
                ready,
            }),
            ..self.clone()
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        self.handler.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.handler.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}

/// Both query protocols.
struct Handler {
    backend: Arc<Backend>,
    parser: Arc<Parser>,
}

impl Handler {
    /// Resolves when the client's cancel request for the current query arrives; never
    /// without one.
    async fn cancel_signal<C: ClientInfo>(
        &self,
        client: &C,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let Some(handle) = client.session_extensions().get::<Arc<ConnectionHandle>>() else {
            return Box::pin(std::future::pending());
        };
        let receiver = handle.start_query().await;
        Box::pin(async move {
            if receiver.await.is_err() {
                // Replaced by a later query's: this one was never canceled.
                std::future::pending::<()>().await;
            }
        })
    }
}

/// The session's `SET` values.
fn session<C: ClientInfo>(client: &C) -> Arc<compat::Session> {
    client
        .session_extensions()
        .get_or_insert_with(compat::Session::default)
}

fn canceled() -> PgWireError {
    error::user_error("57014", "canceling statement due to user request")
}
