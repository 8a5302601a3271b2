//! The extended query protocol: Parse (plan once, infer parameter types), Describe
//! (parameter types and result columns without running anything), Bind (text or binary
//! parameters), Execute (with a row limit: the portal keeps its running query and the
//! next Execute continues it), Close and Sync.
//!
//! Execute streams straight from the query to the socket: pgwire's default collects a
//! whole fetch in memory, which for `max_rows = 0` (what drivers send) is the whole
//! result.

use std::fmt::Debug;
use std::ops::DerefMut;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::{ExtendedQueryHandler, send_execution_response};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{
    ClientInfo, ClientPortalStore, DEFAULT_NAME, METADATA_USER, PgWireConnectionState, Type,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::{Execute, PortalSuspended};
use pgwire::messages::response::EmptyQueryResponse;

use super::backend::{Backend, Prepared};
use super::compat::Local;
use super::error::user_error;
use super::statements::split;
use super::{Handler, session};

/// Parses a statement for the extended protocol: exactly one statement, prepared and
/// planned once to learn its parameters and columns.
pub struct Parser {
    pub backend: Arc<Backend>,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        tracing::debug!(sql, "parse");
        let pieces = split(sql);
        let piece = match pieces.as_slice() {
            [] => return Ok(None),
            [one] => one,
            _ => {
                return Err(user_error(
                    "42601",
                    "cannot insert multiple commands into a prepared statement",
                ));
            }
        };
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_default();
        let (prepared, _) = self
            .backend
            .prepare(piece.sql, piece.offset, &user, &session(client), types)
            .await?;
        Ok(Some(prepared))
    }

    fn get_parameter_types(&self, statement: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(match statement {
            Prepared::Query(query) => query.parameters.clone(),
            Prepared::Local(_) => Vec::new(),
        })
    }

    fn get_result_schema(
        &self,
        statement: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(self
            .backend
            .describe(statement, format.unwrap_or(&Format::UnifiedText)))
    }
}

#[async_trait]
impl ExtendedQueryHandler for Handler {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Prepared>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let parameters = self.parser.get_parameter_types(&target.statement)?;
        let fields = self.parser.get_result_schema(&target.statement, None)?;
        Ok(DescribeStatementResponse::new(parameters, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Prepared>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let fields = self.parser.get_result_schema(
            &portal.statement.statement,
            Some(&portal.result_column_format),
        )?;
        Ok(DescribePortalResponse::new(fields))
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) => portal,
            Some(Entry::Empty) => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
                client.set_state(PgWireConnectionState::ReadyForQuery);
                return Ok(());
            }
            None => return Err(PgWireError::PortalNotFound(name.to_owned())),
        };
        let max_rows = usize::try_from(message.max_rows).unwrap_or(0);
        let mut cancel = self.cancel_signal(client).await;
        let outcome = tokio::select! {
            outcome = self.execute(client, &portal, max_rows) => outcome,
            () = &mut cancel => Err(super::canceled()),
        };
        if outcome.is_err() {
            // A failed portal does not continue.
            *portal.state().lock().await = PortalExecutionState::Finished;
        }
        outcome?;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match &portal.statement.statement {
            Prepared::Query(query) => {
                self.backend
                    .run(
                        query,
                        None,
                        &portal.parameters,
                        &portal.parameter_format,
                        &portal.result_column_format,
                    )
                    .await
            }
            Prepared::Local(local) => {
                if let Local::Deallocate(Some(name)) = local {
                    client.portal_store().rm_statement(name);
                }
                let session = session(client);
                self.backend.local(
                    local,
                    &session,
                    client.transaction_status(),
                    &portal.result_column_format,
                )
            }
        }
    }
}

impl Handler {
    /// Starts the portal on its first Execute, then sends up to `max_rows` rows (all for
    /// 0) and `PortalSuspended` or `CommandComplete`.
    async fn execute<C>(
        &self,
        client: &mut C,
        portal: &Arc<Portal<Prepared>>,
        max_rows: usize,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = portal.state();
        let mut state = state.lock().await;
        if matches!(*state, PortalExecutionState::Initial) {
            match self.do_query(client, portal, max_rows).await? {
                Response::Query(results) => *state = PortalExecutionState::Suspended(results),
                Response::Execution(tag) => {
                    *state = PortalExecutionState::Finished;
                    return send_execution_response(client, tag).await;
                }
                Response::TransactionStart(tag) => {
                    *state = PortalExecutionState::Finished;
                    let status = client.transaction_status().to_in_transaction_state();
                    client.set_transaction_status(status);
                    return send_execution_response(client, tag).await;
                }
                Response::TransactionEnd(tag) => {
                    *state = PortalExecutionState::Finished;
                    client.set_transaction_status(client.transaction_status().to_idle_state());
                    return send_execution_response(client, tag).await;
                }
                Response::EmptyQuery => {
                    *state = PortalExecutionState::Finished;
                    client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            EmptyQueryResponse::new(),
                        ))
                        .await?;
                    return Ok(());
                }
                Response::Error(info) => return Err(PgWireError::UserError(info)),
                Response::CopyIn(_) | Response::CopyOut(_) | Response::CopyBoth(_) => {
                    return Err(user_error("0A000", "COPY is not supported"));
                }
            }
        }
        let PortalExecutionState::Suspended(results) = state.deref_mut() else {
            // Already finished: no more rows.
            let tag = Tag::new("SELECT").with_rows(0);
            client
                .send(PgWireBackendMessage::CommandComplete(tag.into()))
                .await?;
            return Ok(());
        };
        let sent = send_rows(client, results, max_rows).await?;
        if sent.suspended {
            client
                .send(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
                .await?;
        } else {
            let tag = Tag::new(results.command_tag()).with_rows(sent.rows);
            *state = PortalExecutionState::Finished;
            client
                .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                .await?;
        }
        Ok(())
    }
}

struct Sent {
    rows: usize,
    suspended: bool,
}

/// Feeds rows to the client as they come, up to `max_rows` (0: all).
async fn send_rows<C>(
    client: &mut C,
    results: &mut QueryResponse,
    max_rows: usize,
) -> PgWireResult<Sent>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let mut rows = 0;
    while max_rows == 0 || rows < max_rows {
        match results.data_rows().next().await {
            Some(row) => {
                client.feed(PgWireBackendMessage::DataRow(row?)).await?;
                rows += 1;
            }
            None => {
                return Ok(Sent {
                    rows,
                    suspended: false,
                });
            }
        }
    }
    Ok(Sent {
        rows,
        suspended: true,
    })
}
