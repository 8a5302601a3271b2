//! The PostgreSQL wire protocol on `[queryd] pg_bind` (docs/api.md), over pgwire: psql,
//! drivers (tokio-postgres, JDBC, psycopg) and BI tools query the same engine as
//! `POST /v1/sql`, with the same read-only rule, limits and errors.
//!
//! - startup.rs: trust, or the shared password (`[gateway] api_key`) as a cleartext
//!   password; the parameters clients read (`server_version`, `DateStyle`, ...).
//! - simple.rs / extended.rs: the two query protocols; backend.rs what they share.
//! - compat.rs, local.rs: `SET`, `SHOW`, `BEGIN`, `DISCARD`, ... recognised and answered
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
mod local;
mod names;
mod numeric;
mod params;
mod rewrite;
mod simple;
mod split;
mod startup;
mod types;

use std::sync::Arc;

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
use startup::Startup;

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

/// Serves the PostgreSQL protocol on `listener` until `shutdown` fires. With a
/// `password`, every client must send it as its (cleartext) password; without, any
/// user is let in (trust). At shutdown the listener closes and open connections are
/// dropped, which stops their queries.
pub async fn serve(
    engine: QueryEngine,
    listener: TcpListener,
    shutdown: Shutdown,
    password: Option<String>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(role = "queryd-pg", %addr, "listening");
    let handlers = Arc::new(Handlers::new(engine, password));
    let mut connections = JoinSet::new();
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let handlers = handlers.clone();
                    let span = tracing::info_span!("pg_connection", %peer);
                    connections.spawn(
                        async move {
                            if let Err(e) =
                                pgwire::tokio::process_socket(socket, None, handlers).await
                            {
                                tracing::debug!(error = %e, "PostgreSQL connection ended");
                            }
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

/// The pgwire handlers of every connection.
struct Handlers {
    handler: Arc<Handler>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl Handlers {
    fn new(engine: QueryEngine, password: Option<String>) -> Handlers {
        let backend = Arc::new(Backend::new(engine));
        let connections = Arc::new(ConnectionManager::new());
        Handlers {
            handler: Arc::new(Handler {
                parser: Arc::new(Parser {
                    backend: backend.clone(),
                }),
                backend,
            }),
            startup: Arc::new(Startup::new(password, connections.clone())),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
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
