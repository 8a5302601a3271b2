//! The simple query protocol: a query string of one or more statements, run one after
//! the other — each planned, executed and streamed before the next is read — stopping at
//! the first error, then one `ReadyForQuery`.

use std::fmt::Debug;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::portal::Format;
use pgwire::api::query::{
    SimpleQueryHandler, send_execution_response, send_query_response, send_ready_for_query,
};
use pgwire::api::results::Response;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, METADATA_USER, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::{EmptyQueryResponse, TransactionStatus};
use pgwire::messages::simplequery::Query;

use super::Handler;
use super::backend::{Prepared, is_connection_error};
use super::compat::Local;
use super::statements::{Piece, split};

#[async_trait]
impl SimpleQueryHandler for Handler {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        tracing::debug!(sql = %query.query, "simple query");
        let pieces = split(&query.query);
        let mut status = client.transaction_status();
        if pieces.is_empty() {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        }
        let mut cancel = self.cancel_signal(client).await;
        for piece in pieces {
            let outcome = tokio::select! {
                outcome = self.statement(client, piece, &mut status) => outcome,
                () = &mut cancel => Err(super::canceled()),
            };
            match outcome {
                Ok(()) => {}
                Err(e) if is_connection_error(&e) => return Err(e),
                Err(e) => {
                    let info = ErrorInfo::from(e);
                    client
                        .feed(PgWireBackendMessage::ErrorResponse(info.into()))
                        .await?;
                    status = status.to_error_state();
                    break;
                }
            }
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        send_ready_for_query(client, status).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Only reached through pgwire's default `on_query`, which this handler replaces;
        // answers statement by statement, stopping at the first error.
        let mut responses = Vec::new();
        let status = client.transaction_status();
        for piece in split(query) {
            match self.response(client, piece, status).await {
                Ok(response) => responses.push(response),
                Err(e) => {
                    responses.push(Response::Error(Box::new(ErrorInfo::from(e))));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

impl Handler {
    /// Runs one statement of a simple query and sends its whole response.
    async fn statement<C>(
        &self,
        client: &mut C,
        piece: Piece<'_>,
        status: &mut TransactionStatus,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self.response(client, piece, *status).await? {
            Response::Query(results) => send_query_response(client, results, true).await,
            Response::Execution(tag) => send_execution_response(client, tag).await,
            Response::TransactionStart(tag) => {
                *status = status.to_in_transaction_state();
                send_execution_response(client, tag).await
            }
            Response::TransactionEnd(tag) => {
                *status = status.to_idle_state();
                send_execution_response(client, tag).await
            }
            Response::EmptyQuery => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
                Ok(())
            }
            Response::Error(info) => Err(PgWireError::UserError(info)),
            Response::CopyIn(_) | Response::CopyOut(_) | Response::CopyBoth(_) => {
                Err(super::error::user_error("0A000", "COPY is not supported"))
            }
        }
    }

    async fn response<C>(
        &self,
        client: &mut C,
        piece: Piece<'_>,
        status: TransactionStatus,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
    {
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_default();
        let session = super::session(client);
        let (prepared, planned) = self
            .backend
            .prepare(piece.sql, piece.offset, &user, &session, &[])
            .await?;
        match prepared {
            Prepared::Local(local) => {
                if let Local::Deallocate(Some(name)) = &local {
                    client.portal_store().rm_statement(name);
                }
                self.backend
                    .local(&local, &session, status, &Format::UnifiedText)
            }
            Prepared::Query(query) => {
                if !query.parameters.is_empty() {
                    // Values for `$1`... come only with the extended protocol.
                    return Err(super::error::user_error(
                        "42P02",
                        "there is no parameter $1",
                    ));
                }
                self.backend
                    .run(
                        &query,
                        planned,
                        &[],
                        &Format::UnifiedText,
                        &Format::UnifiedText,
                    )
                    .await
            }
        }
    }
}
