//! What the simple and extended protocols share: turning one statement's text into a
//! [`Prepared`] statement (local, or parsed, rewritten, checked and planned by the
//! engine) and running it into a pgwire [`Response`].

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::sql::parser::Statement as DFStatement;
use futures::stream;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response};
use pgwire::error::{PgWireError, PgWireResult};

use super::compat::{self, Local, Session};
use super::encode;
use super::error::{pg_error, pg_error_in, user_error};
use super::names::{self, column_names};
use super::params;
use super::rewrite;
use super::types::{fields, pg_type};
use crate::engine::{Query, QueryEngine};
use crate::error::QueryError;

/// A statement ready to bind and run.
#[derive(Clone, Debug)]
pub enum Prepared {
    Local(Local),
    Query(Arc<PreparedQuery>),
}

/// An engine statement: the rewritten, checked AST (planned again for every run, so
/// each run sees the latest data and gets its own deadline), its parameters and the
/// columns it was described with.
#[derive(Debug)]
pub struct PreparedQuery {
    statement: DFStatement,
    /// The types `$1..$n` are described and decoded as.
    pub parameters: Vec<Type>,
    /// The plan's Arrow type for each parameter, when it fixes one.
    targets: Vec<Option<DataType>>,
    pub schema: SchemaRef,
    /// Known to have no rows whatever the data (a `pg_catalog` question about
    /// indexes, policies, ...): answered with no rows, never run.
    always_empty: bool,
}

/// The engine and the server's settings, shared by every connection.
pub struct Backend {
    pub engine: QueryEngine,
    pub settings: Vec<compat::Setting>,
}

impl Backend {
    pub fn new(engine: QueryEngine) -> Backend {
        let settings = compat::defaults(engine.options());
        Backend { engine, settings }
    }

    /// Prepares one statement. `offset` is where it starts in the text the client sent
    /// (for error positions); `user` and `session` are the client's; `declared` are the
    /// parameter types the client gave. A query without parameters comes back planned,
    /// ready to run once.
    pub async fn prepare(
        &self,
        sql: &str,
        offset: usize,
        user: &str,
        session: &Session,
        declared: &[Option<Type>],
    ) -> PgWireResult<(Prepared, Option<Query>)> {
        match compat::classify(sql) {
            // `SHOW TABLES`, `SHOW COLUMNS FROM t`, DataFusion's settings: the engine's.
            Some(Local::Show(name))
                if !name.eq_ignore_ascii_case("all")
                    && session.show(&name, &self.settings).is_none() => {}
            Some(local) => return Ok((Prepared::Local(local), None)),
            None => {}
        }
        let mut names = None;
        let mut statement = self
            .engine
            .parse_with(sql, |s| {
                names = column_names(s);
                rewrite::rewrite(s, user);
            })
            .map_err(|e| pg_error_in(&e, sql, offset))?;
        let query = match self.plan(&mut statement).await {
            Ok(query) => query,
            Err(e) => return Ok((Prepared::Query(Arc::new(no_rows(statement, &e)?)), None)),
        };
        let (parameters, targets) = parameters(&query, &statement, declared)?;
        let (schema, query) = if parameters.is_empty() {
            (query.schema(), Some(query))
        } else {
            // Described as it will run: with its parameters bound (to typed nulls).
            let unbound = query.schema();
            let nulls = parameters
                .iter()
                .zip(&targets)
                .map(|(ty, target)| params::decode(None, ty, FieldFormat::Text, target.as_ref()))
                .collect::<PgWireResult<Vec<ScalarValue>>>()?;
            let schema = query
                .with_parameters(ParamValues::from(nulls))
                .map_or(unbound, |q| q.schema());
            (schema, None)
        };
        let prepared = PreparedQuery {
            // Known to be empty: described from its plan, never run (DataFusion may plan
            // but not execute psql's questions about policies, publications, ...).
            always_empty: rewrite::statement_always_empty(&statement),
            statement,
            parameters,
            targets,
            schema: renamed(schema, names),
        };
        Ok((Prepared::Query(Arc::new(prepared)), query))
    }

    /// Plans `statement`; one DataFusion refuses for repeating a column name
    /// (`SELECT n.oid, n.*`) is planned again with unique aliases.
    async fn plan(&self, statement: &mut DFStatement) -> Result<Query, QueryError> {
        match self.engine.plan_statement(statement.clone()).await {
            Err(QueryError::Invalid(m)) if m.contains("require unique expression names") => {
                names::alias_duplicates(statement);
                self.engine.plan_statement(statement.clone()).await
            }
            planned => planned,
        }
    }

    /// Runs a prepared query: `values` are the Bind message's parameters in
    /// `value_format`, `planned` the plan [`Backend::prepare`] returned, if still unused.
    pub async fn run(
        &self,
        prepared: &PreparedQuery,
        planned: Option<Query>,
        values: &[Option<bytes::Bytes>],
        value_format: &Format,
        result_format: &Format,
    ) -> PgWireResult<Response> {
        let fields = Arc::new(fields(&prepared.schema, result_format));
        if values.len() != prepared.parameters.len() {
            return Err(user_error(
                "08P01",
                format!(
                    "bind message supplies {} parameters, but the prepared statement requires {}",
                    values.len(),
                    prepared.parameters.len()
                ),
            ));
        }
        if prepared.always_empty {
            return Ok(Response::Query(QueryResponse::new(fields, stream::empty())));
        }
        let query = match planned {
            Some(query) => query,
            None => self
                .engine
                .plan_statement(prepared.statement.clone())
                .await
                .map_err(|e| pg_error(&e))?,
        };
        let query = if values.is_empty() {
            query
        } else {
            let scalars = values
                .iter()
                .enumerate()
                .map(|(i, value)| {
                    params::decode(
                        value.as_deref(),
                        &prepared.parameters[i],
                        super::types::field_format(value_format, i),
                        prepared.targets[i].as_ref(),
                    )
                })
                .collect::<PgWireResult<Vec<ScalarValue>>>()?;
            query
                .with_parameters(ParamValues::from(scalars))
                .map_err(|e| pg_error(&e))?
        };
        let described: Vec<Type> = fields.iter().map(|f| f.datatype().clone()).collect();
        let actual: Vec<Type> = query
            .schema()
            .fields()
            .iter()
            .map(|f| pg_type(f.data_type()))
            .collect();
        if described != actual {
            // The dataset changed shape since the statement was prepared.
            return Err(user_error(
                "0A000",
                "cached plan must not change result type",
            ));
        }
        let results = query.execute().await.map_err(|e| pg_error(&e))?;
        let formats = fields.iter().map(FieldInfo::format).collect();
        Ok(Response::Query(QueryResponse::new(
            fields,
            encode::row_stream(results, formats),
        )))
    }

    /// The columns a prepared statement returns, in `format`.
    pub fn describe(&self, prepared: &Prepared, format: &Format) -> Vec<FieldInfo> {
        match prepared {
            Prepared::Query(q) => fields(&q.schema, format),
            Prepared::Local(local) => self.describe_local(local, format),
        }
    }
}

/// A statement DataFusion cannot plan but that has no rows whatever the data (psql's
/// questions about policies, publications, ...): answered with no rows of text columns.
fn no_rows(statement: DFStatement, error: &QueryError) -> PgWireResult<PreparedQuery> {
    let Some(columns) = rewrite::empty_result_columns(&statement) else {
        return Err(pg_error(error));
    };
    tracing::debug!(%error, "answering an always-empty catalog query with no rows");
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(c, DataType::Utf8, true))
        .collect();
    Ok(PreparedQuery {
        statement,
        parameters: Vec::new(),
        targets: Vec::new(),
        schema: Arc::new(Schema::new(fields)),
        always_empty: true,
    })
}

/// The types `$1..$n` are described and decoded as — the client's declared type, else
/// the plan's, else a cast's (`$1::int8`), else text — and the plan's Arrow types.
fn parameters(
    query: &Query,
    statement: &DFStatement,
    declared: &[Option<Type>],
) -> PgWireResult<(Vec<Type>, Vec<Option<DataType>>)> {
    let targets = query.parameter_types().map_err(|e| pg_error(&e))?;
    let casts = names::parameter_casts(statement);
    let count = targets.len().max(declared.len()).max(casts.len());
    let at = |list: &[Option<DataType>], i: usize| list.get(i).cloned().flatten();
    let types = (0..count)
        .map(|i| {
            let declared = declared
                .get(i)
                .cloned()
                .flatten()
                .filter(|t| *t != Type::UNKNOWN);
            let inferred = at(&targets, i).map(|t| pg_type(&t));
            let cast = casts.get(i).cloned().flatten();
            declared.or(inferred).or(cast).unwrap_or(Type::TEXT)
        })
        .collect();
    let targets = (0..count).map(|i| at(&targets, i)).collect();
    Ok((types, targets))
}

/// `schema` with PostgreSQL's column names, when there is one per column.
fn renamed(schema: SchemaRef, names: Option<Vec<String>>) -> SchemaRef {
    let names = match names {
        Some(names) if names.len() == schema.fields().len() => names,
        _ => schema
            .fields()
            .iter()
            .map(|f| names::display_name(f.name()).to_string())
            .collect(),
    };
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(field, name)| field.as_ref().clone().with_name(name))
        .collect();
    Arc::new(Schema::new(fields))
}

/// An error that means the connection is gone, as opposed to one to report.
pub fn is_connection_error(e: &PgWireError) -> bool {
    matches!(e, PgWireError::IoError(_))
}
