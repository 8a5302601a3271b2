//! `vector_search(index, query, k [, ef] [, filter])`: a vector index's nearest items as a
//! table, joinable with datasets.
//!
//! ```sql
//! SELECT p.name, s.distance
//! FROM vector_search('docs', '[0.1, 0.2, 0.3]', 10) s JOIN products p ON p.id = s.id
//! ```
//!
//! The columns are `id` (text), `distance` (double, as the index's search reports it) and
//! `metadata` (the item's metadata as JSON text, null for an item without). `query` is a
//! vector in any form the vector functions take (`'[...]'`, `ARRAY[...]`, a cast, a bound
//! parameter); `ef` an integer; `filter` a JSON object as the search API takes it (text).
//! The search runs where the index lives: in this process ([`vectord::Vectors`]) or in a
//! vectord over HTTP ([`VectordClient`]).
//!
//! Arguments are read when the query is planned, except bound parameters (`$1`), which
//! [`bind_parameters`] reads when the query is bound; the search runs when the table is
//! scanned.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use common::client::{CallError, ServiceClient};
use datafusion::arrow::array::{Float64Array, RecordBatch, RecordBatchOptions, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableFunctionArgs;
use datafusion::catalog::{Session, TableFunctionImpl};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, ParamValues, ScalarValue};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType, provider_as_source, source_as_provider};
use datafusion::logical_expr::{Expr, LogicalPlan, TableScan};
use datafusion::physical_plan::ExecutionPlan;
use serde::Deserialize;

use crate::error::QueryError;

/// Where `vector_search` finds indexes.
#[async_trait]
pub trait VectorIndexes: Send + Sync {
    /// The `k` nearest items of `index` matching the filter, nearest first.
    async fn search(&self, index: &str, search: &Search) -> Result<Vec<Found>, QueryError>;
}

/// One search, as the arguments give it.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    pub vector: Vec<f32>,
    pub k: usize,
    pub ef: Option<usize>,
    pub filter: Option<serde_json::Map<String, serde_json::Value>>,
}

/// One item found.
#[derive(Clone, Debug, Deserialize)]
pub struct Found {
    pub id: String,
    pub distance: f64,
    pub metadata: Option<serde_json::Value>,
}

fn refused(message: String) -> QueryError {
    QueryError::Invalid(format!("vector_search: {message}"))
}

#[async_trait]
impl VectorIndexes for vectord::Vectors {
    async fn search(&self, index: &str, search: &Search) -> Result<Vec<Found>, QueryError> {
        let request = vectord::SearchRequest {
            vector: vectord::RawVector::new(search.vector.clone()),
            k: search.k,
            ef: search.ef,
            filter: search.filter.clone(),
        };
        let hits = vectord::Vectors::search(self, index, request)
            .await
            .map_err(|e| match e.status().as_u16() {
                400..=499 => refused(e.to_string()),
                _ => QueryError::Store(format!("vector_search: {e}")),
            })?;
        Ok(hits
            .into_iter()
            .map(|hit| Found {
                id: hit.id.to_string(),
                // The f32's shortest decimal, as the search API's JSON (and a vectord
                // over HTTP) gives it, not its binary expansion (0.0037593841552734375).
                distance: hit.distance.to_string().parse().unwrap_or(f64::NAN),
                metadata: hit
                    .metadata
                    .map(|m| serde_json::Value::Object((*m).clone())),
            })
            .collect())
    }
}

/// A vectord over HTTP (split deployments).
#[derive(Clone, Debug)]
pub struct VectordClient {
    core: ServiceClient,
}

#[derive(Deserialize)]
struct Results {
    results: Vec<Found>,
}

impl VectordClient {
    /// `base` is vectord's URL (`[queryd] vectord_url`); `key` the deployment's API key.
    pub fn new(base: &str, key: Option<&str>) -> VectordClient {
        VectordClient {
            core: ServiceClient::new("vectord", base, Some(std::time::Duration::from_secs(60)))
                .with_api_key(key),
        }
    }
}

#[async_trait]
impl VectorIndexes for VectordClient {
    async fn search(&self, index: &str, search: &Search) -> Result<Vec<Found>, QueryError> {
        // A valid name needs no escaping in a path (and an invalid one must not reach it).
        let name = vectord::IndexName::from_str(index).map_err(|e| refused(e.to_string()))?;
        let mut body = serde_json::json!({"vector": search.vector, "k": search.k});
        if let Some(ef) = search.ef {
            body["ef"] = ef.into();
        }
        if let Some(filter) = &search.filter {
            body["filter"] = serde_json::Value::Object(filter.clone());
        }
        let request = self
            .core
            .request(
                reqwest::Method::POST,
                &format!("/v1/vectors/{}/search", name.as_str()),
            )
            .json(&body);
        let response = self.core.send(request).await.map_err(|e| match e {
            CallError::Answered {
                status,
                detail: Some(detail),
                ..
            } if status.is_client_error() => refused(detail.message),
            other => unreachable_vectord(other),
        })?;
        let results: Results = self
            .core
            .json(response)
            .await
            .map_err(unreachable_vectord)?;
        Ok(results.results)
    }
}

/// A vectord that did not answer, or not usably.
fn unreachable_vectord(e: CallError) -> QueryError {
    let message = match e {
        CallError::Unreachable { message, .. }
        | CallError::Refused { message, .. }
        | CallError::Answered { message, .. } => message,
    };
    QueryError::Store(format!("vector_search: {message}"))
}

/// The table function, over `indexes` (`None`: this deployment has no vectord).
pub struct VectorSearchFunction {
    pub indexes: Option<Arc<dyn VectorIndexes>>,
}

impl fmt::Debug for VectorSearchFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("vector_search")
    }
}

/// The function's arguments: read, or (bound parameters) still expressions.
#[derive(Clone, Debug)]
enum Arg {
    Value(ScalarValue),
    Later(Expr),
}

/// What a `vector_search(...)` in a query scans.
pub struct VectorSearchTable {
    indexes: Option<Arc<dyn VectorIndexes>>,
    args: Vec<Arg>,
    schema: SchemaRef,
}

impl fmt::Debug for VectorSearchTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VectorSearchTable")
            .field("args", &self.args)
            .finish()
    }
}

const USAGE: &str = "vector_search(index, query, k [, ef] [, filter])";

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("distance", DataType::Float64, false),
        Field::new("metadata", DataType::Utf8, true),
    ]))
}

/// The value of a constant expression.
fn evaluate(session: &dyn Session, expr: &Expr) -> datafusion::common::Result<ScalarValue> {
    let physical = session.create_physical_expr(expr.clone(), &DFSchema::empty())?;
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    let array = physical.evaluate(&one_row)?.into_array(1)?;
    ScalarValue::try_from_array(&array, 0)
}

fn plan_error(message: String) -> DataFusionError {
    DataFusionError::Plan(format!("vector_search: {message}"))
}

impl TableFunctionImpl for VectorSearchFunction {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::common::Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if !(3..=5).contains(&exprs.len()) {
            return Err(plan_error(format!(
                "takes 3 to 5 arguments, {USAGE}, not {}",
                exprs.len()
            )));
        }
        let args = exprs
            .iter()
            .map(|expr| match expr.any_column_refs() {
                true => Err(plan_error(format!(
                    "its arguments are constants or parameters, not columns ({expr})"
                ))),
                false if has_placeholders(expr) => Ok(Arg::Later(expr.clone())),
                false => evaluate(args.session(), expr).map(Arg::Value),
            })
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        let table = VectorSearchTable {
            indexes: self.indexes.clone(),
            args,
            schema: schema(),
        };
        // Read what is known now, so mistakes show at planning (and in a Parse).
        if table.args.iter().all(|a| matches!(a, Arg::Value(_))) {
            table.search().map_err(plan_error)?;
        }
        Ok(Arc::new(table))
    }
}

fn has_placeholders(expr: &Expr) -> bool {
    expr.exists(|e| Ok(matches!(e, Expr::Placeholder(_))))
        .unwrap_or(true)
}

impl VectorSearchTable {
    /// The index's name and the search, from arguments that are all values.
    fn search(&self) -> Result<(String, Search), String> {
        let values: Vec<&ScalarValue> = self
            .args
            .iter()
            .map(|a| match a {
                Arg::Value(v) => Ok(v),
                Arg::Later(e) => Err(format!("the parameter in {e} has no value")),
            })
            .collect::<Result<_, _>>()?;
        let text = |what: &str, v: &ScalarValue| match v {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => Ok(s.clone()),
            other => Err(format!("{what} is text, not {}", describe(other))),
        };
        // An integer, or its digits as text (untyped parameters arrive as text).
        let as_count = |v: &ScalarValue| -> Option<usize> {
            match v {
                ScalarValue::Utf8(Some(digits)) => digits.parse().ok(),
                v if v.data_type().is_integer() => match v.cast_to(&DataType::Int64).ok()? {
                    ScalarValue::Int64(Some(n)) => usize::try_from(n).ok(),
                    _ => None,
                },
                _ => None,
            }
        };
        let count = |what: &str, v: &ScalarValue| -> Result<usize, String> {
            as_count(v).ok_or_else(|| format!("{what} is a positive integer, not {}", describe(v)))
        };
        let index = text("the index (first argument)", values[0])?;
        let vector = crate::vector::vector_of_scalar(values[1])
            .map_err(|e| format!("the query (second argument): {}", e.message()))?
            .ok_or("the query (second argument) is null")?;
        let k = count("k (third argument)", values[2])?;
        let (ef, filter) = match &values[3..] {
            [] => (None, None),
            [one] if as_count(one).is_some() => (Some(count("ef", one)?), None),
            [one] => (None, Some(text("the filter (fourth argument)", one)?)),
            [ef, filter] => (
                Some(count("ef (fourth argument)", ef)?),
                Some(text("the filter (fifth argument)", filter)?),
            ),
            _ => unreachable!("3 to 5 arguments"),
        };
        let filter = match filter {
            None => None,
            Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(map)) => Some(map),
                Ok(other) => return Err(format!("the filter is a JSON object, not {other}")),
                Err(e) => return Err(format!("the filter is not JSON: {e}")),
            },
        };
        Ok((
            index,
            Search {
                vector,
                k,
                ef,
                filter,
            },
        ))
    }

    /// This table with its parameters' values read.
    fn bind(
        &self,
        values: &ParamValues,
        session: &dyn Session,
    ) -> datafusion::common::Result<Self> {
        let args = self
            .args
            .iter()
            .map(|arg| match arg {
                Arg::Value(v) => Ok(Arg::Value(v.clone())),
                Arg::Later(expr) => {
                    let bound = expr
                        .clone()
                        .transform(|e| match e {
                            Expr::Placeholder(p) => {
                                let value = values.get_placeholders_with_values(&p.id)?.value;
                                Ok(Transformed::yes(Expr::Literal(value, None)))
                            }
                            other => Ok(Transformed::no(other)),
                        })?
                        .data;
                    evaluate(session, &bound).map(Arg::Value)
                }
            })
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        Ok(VectorSearchTable {
            indexes: self.indexes.clone(),
            args,
            schema: self.schema.clone(),
        })
    }
}

fn describe(v: &ScalarValue) -> String {
    match v.is_null() {
        true => "null".into(),
        false => format!("{v} ({})", v.data_type()),
    }
}

/// Reads the bound parameters of every `vector_search` in `plan`.
pub fn bind_parameters(
    plan: LogicalPlan,
    values: &ParamValues,
    session: &dyn Session,
) -> datafusion::common::Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = &node else {
            return Ok(Transformed::no(node));
        };
        let Some(table) = source_as_provider(&scan.source).ok().and_then(|p| {
            p.downcast_ref::<VectorSearchTable>()
                .map(|t| t.bind(values, session))
        }) else {
            return Ok(Transformed::no(node));
        };
        let mut scan: TableScan = scan.clone();
        scan.source = provider_as_source(Arc::new(table?));
        Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
    })
    .map(|t| t.data)
}

/// The parameters (`$n`) in the `vector_search` arguments of `plan`, with the types they
/// take there (`None` for the query vector).
pub fn parameter_types(plan: &LogicalPlan) -> Vec<(String, Option<DataType>)> {
    let mut found = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
            && let Some(table) = provider.downcast_ref::<VectorSearchTable>()
        {
            for (position, arg) in table.args.iter().enumerate() {
                let Arg::Later(expr) = arg else { continue };
                let _ = expr.apply(|e| {
                    if let Expr::Placeholder(p) = e {
                        // The query's type is the PostgreSQL front end's (a vector).
                        let data_type = match position {
                            1 => None,
                            2 => Some(DataType::Int64),
                            // `ef` or the filter: the value's type says which.
                            3 => None,
                            _ => Some(DataType::Utf8),
                        };
                        found.push((p.id.clone(), data_type));
                    }
                    Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
                });
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    found
}

#[async_trait]
impl TableProvider for VectorSearchTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let (index, search) = self
            .search()
            .map_err(|e| DataFusionError::from(refused(e)))?;
        let indexes = self.indexes.as_ref().ok_or_else(|| {
            DataFusionError::from(refused("this deployment has no vector indexes".into()))
        })?;
        let found = indexes.search(&index, &search).await?;
        let ids = StringArray::from_iter_values(found.iter().map(|f| f.id.as_str()));
        let distances = Float64Array::from_iter_values(found.iter().map(|f| f.distance));
        let metadata = StringArray::from_iter(found.iter().map(|f| {
            f.metadata
                .as_ref()
                .filter(|m| !m.is_null())
                .map(|m| m.to_string())
        }));
        let batch = RecordBatch::try_new(
            self.schema.clone(),
            vec![Arc::new(ids), Arc::new(distances), Arc::new(metadata)],
        )?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}
